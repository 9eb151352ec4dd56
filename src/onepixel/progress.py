"""Progress of long attacks, counted in queries against the budget.

A batch of attacks finishes in bursts (most images run their whole budget and end in the same round), so a bar
counting finished attacks sits still for minutes and then jumps. Queries move every round: the bar counts the
search queries spent against the most the run can still spend (each attack's budget; an attack that stops early
gives its unspent budget back, so the total shrinks), and the ETA is that remaining work at the rate so far.
Attacks finished and fooled are shown beside it.
"""

from __future__ import annotations

import sys
from typing import Any


def progress_bar(total: int | None, unit: str, desc: str, initial: int = 0, disable: bool = False,
                 unit_scale: bool = False) -> Any:
    """A tqdm bar redrawn at most once a second (a redraw per search round floods logs).

    ``smoothing=0`` makes the rate the average since the bar started. tqdm's moving average only takes a sample
    when the count moves, over the time since the last *redraw*; the callers redraw every second, so a burst of
    36 attacks after 5 minutes read as 36 attacks in one second (an ETA of minutes for a run of hours)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit=unit, desc=desc, disable=disable, smoothing=0,
                mininterval=1.0, miniters=0, unit_scale=unit_scale)


def query_bar(desc: str, total: int | None = None, initial: int = 0, disable: bool = False) -> Any:
    """A bar of search queries spent (``n``) against the most the run can spend (``total``, set as it shrinks)."""
    return progress_bar(total, " queries", desc, initial=initial, disable=disable)


def show_queries(bar: Any, queries: int, max_queries: int, status: str) -> None:
    """Move ``bar`` to ``queries`` spent of at most ``max_queries`` with ``status`` after it; tqdm redraws at
    most once a second (``update(0)`` redraws too, so the elapsed time and ETA stay live)."""
    bar.total = max(max_queries, queries)
    bar.set_postfix_str(status, refresh=False)
    bar.update(queries - bar.n)


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
