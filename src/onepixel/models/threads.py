"""How many threads torch runs delta inference's small operations on, chosen by their measured speed.

Torch runs each operation on one thread per core by default, and every thread must finish before the next
operation starts. On a CPU shared with other work, a thread whose core is busy elsewhere stalls each of delta
inference's many small operations: on a 2-core machine beside one busy process, 2 threads ran AllConv's one-pixel
queries 2-40x slower than 1 thread, which kept its 0.25 ms per row (quiet, 2 threads take 0.14 ms). The load
comes and goes, so :class:`ThreadGovernor` times both, keeps the faster, and tries the other again after a while:
soon after it came close, rarely after it lost by far. It is used only where a plan scores every row with the
same bits on any thread count (:class:`~onepixel.models.delta.DeltaEngine` checks), so it changes times, never
results.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch


class ThreadGovernor:
    """Picks the thread count (torch's own, or 1) for each timed call and keeps the faster.

    Args:
        most: the thread count to compare with one thread (default: torch's current count).
        patience: calls with the faster count before the other is tried again; doubled each time the other
            loses again (up to ``longest``), reset when it wins.
        longest: the most calls between two tries of the slower count.
    """

    def __init__(self, most: int | None = None, patience: int = 8, longest: int = 256) -> None:
        self.most = int(most or torch.get_num_threads())
        self.patience, self.longest = patience, longest
        self.seconds_per_row: dict[int, float] = {}  #: recent cost of each thread count tried
        self.wait = patience  #: calls with the faster count before the slower is tried again
        self._since = 0

    @property
    def options(self) -> tuple[int, ...]:
        return (self.most, 1) if self.most > 1 else (1,)

    def pick(self) -> int:
        """The thread count for the next call: each option once, then the faster, the other now and then."""
        untried = [t for t in self.options if t not in self.seconds_per_row]
        if untried:
            return untried[0]
        best = self.faster()
        if self._since >= self.wait:
            return next(t for t in self.options if t != best)
        return best

    def faster(self) -> int:
        return min(self.options, key=lambda t: self.seconds_per_row.get(t, float("inf")))

    def record(self, threads: int, rows: int, seconds: float) -> None:
        """Fold one call's time into its thread count's cost, and decide when to try the other again."""
        cost = seconds / max(1, rows)
        best = self.faster() if len(self.seconds_per_row) == len(self.options) else None
        if threads == best or best is None:
            old = self.seconds_per_row.get(threads)
            self.seconds_per_row[threads] = cost if old is None else 0.7 * old + 0.3 * cost
            self._since += 1
            return
        self.seconds_per_row[threads] = cost  # a try of the slower count: its old cost is stale
        self._since = 0
        self.wait = self.patience if self.faster() == threads else min(self.longest, 2 * self.wait)

    @contextmanager
    def timed(self, rows: int) -> Iterator[int]:
        """Run the block on :meth:`pick`'s thread count and time it as ``rows`` rows. The count stays set after
        the block (switching back and forth between chunks costs more than a chunk): the caller restores
        torch's own count when its query ends."""
        chosen = self.pick()
        if torch.get_num_threads() != chosen:
            torch.set_num_threads(chosen)
        start = time.perf_counter()
        yield chosen
        self.record(chosen, rows, time.perf_counter() - start)
