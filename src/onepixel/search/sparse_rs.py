"""The random search at k > 1: Sparse-RS's schedule over sets of k pixels with corner colours (Croce et al., AAAI
2022).

Each image keeps a current set of k changed pixels. Every round proposes ``batch`` variants of it, each
replacing ``m`` of the k pixels with new ones, and greedily keeps the best variant if it is no worse. ``m``
follows Sparse-RS's schedule: ``m = max(1, round(p * k))`` with ``p = p_init`` halved at 1, 5, 20, 50, 100,
200, 400, 600 and 800 per mille of the budget, so the search explores early and refines late. A new pixel
lands, with probability ``local``, within ``radius`` pixels of the one it replaces, otherwise anywhere
(favouring the image centre); its colour is a corner weighted by its distance to the image's own pixel.
A variant the image has already tried is drawn again (kept as bits of a per-row bitmap of set hashes), so the
budget buys new sets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..candidates import PixelSpace
from .colours import colour_grid
from .locations import centre_prior, corner_candidates, corner_log_weights

if TYPE_CHECKING:
    from .random import RandomSearch

#: fractions of the budget at which Sparse-RS halves the share of pixels it resamples
HALVINGS = (0.001, 0.005, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8)
#: how often a repeated proposal is drawn again before it is let through
REDRAWS = 8


class SparseRS:
    """State of the k > 1 random search for a batch of images (one row each), with ``settings``'s options."""

    def __init__(self, settings: RandomSearch, space: PixelSpace, seeds: list[int]) -> None:
        s = self.settings = settings
        self.space = space
        n, k = len(seeds), space.pixels
        self.colours = colour_grid(space.channels, s.levels)
        self.m = len(self.colours)
        self.locs = space.height * space.width
        self.rngs = [np.random.default_rng(np.random.SeedSequence([seed, 0x5125])) for seed in seeds]
        # Log-weights of each (location, colour): uniform until observe() shows the images.
        self.logw = np.zeros((n, self.locs, self.m))
        where = centre_prior(space.height, space.width, s.centre)  # log-weights of locations
        self.where_cdf = np.cumsum(np.exp(where - where.max()))
        self.where_cdf /= self.where_cdf[-1]
        self.loc = np.zeros((n, k), dtype=np.int64)  # current set: flat locations y * W + x ...
        self.col = np.zeros((n, k), dtype=np.int64)  # ... and colour indices
        self.fit = np.full(n, np.inf)
        self.used = np.zeros(n, dtype=np.int64)
        bits = 1 << min(23, max(10, (32 * s.budget - 1).bit_length()))  # bitmap of the sets tried
        self.tried = np.zeros((n, bits // 8), dtype=np.uint8)
        self.prop_loc = np.zeros((n, s.batch, k), dtype=np.int64)
        self.prop_col = np.zeros((n, s.batch, k), dtype=np.int64)

    def observe(self, images: np.ndarray) -> None:
        """Weight corners by their distance to each image's own pixels (uint8 (n, H, W, C) clean images)."""
        t = self.settings.temperature
        if t is None:
            return
        self.logw = corner_log_weights(images, self.locs, self.colours, t)

    def max_queries(self) -> int:
        return self.settings.budget

    def round_sizes(self, rows: np.ndarray) -> np.ndarray:
        """Every round has ``batch`` proposals per row (the greedy acceptance after each round is the search)."""
        return np.full(len(rows), self.settings.batch, dtype=np.int64)

    def resampled(self, rows: np.ndarray) -> np.ndarray:
        """How many of the k pixels a proposal replaces, per row, at its current point in the budget."""
        k = self.space.pixels
        p = self.settings.p_init * 0.5 ** np.searchsorted(HALVINGS, self.used[rows] / self.settings.budget, side="right")
        return np.clip(np.rint(p * k), 1, k).astype(np.int64)

    def ask(self, rows: np.ndarray) -> np.ndarray:
        if not len(rows):
            return np.empty((0, self.settings.batch, self.space.dim))
        self._propose_many(rows)
        return corner_candidates(self.prop_loc[rows], self.prop_col[rows], self.colours, self.space.width)

    def _propose_many(self, rows: np.ndarray) -> None:
        """``batch`` variants of each row's current set, each with m pixels replaced (Sparse-RS).

        A variant the row has already tried (or that repeats an earlier one of the same batch) is drawn
        again, up to ``REDRAWS`` times, from the third draw on anywhere and in any corner colour: late in the
        budget m = 1, and local moves to the far corner leave only a few dozen variants of a stuck set; each
        repeat would spend a query of the budget on an answer already known (the runner's memo saves only the
        model time). Every random number a row uses comes from its own stream, so its proposals do not depend
        on the other rows of the batch."""
        s = self.settings
        n, k, a = s.batch, self.space.pixels, len(rows)
        draws = (k, 5 + self.m)
        u = np.stack([self.rngs[r].random((n, *draws)) for r in rows]).reshape(a * n, *draws)
        loc, col = (v.reshape(a, n, k) for v in self._vary(np.repeat(rows, n), u, wide=False))
        keys = self._keys_of(loc, col)
        for attempt in range(REDRAWS):
            again = self._repeated(rows, keys)
            if not again.any():
                break
            ri, si = np.nonzero(again)  # row-major: each row's slots together, rows in order
            u = np.concatenate([self.rngs[r].random((c, *draws)) for r, c in zip(rows, again.sum(1)) if c])
            loc[ri, si], col[ri, si] = self._vary(rows[ri], u, wide=attempt >= 2)
            keys[ri, si] = self._keys_of(loc[ri, si], col[ri, si])  # only the redrawn sets change
        self._tried_bits(rows, keys, mark=True)
        self.prop_loc[rows], self.prop_col[rows] = loc, col

    def _vary(self, rows: np.ndarray, u: np.ndarray, wide: bool) -> tuple[np.ndarray, np.ndarray]:
        """One variant of the current set of each ``rows`` entry (rows may repeat), from uniforms
        ``u`` (len(rows), k, 5 + M). ``wide``: no local moves, no centre prior, uniform corner colours."""
        s = self.settings
        w, h, rad = self.space.width, self.space.height, s.radius
        side = 2 * rad + 1
        loc, col = self.loc[rows], self.col[rows]  # (s, k)
        first = ~np.isfinite(self.fit[rows])[:, None]  # nothing accepted yet: draw whole random sets
        rank = np.argsort(np.argsort(u[..., 0], axis=-1), axis=-1)  # a random order of each set's k pixels
        replace = (rank < self.resampled(rows)[:, None]) | first
        y, x = np.divmod(loc, w)
        cell = (u[..., 1] * (side * side - 1)).astype(np.int64)
        cell += cell >= side * side // 2  # skip the centre cell: the pixel itself
        dy, dx = np.divmod(cell, side)
        near = np.clip(y + dy - rad, 0, h - 1) * w + np.clip(x + dx - rad, 0, w - 1)
        if wide:
            anywhere = (u[..., 2] * self.locs).astype(np.int64)
        else:
            anywhere = np.minimum(np.searchsorted(self.where_cdf, u[..., 2]), self.locs - 1)
        local = (u[..., 3] < s.local) & ~first & (not wide)
        loc = np.where(replace, np.where(local, near, anywhere), loc)
        # A new pixel landing on another of its set would be wasted: move it anywhere (one pass; rare).
        clash = ((loc[..., :, None] == loc[..., None, :]).sum(-1) > 1) & replace
        loc = np.where(clash, (u[..., 4] * self.locs).astype(np.int64), loc)
        gumbel = -np.log(-np.log(u[..., 5:]))
        drawn = np.argmax(gumbel if wide else self.logw[rows[:, None], loc] + gumbel, axis=-1)
        return loc, np.where(replace, drawn, col)

    def _keys_of(self, loc: np.ndarray, col: np.ndarray) -> np.ndarray:
        """A 64-bit hash of each set of k (location, colour) pairs, independent of the pixels' order."""
        codes = np.sort(loc * self.m + col, axis=-1).astype(np.uint64)
        h = np.zeros(codes.shape[:-1], dtype=np.uint64)
        for j in range(codes.shape[-1]):  # splitmix64-style mixing, wrapping modulo 2**64
            h = (h ^ codes[..., j]) * np.uint64(0x9E3779B97F4A7C15)
            h ^= h >> np.uint64(29)
        return h

    def _tried_bits(self, rows: np.ndarray, keys: np.ndarray, mark: bool = False) -> np.ndarray:
        """Whether each (a, n) key's bit is set in its row's bitmap of tried sets (``mark``: set them).

        A bitmap of ``32 * budget`` bits per row instead of a set of every key: memory stays bounded, and
        a false "tried" (about 3 % of draws at the end of the budget) only costs a redraw."""
        bit = (keys & np.uint64(self.tried.shape[1] * 8 - 1)).astype(np.int64)
        byte, mask = bit >> 3, (1 << (bit & 7)).astype(np.uint8)
        r = np.broadcast_to(rows[:, None], keys.shape)
        seen = (self.tried[r, byte] & mask) != 0
        if mark:
            np.bitwise_or.at(self.tried, (r, byte), mask)
        return seen

    def _repeated(self, rows: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """(a, n): proposals (set ``keys``) already tried by their row, or equal to an earlier one of the batch."""
        earlier = np.tril(np.ones((keys.shape[1],) * 2, dtype=bool), -1)
        dup = ((keys[:, :, None] == keys[:, None, :]) & earlier).any(-1)
        return dup | self._tried_bits(rows, keys)

    def tell(self, rows: np.ndarray, fitness: np.ndarray) -> None:
        self.used[rows] += np.isfinite(fitness).sum(1)
        j = np.argmin(fitness, axis=1)
        f = fitness[np.arange(len(rows)), j]
        # "<=" lets the set drift across plateaus (probabilities often tie after rounding to a corner).
        take = np.isfinite(f) & (f <= self.fit[rows])
        rt, jt = rows[take], j[take]
        self.loc[rt] = self.prop_loc[rt, jt]
        self.col[rt] = self.prop_col[rt, jt]
        self.fit[rt] = f[take]

    def exhausted(self, rows: np.ndarray) -> np.ndarray:
        return self.used[rows] >= self.settings.budget
