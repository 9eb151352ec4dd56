"""Progress of long attacks, counted in queries against the budget, with an ETA that expects early stops.

A batch of attacks finishes in bursts (most images run their whole budget and end in the same round), so a bar
counting finished attacks sits still for minutes and then jumps. Queries move every round: the bar counts the
search queries spent against the total the run is expected to spend (:class:`QueryForecast`: each attack's
whole budget, less what the early stops seen so far say the running and unstarted attacks will give back), and
the ETA is that remaining work at the rate since the first round (which pays one-off costs). The most the run can still spend, attacks finished and fooled
are shown beside it.

In a terminal or a notebook the bar is redrawn in place; in a log (stderr not a terminal) a redraw would be one
more carriage-return-separated copy of the bar, so a plain line is printed every tenth of the work or every minute
instead (:class:`LogBar`).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np


@dataclass
class StopRate:
    """How often attacks stop early, per doubling of their queries.

    Fooled images stop early and mostly soon (a few hundred queries of the random search's 8,704), the others run
    their whole budget: a running attack is ever less likely to stop the longer it has run. Counting time on a log
    scale makes that a constant rate: ``stops / doublings``, where every attack seen so far (finished or running)
    contributes ``log2(queries / first round)`` doublings and every early stop one event.
    """

    stops: int = 0
    doublings: float = 0.0

    def add(self, queries: np.ndarray, stopped: np.ndarray, first_round: int) -> None:
        """Attacks that have spent ``queries`` each; ``stopped`` marks those that ended before their budget."""
        q = np.maximum(np.asarray(queries, dtype=np.float64), first_round)
        self.stops += int(np.count_nonzero(stopped))
        self.doublings += float(np.log2(q / first_round).sum())

    def plus(self, other: StopRate) -> StopRate:
        return StopRate(self.stops + other.stops, self.doublings + other.doublings)

    @property
    def per_doubling(self) -> float:
        """Early stops per doubling of queries (0 until an attack has stopped: then every budget is spent)."""
        return self.stops / self.doublings if self.doublings > 0 else 0.0


def expected_queries(spent: np.ndarray | float, budget: float, per_doubling: float, first_round: float) -> np.ndarray:
    """Expected final queries of attacks still running after ``spent`` queries each, when they stop early at
    ``per_doubling`` stops per doubling of their queries (:class:`StopRate`) and at the latest at ``budget``.

    Such an attack is still running at ``t >= spent`` queries with probability ``(spent / t) ** c``
    (``c = per_doubling / ln 2``: a constant hazard on a log clock), so it spends ``spent`` plus
    ``∫ (spent / t) ** c dt`` from ``spent`` to ``budget``. With no stop seen (``c = 0``) that is the whole budget.
    """
    q = np.clip(np.asarray(spent, dtype=np.float64), max(first_round, 1.0), budget)
    c = per_doubling / math.log(2)
    ratio = budget / q
    if abs(1.0 - c) < 1e-9:
        more = q * np.log(ratio)
    else:
        more = q * (ratio ** (1.0 - c) - 1.0) / (1.0 - c)
    return q + more


class QueryForecast:
    """The total search queries a run is expected to spend, for its ETA: spent so far, plus the expected rest of
    the running attacks and of those not started yet (:func:`expected_queries` at the :class:`StopRate` seen so
    far: the finished attacks' and the running ones').

    Without it an ETA counts every attack's whole budget, as if no image stopped early from then on
    (benchmarks/eta.py measures both on a real campaign).
    """

    def __init__(self) -> None:
        self.finished = StopRate()  #: of the attacks finished in earlier batches
        self.first_round: int | None = None  #: queries of an attack's first round: the log clock's origin
        self._batch: tuple[np.ndarray, int] | None = None  # the batch in flight: queries per attack, budget

    def start(self, image_queries: np.ndarray) -> int:
        """The first round's size, read from the first progress of a run (the smallest count spent)."""
        if self.first_round is None:
            spent = np.asarray(image_queries)
            self.first_round = int(spent[spent > 0].min()) if (spent > 0).any() else 1
        return self.first_round

    def batch_done(self) -> None:
        """Fold the batch last shown to :meth:`expected_total` (its last progress: every attack finished) into
        the finished attacks' stop rate, for the forecast of the next batches."""
        if self._batch is not None:
            queries, budget = self._batch
            self.finished.add(queries, queries < budget, self.first_round or 1)
            self._batch = None

    def expected_total(self, image_queries: np.ndarray, running: np.ndarray, budget: int,
                       unstarted: Sequence[tuple[int, int]] = ()) -> float:
        """Expected total queries of the batch in flight (``image_queries`` spent per image, ``running`` still
        attacked, each at most ``budget``) and of the ``unstarted`` attacks, given as (count, budget) pairs;
        the earlier batches' queries are not included (the caller adds what they spent)."""
        first = self.start(image_queries)
        q = np.asarray(image_queries)
        self._batch = (q, budget)
        now = StopRate()
        now.add(q, ~running & (q < budget), first)
        rate = self.finished.plus(now).per_doubling
        done = float(q[~running].sum())
        live = float(expected_queries(q[running], budget, rate, first).sum()) if running.any() else 0.0
        later = sum(count * float(expected_queries(first, most, rate, first)) for count, most in unstarted)
        return done + live + later


def progress_bar(total: int | None, unit: str, desc: str, initial: int = 0, disable: bool = False,
                 unit_scale: bool = False, log: bool | None = None, leave: bool = True) -> Any:
    """A tqdm bar redrawn at most once a second (a redraw per search round floods logs); in a log (``log``;
    None: whenever :func:`interactive` says no person watches) a :class:`LogBar` of plain lines instead.

    ``smoothing=0`` makes the rate the average since the bar started. tqdm's moving average only takes a sample
    when the count moves, over the time since the last *redraw*; the callers redraw every second, so a burst of
    36 attacks after 5 minutes read as 36 attacks in one second (an ETA of minutes for a run of hours)."""
    if not disable and (not interactive() if log is None else log):
        return LogBar(total, unit, desc, initial=initial, unit_scale=unit_scale)
    from tqdm.auto import tqdm

    class Bar(tqdm):  # type: ignore[misc, valid-type]
        """tqdm with the rate (and so the ETA) :func:`show_queries` measures once set (``steady_rate``)."""

        steady_rate: float | None = None

        @property
        def format_dict(self) -> dict[str, Any]:
            d = super().format_dict
            if self.steady_rate:
                d["rate"] = self.steady_rate
            return d

    return Bar(total=total, initial=initial, unit=unit, desc=desc, disable=disable, smoothing=0,
               mininterval=1.0, miniters=0, unit_scale=unit_scale, leave=leave)


class LogBar:
    """A progress bar for logs: the parts of tqdm's interface onepixel uses, printing one plain line (no carriage
    return) each time another tenth of the total is done or a minute has passed since the last line, and at the
    end. The line is tqdm's own text (count, percentage, elapsed < ETA, rate), so a log reads like the terminal."""

    def __init__(self, total: int | None, unit: str, desc: str, initial: int = 0, file: TextIO | None = None,
                 step: float = 0.1, seconds: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 unit_scale: bool = False) -> None:
        self.total, self.unit, self.desc, self.unit_scale = total, unit, desc, unit_scale
        self.n = self.initial = initial
        self.postfix = ""
        self.file, self.step, self.seconds, self.clock = file, step, seconds, clock
        self.start_t = self.last_t = clock()
        self.last_fraction = -1.0  # of the total at the last line printed (-1: none yet)
        self.closed = False
        self.steady_rate: float | None = None  # set by show_queries: the rate after the first round

    def __enter__(self) -> LogBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def set_description_str(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if self._fraction() >= self.last_fraction + self.step or now - self.last_t >= self.seconds:
            self._line(now)

    def write(self, s: str, file: Any = None) -> None:
        """A line beside the bar, as tqdm's ``write`` (``file``: where it goes, e.g. the Ray driver's stderr)."""
        print(s, file=file or self._out(), flush=True)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self._fraction() > self.last_fraction or self.last_fraction < 0:
                self._line(self.clock())

    def __str__(self) -> str:
        from tqdm import tqdm

        elapsed = self.clock() - self.start_t
        rate = self.steady_rate or ((self.n - self.initial) / elapsed if elapsed > 0 and self.n > self.initial else None)
        return tqdm.format_meter(self.n, self.total, elapsed, prefix=self.desc, unit=self.unit, rate=rate,
                                 postfix=self.postfix or None, ncols=0, unit_scale=self.unit_scale)

    def _fraction(self) -> float:
        return self.n / self.total if self.total else 0.0

    def _line(self, now: float) -> None:
        self.last_t, self.last_fraction = now, self._fraction()
        print(str(self), file=self._out(), flush=True)

    def _out(self) -> TextIO:
        return self.file or sys.stderr


def query_bar(desc: str, total: int | None = None, initial: int = 0, disable: bool = False) -> Any:
    """A bar of search queries spent (``n``) against the total the run is expected to spend (``total``, set as
    the forecast changes: :class:`QueryForecast`)."""
    return progress_bar(total, " queries", desc, initial=initial, disable=disable)


def show_queries(bar: Any, queries: int, expected: float, max_queries: int, status: str) -> None:
    """Move ``bar`` to ``queries`` spent of ``expected`` in all (so its ETA is the expected remaining work at
    the rate so far), with ``status`` and the most the run can spend (``max_queries``) after it; tqdm redraws at
    most once a second (``update(0)`` redraws too, so the elapsed time and ETA stay live)."""
    total = max(min(int(round(expected)), max_queries), queries)
    # The forecast wobbles by a few per cent as attacks stop; redrawing the total (and the ETA) for each wobble
    # reads as noise, so only a change of over 5 %, a total outside [spent, most] or the run's end moves it.
    shown = bar.total
    if not shown or total == queries or not queries <= shown <= max_queries or abs(total - shown) > 0.05 * shown:
        bar.total = total
    most = f"at most {max_queries:,} queries"
    bar.set_postfix_str(f"{status}; {most}" if status else most, refresh=False)
    _measure_steady_rate(bar, queries)
    bar.update(queries - bar.n)


def _measure_steady_rate(bar: Any, queries: int) -> None:
    """Give ``bar`` the query rate since its first update (the end of the first search round) for its rate and
    ETA. The first round pays one-off costs (the clean images' probabilities, the delta engine's caches, torch's
    warm-up): in the demo its 160 queries took 8 s at 19 queries/s and the rest ran at ~200, so the average since
    the start read a total 1.7x too long at a tenth of the run."""
    clock = getattr(bar, "clock", None) or getattr(bar, "_time", None) or time.time  # LogBar's, tqdm's
    now = float(clock())
    origin = getattr(bar, "rate_origin", None)
    if origin is None:
        bar.rate_origin = (now, queries)
        return
    t0, q0 = origin
    if now > t0 and queries > q0:
        bar.steady_rate = (queries - q0) / (now - t0)


def show_status(bar: Any, fooled: int, finished: int, queries_per_s: float | None) -> None:
    """For a bar of attacks: put "fooled / finished" and the queries per second after it (None: not measured
    yet). The bar is redrawn at its next update, at most once a second."""
    rate = "first round" if not queries_per_s else f"{queries_per_s:,.0f} queries/s"
    bar.set_postfix_str(f"{fooled}/{finished} fooled, {rate}", refresh=False)


def interactive() -> bool:
    """Whether a person is probably watching: stderr is a terminal, or the code runs in a Jupyter kernel.
    The Python API shows progress by default only then (a script's log or a test stays quiet)."""
    try:
        if sys.stderr is not None and sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):  # a closed or replaced stream
        pass
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})
