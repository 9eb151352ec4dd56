"""Sparse-RS-style random search over k pixels with colour-cube corner colours (Croce et al., AAAI 2022).

Each image keeps a current set of k changed pixels. Every round proposes ``batch`` variants of it, each
replacing ``m`` of the k pixels with new ones, and greedily keeps the best variant if it is no worse. ``m``
follows Sparse-RS's schedule: ``m = max(1, round(p * k))`` with ``p = p_init`` halved at 1, 5, 20, 50, 100,
200, 400, 600 and 800 per mille of the budget, so the search explores early and refines late.

Three additions, because the one-pixel changes that fool a net are few (a median of a few dozen of the
8,192 on a CIFAR-10 ResNet-20), clustered, mostly central and often far from the pixel's own colour:

* a new pixel lands, with probability ``local``, within ``radius`` pixels of the one it replaces (for
  k = 1: of one of the ``elite`` best locations found so far), otherwise anywhere;
* "anywhere" favours the image centre: a Gaussian of width ``centre`` (in image sizes) over locations,
  since classification datasets frame their objects (on ResNet-20 strict images #100-199 two thirds of
  the fooling locations lie in the central quarter of the area, half the fooling changes use one of the
  two corners farthest from the pixel's colour, and the best location by fitness is a fooling one in 37
  of 39 images);
* colours are corners weighted by how far they are from the image's own pixel (``softmax(distance /
  temperature)``) once the runner has shown the search the clean images (:meth:`observe`): a corner close
  to the original colour barely changes the image. Without images all corners are equally likely.

For k = 1 the search never proposes a (location, colour) twice: the space is small (H * W * 8), and once
every change has been tried it has the corner oracle's exact answer. It then spends up to ``refine`` more
queries on colours between the corners at its best locations (below). For k > 1 it redraws a variant it has
already tried (kept as bits of a per-row bitmap of set hashes), so the budget buys new sets.

Refinement (k = 1): the paper's DE fools a few images that no corner change fools (4 of 200 on AllConv, 1 of
100 on NiN and ResNet-20), always within a few of the best corner locations and near the best corner colour
there. After the corners, the search tries the colours of a 5-level grid (117 non-corner colours) at the
``REFINE_LOCATIONS`` locations with the best fitness, in rounds: each location's nearest untried colour to its
best corner first. On those six images the first fooling change came after 0-242 refinement queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..candidates import PixelSpace
from ..errors import InputError
from .base import started
from .colours import colour_grid

#: fractions of the budget at which Sparse-RS halves the share of pixels it resamples
HALVINGS = (0.001, 0.005, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8)
#: k > 1: how often a repeated proposal is drawn again before it is let through
REDRAWS = 8
#: k = 1 refinement: how many of the best corner locations it tries finer colours at, and the grid's levels
REFINE_LOCATIONS = 30
REFINE_LEVELS = 5


@dataclass
class RandomSearch:
    """Greedy random search over k pixels and corner colours, one random stream per image.

    Args:
        budget: queries per image the schedule is planned for (default 10,000).
        batch: proposals per image per round (more: fewer, larger model calls; fewer: more greedy steps).
        p_init: share of the k pixels resampled at first (Sparse-RS's alpha_init; at least one pixel).
        local: probability that a new pixel is drawn near the pixel it replaces (k = 1: near one of the
            ``elite`` best locations so far, including the location itself with another colour).
        radius: half-width of that neighbourhood (a (2r+1)^2 square).
        temperature: colour weighting ``exp(distance / temperature)`` over corners (distances in 0..441;
            10: the farthest corner first, nearly always); None draws corners uniformly. Applies once
            :meth:`observe` has seen the images.
        elite: k = 1: how many of the best locations so far local proposals explore around (the lone
            fooling change of an image is often a 2nd-4th colour at the 2nd-5th best location).
        centre: width of the Gaussian location prior around the image centre, in image sizes (0.2: the
            corner pixels are ~350x less likely than the centre ones); None: uniform.
        levels: colour values per channel (2: cube corners).
        refine: k = 1 with corner colours: queries spent on non-corner colours at the best locations once
            every corner change has been tried (0: stop with the corner oracle's answer; never beyond ``budget``).

    Defaults (batch 8, local 0.5, radius 1, temperature 10, centre 0.2, elite 4) were tuned for k = 1 on ResNet-20
    strict-protocol images #100-199 (benchmarks/search.py reports held-out images #0-99).
    """

    budget: int = 10_000
    batch: int = 8
    p_init: float = 0.3
    local: float = 0.5
    radius: int = 1
    temperature: float | None = 10.0
    centre: float | None = 0.2
    elite: int = 4
    levels: int = 2
    refine: int = 512
    _space: PixelSpace | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        colour_grid(1, self.levels)
        if self.budget < 1 or self.batch < 1:
            raise InputError(f"budget and batch must be >= 1 (got budget={self.budget}, batch={self.batch})")
        if not 0.0 < self.p_init <= 1.0:
            raise InputError(f"p_init must be in (0, 1] (got {self.p_init})")
        if self.elite < 1:
            raise InputError(f"elite must be >= 1 (got {self.elite})")
        if not 0.0 <= self.local <= 1.0 or self.radius < 1:
            raise InputError(f"local must be in [0, 1] and radius >= 1 (got {self.local}, {self.radius})")
        if self.temperature is not None and self.temperature <= 0:
            raise InputError(f"temperature must be > 0 or None (got {self.temperature})")
        if self.centre is not None and self.centre <= 0:
            raise InputError(f"centre must be > 0 or None (got {self.centre})")
        if self.refine < 0:
            raise InputError(f"refine must be >= 0 queries (got {self.refine})")

    @property
    def _sp(self) -> PixelSpace:
        return started(self._space)

    def max_queries(self) -> int:
        """The budget; for k = 1 at most H * W * M (every change tried: the oracle's answer) plus the refinement."""
        return self._cap if self._space is not None else self.budget

    def start(self, space: PixelSpace, seeds: list[int]) -> None:
        if space.pixels > space.height * space.width:
            raise InputError(f"{space.pixels} pixels do not fit a {space.width}x{space.height} image")
        self._space = space
        n, k = len(seeds), space.pixels
        self._colours = colour_grid(space.channels, self.levels)
        self._m = len(self._colours)
        self._locs = space.height * space.width
        self._corners = self._locs * self._m  # k = 1: every (location, colour) of the grid
        self._fine = _refine_colours(space.channels) if k == 1 and self.levels == 2 else np.empty((0, space.channels))
        top = min(REFINE_LOCATIONS, self._locs)
        self._n_refine = max(0, min(self.refine, self.budget - self._corners, top * len(self._fine)))
        self._cap = min(self.budget, self._corners) + self._n_refine if k == 1 else self.budget
        self._rngs = [np.random.default_rng(np.random.SeedSequence([s, 0x5125])) for s in seeds]
        # Log-weights of each (location, colour) for k > 1: uniform until observe() shows the images.
        self._logw = np.zeros((n, self._locs, self._m) if k > 1 else (n, 0, 0))
        self._where = _centre_prior(space.height, space.width, self.centre)  # log-weights of locations
        self._where_cdf = np.cumsum(np.exp(self._where - self._where.max()))
        self._where_cdf /= self._where_cdf[-1]
        self._loc = np.zeros((n, k), dtype=np.int64)  # current set: flat locations y * W + x ...
        self._col = np.zeros((n, k), dtype=np.int64)  # ... and colour indices
        self._fit = np.full(n, np.inf)
        self._used = np.zeros(n, dtype=np.int64)
        self._visited = np.zeros((n, self._locs * self._m) if k == 1 else (n, 0), dtype=bool)
        bits = 1 << min(23, max(10, (32 * self.budget - 1).bit_length()))  # k > 1: bitmap of the sets tried
        self._tried = np.zeros((n, bits // 8) if k > 1 else (n, 0), dtype=np.uint8)
        if k == 1:
            # Sampling without replacement by weight = sorting by log-weight + Gumbel noise drawn once, so each
            # row keeps one fixed random order (global proposals walk it; local ones take the best local key).
            size = self._locs * self._m
            self._noise = np.stack([-np.log(-np.log(r.random(size))) for r in self._rngs]) if n else np.empty((0, size))
            self._sort_keys(np.repeat(self._where, self._m)[None].repeat(n, 0))
            self._locfit = np.full((n, self._locs), np.inf)
            # The ``elite`` best locations, as a stable sort of _locfit would rank them (all untried: the first
            # ones); kept up to date in tell() instead of sorting every location every round.
            self._elite = np.tile(np.arange(min(self.elite, self._locs)), (n, 1))
            self._loccol = np.zeros((n, self._locs), dtype=np.int64)  # the best colour seen at each location
            self._plan: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # row -> refinement order (locations, colours)
            self._fine_pos = np.zeros(n, dtype=np.int64)  # refinement changes proposed so far, per row
        self._prop_loc = np.zeros((n, self.batch, k), dtype=np.int64)
        self._prop_col = np.zeros((n, self.batch, k), dtype=np.int64)

    def observe(self, images: np.ndarray) -> None:
        """Weight corners by their distance to each image's own pixels (uint8 (n, H, W, C) clean images)."""
        if self.temperature is None:
            return
        px = images.reshape(len(images), self._locs, -1).astype(np.float64)
        # One corner at a time: a (locations, corners, channels) temporary is gigabytes for a large photo.
        logw = np.stack([np.linalg.norm(px - c, axis=-1) for c in self._colours], axis=-1)
        logw -= logw.max(-1, keepdims=True)  # in place, here and below: these arrays are H * W * 8 per image
        logw /= self.temperature
        if self._sp.pixels == 1:
            logw += self._where[None, :, None]
            del self._keys  # the old keys go before the new ones are made
            self._sort_keys(logw.reshape(len(images), -1))
        else:
            self._logw = logw

    def _sort_keys(self, logw: np.ndarray) -> None:
        """Each row's fixed order of changes: by log-weight + its Gumbel noise, highest first. The walk can never
        get further than the changes proposed so far plus a chunk, so on a large image (a full-resolution photo
        has millions of changes) only the first ``cap`` + a few batches are ordered: a partition, not a sort."""
        logw += self._noise  # in place: callers hand over a temporary
        self._keys = logw
        size = self._keys.shape[1]
        length = min(size, self._cap + 4 * self.batch + 64)
        if length == size:
            self._order = np.argsort(-self._keys, axis=1, kind="stable")
        else:
            self._order = np.empty((len(logw), length), dtype=np.int64)
            for i, keys in enumerate(self._keys):
                top = np.argpartition(-keys, length - 1)[:length]
                self._order[i] = top[np.lexsort((top, -keys[top]))]  # as the stable sort orders them
        self._ptr = np.zeros(len(logw), dtype=np.int64)

    def _resampled(self, rows: np.ndarray) -> np.ndarray:
        """How many of the k pixels a proposal replaces, per row, at its current point in the budget."""
        k = self._sp.pixels
        p = self.p_init * 0.5 ** np.searchsorted(HALVINGS, self._used[rows] / self.budget, side="right")
        return np.clip(np.rint(p * k), 1, k).astype(np.int64)

    def ask(self, rows: np.ndarray) -> np.ndarray:
        if not len(rows):
            return np.empty((0, self.batch, self._sp.dim))
        if self._sp.pixels > 1:
            self._propose_many(rows)
            return self._candidates(self._prop_loc[rows], self._prop_col[rows])
        fine = self._used[rows] >= self._corners  # k = 1: corners done, refining
        out = np.empty((len(rows), self.batch, self._sp.dim))
        if (~fine).any():
            self._propose_one(rows[~fine])
            out[~fine] = self._candidates(self._prop_loc[rows[~fine]], self._prop_col[rows[~fine]])
        if fine.any():
            out[fine] = self._propose_fine(rows[fine])
        return out

    def _candidates(self, loc: np.ndarray, col: np.ndarray) -> np.ndarray:
        y, x = np.divmod(loc, self._sp.width)
        blocks = np.concatenate([x[..., None], y[..., None], self._colours[col]], axis=-1).astype(np.float64)
        return blocks.reshape(*loc.shape[:-1], self._sp.dim)

    def _propose_one(self, rows: np.ndarray) -> None:
        """k = 1: ``batch`` distinct untried (location, colour) pairs per row. With probability ``local`` a slot
        goes to the best-keyed untried change around one of the row's ``elite`` best locations so far (slots
        shared out best first); the others walk on along the row's fixed order. Proposals count as tried."""
        n, m, a = self.batch, self._m, len(rows)
        u = np.stack([self._rngs[r].random(n) for r in rows])  # the only random draws: which slots go local
        n_local = np.where(np.isfinite(self._fit[rows]), (u < self.local).sum(1), 0)
        e = min(self.elite, self._locs)
        elite = self._elite[rows]  # (a, e) best locations first
        elite_fit = self._locfit[rows[:, None], elite]
        picks = np.zeros((a, n), dtype=np.int64)
        filled = np.zeros(a, dtype=np.int64)
        for j in range(e):  # a handful of elite members, each vectorised over rows
            share = (n_local + e - 1 - j) // e  # slots of member j: n_local split as evenly as possible
            share = np.where(np.isfinite(elite_fit[:, j]), share, 0)
            near = _neighbourhoods(self._sp.height, self._sp.width, self.radius, elite[:, j])  # (a, S)
            cand = (np.maximum(near, 0)[:, :, None] * m + np.arange(m)).reshape(a, -1)
            ok = np.repeat(near >= 0, m, axis=1) & ~self._visited[rows[:, None], cand]
            order = np.argsort(np.where(ok, -self._keys[rows[:, None], cand], np.inf), axis=1, kind="stable")[:, :n]
            take = np.take_along_axis(ok, order, 1) & (np.arange(order.shape[1]) < share[:, None])
            ri, ci = np.nonzero(take)
            slot = filled[ri] + ci  # take is a prefix of each row
            picks[ri, slot] = np.take_along_axis(cand, order, 1)[ri, ci]
            self._visited[rows[ri], picks[ri, slot]] = True
            filled += take.sum(1)
        self._walk(rows, picks, filled)
        self._prop_loc[rows, :, 0], self._prop_col[rows, :, 0] = np.divmod(picks, m)

    def _walk(self, rows: np.ndarray, picks: np.ndarray, filled: np.ndarray) -> None:
        """Fill ``picks[i, filled[i]:]`` with the next untried changes along each row's fixed order."""
        n, size = picks.shape[1], self._order.shape[1]
        chunk = np.arange(2 * n + 16)
        todo = np.nonzero(filled < n)[0]
        while todo.size:
            r = rows[todo]
            pos = self._ptr[r][:, None] + chunk
            ent = self._order[r[:, None], np.minimum(pos, size - 1)]
            free = (pos < size) & ~self._visited[r[:, None], ent]
            rank = np.cumsum(free, axis=1)
            need = n - filled[todo]
            chosen = free & (rank <= need[:, None])
            bi, ci = np.nonzero(chosen)
            picks[todo[bi], filled[todo[bi]] + rank[bi, ci] - 1] = ent[bi, ci]
            self._visited[r[bi], ent[bi, ci]] = True
            got = chosen.sum(1)
            # Entries before the last one chosen are all tried; a chunk that did not suffice is used up.
            last = len(chunk) - np.argmax(chosen[:, ::-1], axis=1)
            self._ptr[r] += np.where(got == need, last, len(chunk))
            filled[todo] += got
            spent = self._ptr[r] >= size  # nothing untried is left: pad (the budget ends before the padding)
            pad = todo[spent]
            picks[pad] = np.where(np.arange(n) >= filled[pad][:, None], picks[pad, :1], picks[pad])
            filled[pad] = n
            todo = todo[filled[todo] < n]

    def _propose_fine(self, rows: np.ndarray) -> np.ndarray:
        """k = 1 after the corners: the next ``batch`` refinement changes of each row (colour rounds over the
        row's best locations, each location's colours nearest its best corner first), padded past the end."""
        out = np.empty((len(rows), self.batch, self._sp.dim))
        for i, r in enumerate(rows):
            if int(r) not in self._plan:  # fixed when the row enters refinement: its best locations so far
                top = np.argsort(self._locfit[r], kind="stable")[:REFINE_LOCATIONS]
                best = self._colours[self._loccol[r, top]]
                dist = np.linalg.norm(self._fine[None] - best[:, None], axis=-1)  # (locations, colours)
                self._plan[int(r)] = (top, np.argsort(dist, axis=1, kind="stable"))
            top, order = self._plan[int(r)]
            t = np.minimum(self._fine_pos[r] + np.arange(self.batch), self._n_refine - 1)
            self._fine_pos[r] += self.batch
            rank, slot = np.divmod(t, len(top))
            y, x = np.divmod(top[slot], self._sp.width)
            out[i] = np.concatenate([x[:, None], y[:, None], self._fine[order[slot, rank]]], axis=1)
        return out

    def _propose_many(self, rows: np.ndarray) -> None:
        """k > 1: ``batch`` variants of each row's current set, each with m pixels replaced (Sparse-RS).

        A variant the row has already tried (or that repeats an earlier one of the same batch) is drawn
        again, up to ``REDRAWS`` times, from the third draw on anywhere and in any corner colour: late in the
        budget m = 1, and local moves to the far corner leave only a few dozen variants of a stuck set; each
        repeat would spend a query of the budget on an answer already known (the runner's memo saves only the
        model time). Every random number a row uses comes from its own stream, so its proposals do not depend
        on the other rows of the batch."""
        n, k, a = self.batch, self._sp.pixels, len(rows)
        draws = (k, 5 + self._m)
        u = np.stack([self._rngs[r].random((n, *draws)) for r in rows]).reshape(a * n, *draws)
        loc, col = (v.reshape(a, n, k) for v in self._vary(np.repeat(rows, n), u, wide=False))
        keys = self._keys_of(loc, col)
        for attempt in range(REDRAWS):
            again = self._repeated(rows, keys)
            if not again.any():
                break
            ri, si = np.nonzero(again)  # row-major: each row's slots together, rows in order
            u = np.concatenate([self._rngs[r].random((c, *draws)) for r, c in zip(rows, again.sum(1)) if c])
            loc[ri, si], col[ri, si] = self._vary(rows[ri], u, wide=attempt >= 2)
            keys[ri, si] = self._keys_of(loc[ri, si], col[ri, si])  # only the redrawn sets change
        self._tried_bits(rows, keys, mark=True)
        self._prop_loc[rows], self._prop_col[rows] = loc, col

    def _vary(self, rows: np.ndarray, u: np.ndarray, wide: bool) -> tuple[np.ndarray, np.ndarray]:
        """One variant of the current set of each ``rows`` entry (rows may repeat), from uniforms
        ``u`` (len(rows), k, 5 + M). ``wide``: no local moves, no centre prior, uniform corner colours."""
        w, h, rad = self._sp.width, self._sp.height, self.radius
        side = 2 * rad + 1
        loc, col = self._loc[rows], self._col[rows]  # (s, k)
        first = ~np.isfinite(self._fit[rows])[:, None]  # nothing accepted yet: draw whole random sets
        rank = np.argsort(np.argsort(u[..., 0], axis=-1), axis=-1)  # a random order of each set's k pixels
        replace = (rank < self._resampled(rows)[:, None]) | first
        y, x = np.divmod(loc, w)
        cell = (u[..., 1] * (side * side - 1)).astype(np.int64)
        cell += cell >= side * side // 2  # skip the centre cell: the pixel itself
        dy, dx = np.divmod(cell, side)
        near = np.clip(y + dy - rad, 0, h - 1) * w + np.clip(x + dx - rad, 0, w - 1)
        if wide:
            anywhere = (u[..., 2] * self._locs).astype(np.int64)
        else:
            anywhere = np.minimum(np.searchsorted(self._where_cdf, u[..., 2]), self._locs - 1)
        local = (u[..., 3] < self.local) & ~first & (not wide)
        loc = np.where(replace, np.where(local, near, anywhere), loc)
        # A new pixel landing on another of its set would be wasted: move it anywhere (one pass; rare).
        clash = ((loc[..., :, None] == loc[..., None, :]).sum(-1) > 1) & replace
        loc = np.where(clash, (u[..., 4] * self._locs).astype(np.int64), loc)
        gumbel = -np.log(-np.log(u[..., 5:]))
        drawn = np.argmax(gumbel if wide else self._logw[rows[:, None], loc] + gumbel, axis=-1)
        return loc, np.where(replace, drawn, col)

    def _keys_of(self, loc: np.ndarray, col: np.ndarray) -> np.ndarray:
        """A 64-bit hash of each set of k (location, colour) pairs, independent of the pixels' order."""
        codes = np.sort(loc * self._m + col, axis=-1).astype(np.uint64)
        h = np.zeros(codes.shape[:-1], dtype=np.uint64)
        for j in range(codes.shape[-1]):  # splitmix64-style mixing, wrapping modulo 2**64
            h = (h ^ codes[..., j]) * np.uint64(0x9E3779B97F4A7C15)
            h ^= h >> np.uint64(29)
        return h

    def _tried_bits(self, rows: np.ndarray, keys: np.ndarray, mark: bool = False) -> np.ndarray:
        """Whether each (a, n) key's bit is set in its row's bitmap of tried sets (``mark``: set them).

        A bitmap of ``32 * budget`` bits per row instead of a set of every key: memory stays bounded, and
        a false "tried" (about 3 % of draws at the end of the budget) only costs a redraw."""
        bit = (keys & np.uint64(self._tried.shape[1] * 8 - 1)).astype(np.int64)
        byte, mask = bit >> 3, (1 << (bit & 7)).astype(np.uint8)
        r = np.broadcast_to(rows[:, None], keys.shape)
        seen = (self._tried[r, byte] & mask) != 0
        if mark:
            np.bitwise_or.at(self._tried, (r, byte), mask)
        return seen

    def _repeated(self, rows: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """(a, n): proposals (set ``keys``) already tried by their row, or equal to an earlier one of the batch."""
        earlier = np.tril(np.ones((keys.shape[1],) * 2, dtype=bool), -1)
        dup = ((keys[:, :, None] == keys[:, None, :]) & earlier).any(-1)
        return dup | self._tried_bits(rows, keys)

    def tell(self, rows: np.ndarray, fitness: np.ndarray) -> None:
        if self._sp.pixels == 1:
            fine = self._used[rows] >= self._corners
            self._used[rows] += np.isfinite(fitness).sum(1)
            rows, fitness = rows[~fine], fitness[~fine]  # refinement follows its fixed plan: nothing to learn
            # The best fitness seen at each location ranks the elite (and the refinement's locations); its
            # colour is where the refinement starts.
            rr, loc = np.repeat(rows, fitness.shape[1]), self._prop_loc[rows, :, 0].ravel()
            f = fitness.ravel()
            np.minimum.at(self._locfit, (rr, loc), f)
            best = np.isfinite(f) & (f <= self._locfit[rr, loc])
            self._loccol[rr[best], loc[best]] = self._prop_col[rows, :, 0].ravel()[best]
            self._update_elite(rows)
        else:
            self._used[rows] += np.isfinite(fitness).sum(1)
        j = np.argmin(fitness, axis=1)
        f = fitness[np.arange(len(rows)), j]
        # "<=" lets the set drift across plateaus (probabilities often tie after rounding to a corner).
        take = np.isfinite(f) & (f <= self._fit[rows])
        rt, jt = rows[take], j[take]
        self._loc[rt] = self._prop_loc[rt, jt]
        self._col[rt] = self._prop_col[rt, jt]
        self._fit[rt] = f[take]

    def _update_elite(self, rows: np.ndarray) -> None:
        """Re-rank each row's elite after tell(): fitness only falls, so the new best locations are among the
        old elite and the locations just tried; ordered by (fitness, location) as a stable sort orders them."""
        if not len(rows):
            return
        e = self._elite.shape[1]
        cand = np.concatenate([self._elite[rows], self._prop_loc[rows, :, 0]], axis=1)  # (a, e + batch)
        fit = np.take_along_axis(self._locfit[rows], cand, 1)
        order = np.lexsort((cand, fit), axis=-1)
        cand = np.take_along_axis(cand, order, 1)
        repeat = np.zeros(cand.shape, dtype=bool)
        repeat[:, 1:] = cand[:, 1:] == cand[:, :-1]  # a location both in the elite and tried again: adjacent
        first = np.argsort(repeat, axis=1, kind="stable")[:, :e]  # the distinct ones, in order
        self._elite[rows] = np.take_along_axis(cand, first, 1)

    def exhausted(self, rows: np.ndarray) -> np.ndarray:
        return self._used[rows] >= self._cap


def _refine_colours(channels: int) -> np.ndarray:
    """The colours of the ``REFINE_LEVELS`` grid that are not cube corners (117 for RGB)."""
    grid = colour_grid(channels, REFINE_LEVELS)
    return grid[~np.isin(grid, (0.0, 255.0)).all(1)]


def _centre_prior(h: int, w: int, sigma: float | None) -> np.ndarray:
    """Log-weights of the H*W locations: a Gaussian around the image centre with ``sigma`` in image sizes
    (0 everywhere for None)."""
    if sigma is None:
        return np.zeros(h * w)
    ys, xs = np.divmod(np.arange(h * w), w)
    d2 = ((ys - (h - 1) / 2) / h) ** 2 + ((xs - (w - 1) / 2) / w) ** 2
    return -d2 / (2 * sigma**2)


def _neighbourhoods(h: int, w: int, radius: int, locs: np.ndarray) -> np.ndarray:
    """(len(locs), (2r+1)^2) flat locations within ``radius`` (Chebyshev) of each of ``locs``, -1 outside the
    image (computed for the locations asked about: a table for every location would not fit a large photo)."""
    ys, xs = np.divmod(np.asarray(locs), w)
    d = np.arange(-radius, radius + 1)
    dy, dx = (a.ravel() for a in np.meshgrid(d, d, indexing="ij"))
    ny, nx = ys[:, None] + dy, xs[:, None] + dx
    inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
    return np.where(inside, ny * w + nx, -1)
