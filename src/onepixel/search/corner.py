"""CornerSearch-style attack (Croce & Hein, ICCV 2019): scan every single-pixel change to a colour-cube
corner, then combine the best-ranked pixels.

Phase 1 scores all ``H * W * M`` one-pixel changes (M = 8 RGB corners, 2 for greyscale; 8,192 queries on
CIFAR-10). For k = 1 that is the whole attack: an exhaustive scan, in a seeded random order so that the
queries spent before a success are not biased towards the top of the image. For k > 1, phase 2 ranks the
locations by their best one-pixel fitness and evaluates random k-subsets of the ``top`` best locations, each
with its best corner, drawing rank r (0 = best) with probability proportional to ``2 (top - r) - 1`` as
Croce & Hein do (they draw with replacement; here the k pixels are distinct), until the budget is spent.

Difference from the original: Croce & Hein rank by per-class logit differences (one ordering per class);
a search here sees only the criterion's fitness, so there is one ordering, by that fitness.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..candidates import PixelSpace
from ..errors import InputError
from .base import Search, started
from .colours import colour_grid, grid_changes


@dataclass
class CornerSearch(Search):
    """Exhaustive corner scan, then sampled combinations of the best-ranked pixels (k > 1).

    Args:
        budget: queries per image for k > 1 (default 10,000; at least the scan's ``H*W*M`` is spent first).
            For k = 1 the attack ends with the scan.
        top: how many best-ranked locations combinations are drawn from (Croce & Hein's N = 100).
        batch: candidates per image per round.
        levels: colour values per channel (2: cube corners; more: a finer grid, scanned the same way).
    """

    budget: int = 10_000
    top: int = 100
    batch: int = 64
    levels: int = 2
    _space: PixelSpace | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        colour_grid(1, self.levels)
        if self.top < 1 or self.batch < 1 or self.budget < 1:
            raise InputError(f"budget, top and batch must be >= 1 (got budget={self.budget}, top={self.top}, "
                             f"batch={self.batch})")

    @property
    def _sp(self) -> PixelSpace:
        return started(self._space)

    def start(self, space: PixelSpace, seeds: list[int]) -> None:
        if space.pixels > space.height * space.width:
            raise InputError(f"{space.pixels} pixels do not fit a {space.width}x{space.height} image")
        self._space = space
        self._colours = colour_grid(space.channels, self.levels)
        self._m = len(self._colours)
        self._scan = space.height * space.width * self._m
        n = len(seeds)
        self._rngs = [np.random.default_rng(np.random.SeedSequence([s, 0xC0C])) for s in seeds]
        # Each row scans its own permutation of the one-pixel changes.
        self._order = np.stack([r.permutation(self._scan) for r in self._rngs]) if n else np.empty((0, self._scan), np.int64)
        self._score = np.full((n, self._scan), np.inf)
        self._next = np.zeros(n, dtype=np.int64)

    def max_queries(self) -> int:
        """The scan for k = 1; ``max(budget, scan)`` for k > 1 (known after ``start``)."""
        return self._scan if self._sp.pixels == 1 else max(self.budget, self._scan)

    def ask(self, rows: np.ndarray) -> np.ndarray:
        sp = self._sp
        k = sp.pixels
        out = np.empty((len(rows), self.batch, k, 2 + sp.channels))
        scanning = self._next[rows] < self._scan
        if scanning.any():
            r = rows[scanning]
            i = self._order[r[:, None], (self._next[r][:, None] + np.arange(self.batch)) % self._scan]
            # A single change repeated k times: coinciding pixels make a one-pixel change.
            out[scanning] = self._changes(i)[:, :, None, :]
        if (~scanning).any():
            out[~scanning] = self._combine(rows[~scanning])
        return out.reshape(len(rows), self.batch, sp.dim)

    def _changes(self, i: np.ndarray) -> np.ndarray:
        """Changes (..., 2 + C) for flat scan indices i = (y * W + x) * M + colour."""
        return grid_changes(i, self._sp.width, self._colours)

    def _combine(self, rows: np.ndarray) -> np.ndarray:
        """``batch`` k-subsets of the ``top`` best locations of each row, each pixel at its best colour."""
        k = self._sp.pixels
        per_loc = self._score[rows].reshape(len(rows), -1, self._m)
        best_col = per_loc.argmin(-1)
        t = min(max(self.top, k), per_loc.shape[1])
        ranked = np.argsort(per_loc.min(-1), axis=1, kind="stable")[:, :t]
        weights = np.log(2.0 * (t - np.arange(t)) - 1.0)  # Croce & Hein's rank weights
        # Without replacement via the Gumbel-top-k trick: k distinct ranks per sample, weighted by rank.
        u = np.stack([self._rngs[r].random((self.batch, t)) for r in rows])
        pick = np.argsort(-(weights - np.log(-np.log(u))), axis=-1)[..., :k]
        loc = np.take_along_axis(ranked[:, None, :], pick, axis=-1)
        return self._changes(loc * self._m + np.take_along_axis(best_col[:, None, :], loc, axis=-1))

    def tell(self, rows: np.ndarray, fitness: np.ndarray) -> None:
        scanning = self._next[rows] < self._scan
        if scanning.any():
            r = rows[scanning]
            pos = self._next[r][:, None] + np.arange(fitness.shape[1])
            inside = pos < self._scan  # the last round may reach past the scan (never evaluated)
            ri = np.broadcast_to(r[:, None], pos.shape)[inside]
            self._score[ri, self._order[ri, pos[inside]]] = fitness[scanning][inside]
        self._next[rows] += fitness.shape[1]

    def exhausted(self, rows: np.ndarray) -> np.ndarray:
        return self._next[rows] >= self.max_queries()
