"""How many threads torch runs a model's CPU calls on, chosen by their measured speed.

Torch runs each operation on one thread per core by default, and every thread must finish before the next
operation starts. On a CPU shared with other work, a thread whose core is busy elsewhere stalls each operation,
most of all delta inference's many small ones: on a 2-core machine beside one busy process, 2 threads ran
AllConv's one-pixel queries 2-40x slower than 1 thread, which kept its 0.25 ms per row (quiet, 2 threads take
0.14 ms). The load comes and goes, so :class:`ThreadGovernor` times both, keeps the faster, and tries the other
again after a while, spending at most a set share of the time on those tries. :class:`GovernedThreads` uses it
only for kinds of call that gave the same bits on both counts, so it changes times, never results.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

import torch


class ThreadGovernor:
    """Picks the thread count (torch's own, or 1) for each timed call and keeps the faster.

    The slower count is tried again once the work since its last try is ``1 / share`` times what that try cost
    over the faster count: trying costs at most ``share`` of the time, a close loser (one thread on a quiet host)
    is tried every few calls, and a far one (two threads beside a busy process) every few seconds.

    Args:
        most: the thread count to compare with one thread (default: torch's current count).
        share: the most of the time spent on trying the slower count.
        patience: the fewest calls between two tries (one call's time is noisy).
    """

    def __init__(self, most: int | None = None, share: float = 0.05, patience: int = 4) -> None:
        self.most = int(most or torch.get_num_threads())
        self.share, self.patience = share, patience
        self.seconds_per_row: dict[int, float] = {}  #: recent cost of each thread count tried
        self._owed = 0.0  # seconds of work before the slower count is tried again
        self._worked = 0.0  # seconds of work since its last try
        self._calls = 0  # calls since its last try

    @property
    def options(self) -> tuple[int, ...]:
        return (self.most, 1) if self.most > 1 else (1,)

    def pick(self) -> int:
        """The thread count for the next call: each option once, then the faster, the other now and then."""
        untried = [t for t in self.options if t not in self.seconds_per_row]
        if untried:
            return untried[0]
        best = self.faster()
        if self._calls >= self.patience and self._worked >= self._owed:
            return next(t for t in self.options if t != best)
        return best

    def faster(self) -> int:
        return min(self.options, key=lambda t: self.seconds_per_row.get(t, float("inf")))

    def record(self, threads: int, rows: int, seconds: float) -> None:
        """Fold one call's time into its thread count's cost; after a try of the slower count, set how much
        work comes before the next."""
        cost = seconds / max(1, rows)
        known = len(self.seconds_per_row) == len(self.options)
        if known and threads != self.faster():  # a try: the old cost is stale
            self.seconds_per_row[threads] = cost
        else:
            old = self.seconds_per_row.get(threads)
            self.seconds_per_row[threads] = cost if old is None else 0.7 * old + 0.3 * cost
            self._worked += seconds
            self._calls += 1
            if known or len(self.seconds_per_row) < len(self.options):
                return
        costs = sorted(self.seconds_per_row.values())
        self._owed = (costs[-1] - costs[0]) * rows / self.share
        self._worked, self._calls = 0.0, 0

    @contextmanager
    def timed(self, rows: int) -> Iterator[int]:
        """Run the block on :meth:`pick`'s thread count and time it as ``rows`` rows. The count stays set after
        the block (switching back and forth between chunks costs more than a chunk): the caller restores
        torch's own count when its query ends."""
        chosen = self.pick()
        _set_threads(chosen)
        start = time.perf_counter()
        yield chosen
        self.record(chosen, rows, time.perf_counter() - start)


class GovernedThreads:
    """Torch calls run on the thread count a :class:`ThreadGovernor` picks, one governor per ``group`` of calls
    alike in cost per row (delta chunks, full forwards in search or reference precision). Each ``kind`` of call
    (say, a plan and chunk size, or an input shape) first runs on both counts, once: where the scores differ in any
    bit, that kind keeps torch's own count, so no result depends on the governor."""

    def __init__(self, most: int | None = None) -> None:
        self.most = int(most or torch.get_num_threads())
        self.governors: dict[Hashable, ThreadGovernor] = {}
        self.same_bits: dict[Hashable, bool] = {}  #: per kind of call: whether both counts gave the same scores

    def call(self, group: Hashable, kind: Hashable, rows: int, run: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``run()`` (``rows`` rows) on the governed thread count; its count stays set until :meth:`query` ends."""
        if self.most <= 1:
            return run()
        if kind not in self.same_bits:
            scores = [_on(threads, run) for threads in (self.most, 1)]
            self.same_bits[kind] = torch.equal(scores[0], scores[1])
            return scores[0]
        if not self.same_bits[kind]:
            _set_threads(self.most)
            return run()
        governor = self.governors.setdefault(group, ThreadGovernor(self.most))
        with governor.timed(rows):
            return run()

    @contextmanager
    def own_count(self) -> Iterator[None]:
        """torch's own thread count (the most) inside the block, whatever the governor picked before it."""
        before = torch.get_num_threads()
        _set_threads(self.most)
        try:
            yield
        finally:
            _set_threads(before)

    @contextmanager
    def query(self) -> Iterator[None]:
        """One query's calls: torch's thread count as it was before, restored after them (also on an error).
        Where the caller changed torch's count since (``torch.set_num_threads``), that count is the new most,
        compared and checked afresh."""
        before = torch.get_num_threads()
        if self.most > 1 and before != self.most:
            self.most, self.governors, self.same_bits = before, {}, {}
        try:
            yield
        finally:
            _set_threads(before)


def _set_threads(count: int) -> None:
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)


def _on(threads: int, run: Callable[[], torch.Tensor]) -> torch.Tensor:
    """``run()`` on ``threads`` threads, its scores copied (a call may hand back a buffer the next call reuses)."""
    _set_threads(threads)
    return run().clone()
