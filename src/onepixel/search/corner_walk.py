"""The random search at k = 1: a walk over the best-looking half of the one-pixel corner changes, the untried
corners at its best locations, then refinement.

The space is small (H * W * M changes, 8,192 on CIFAR-10), so the walk never proposes a (location, colour)
twice. Each row keeps one fixed random order of the changes (log-weight + Gumbel noise, drawn once: sampling
without replacement by weight); a share ``local`` of each round's slots goes instead to the best-keyed untried
change around one of the ``elite`` best locations found so far, the rest walk on along the order. The walk
stops after the ``sweep`` share of the changes (0.5; 1: every change, the corner oracle's exact answer): its
last ones are each pixel's nearest corner colours, which barely change the image, and in every stored 200-image
cell of the four zoo nets (1,600 attacks) no corner change fooled an image after its 2,624th query.

Rounds: ``batch`` proposals per image while the search is greedy (its first ``greedy`` queries, where nearly
every success is found: the elite moves after every small round), then ``wide`` proposals per round. By then
an image that has not fallen is usually one no corner change fools; large rounds let the model run few, full
chunks instead of hundreds of rounds of 8 rows, each paying the Python and launch overhead of a whole round (on a
GPU, a host sync). A round never crosses the end of a phase, so each phase starts on a round of its own.

Completion: a partial sweep leaves some corners untried at locations that matter, and the refinement ranks
locations by their best corner. So the search next scores the first ``COMPLETE`` untried corner changes at its
best locations so far, best location first (on AllConv test image 106 the fooling colour (0, 0, 128) sits next
to black, the corner nearest the pixel's own and so walked last; without it the location ranks 31st, with it 7th).

Refinement: the paper's DE fools a few images that no corner change fools (4 of 200 on AllConv, 1 of 100 on
NiN and ResNet-20), always within a few of the best corner locations and near the best corner colour there.
After the corners, the search tries the colours of a 5-level grid (117 non-corner colours) at the
``REFINE_LOCATIONS`` locations with the best fitness, in rounds: each location's nearest untried colour to its
best corner first. On those six images the first fooling change came after 0-242 refinement queries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..candidates import PixelSpace
from .colours import colour_grid
from .locations import centre_prior, corner_candidates, corner_log_weights, neighbourhoods

if TYPE_CHECKING:
    from .random import RandomSearch

#: how many of the best corner locations the refinement tries finer colours at, and the grid's levels
REFINE_LOCATIONS = 30
REFINE_LEVELS = 5
#: after a partial sweep: how many untried corner changes at the best locations are scored before the refinement
COMPLETE = 256


class CornerWalk:
    """State of the k = 1 random search for a batch of images (one row each), with ``settings``'s options."""

    def __init__(self, settings: RandomSearch, space: PixelSpace, seeds: list[int]) -> None:
        s = self.settings = settings
        self.space = space
        n = len(seeds)
        self.colours = colour_grid(space.channels, s.levels)
        self.m = len(self.colours)
        self.locs = space.height * space.width
        self.corners = self.locs * self.m  # every (location, colour) of the grid
        # the corner changes walked before the refinement: ``sweep`` of them, best-looking first
        self.walked = max(1, min(self.corners, int(np.ceil(s.sweep * self.corners))))
        # A partial sweep leaves out the colours the walk ranks last, each pixel's nearest: before refining, the
        # untried corners at the best locations so far are scored, so that the refinement ranks locations by
        # their best corner, not by the ones the sweep happened to reach (none with a full sweep).
        self.n_complete = max(0, min(COMPLETE, self.corners - self.walked, s.budget - self.walked))
        self.fine_start = self.walked + self.n_complete
        self.fine = _refine_colours(space.channels) if s.levels == 2 else np.empty((0, space.channels))
        self.n_refine = max(0, min(s.refine, s.budget - self.fine_start, min(REFINE_LOCATIONS, self.locs) * len(self.fine)))
        self.cap = min(s.budget, self.walked) + self.n_complete + self.n_refine
        self.widest = max(s.batch, s.wide)  # the most proposals a round can have
        self.rngs = [np.random.default_rng(np.random.SeedSequence([seed, 0x5125])) for seed in seeds]
        self.where = centre_prior(space.height, space.width, s.centre)  # log-weights of locations
        self.fit = np.full(n, np.inf)  # the best fitness so far
        self.used = np.zeros(n, dtype=np.int64)
        self.visited = np.zeros((n, self.corners), dtype=bool)
        # Sampling without replacement by weight = sorting by log-weight + Gumbel noise drawn once, so each row
        # keeps one fixed random order (global proposals walk it; local ones take the best local key).
        self.noise = np.stack([-np.log(-np.log(r.random(self.corners))) for r in self.rngs]) if n else \
            np.empty((0, self.corners))
        self._sort_keys(np.repeat(self.where, self.m)[None].repeat(n, 0))
        self.locfit = np.full((n, self.locs), np.inf)  # the best fitness seen at each location
        # The ``elite`` best locations, as a stable sort of locfit would rank them (all untried: the first
        # ones); kept up to date in tell() instead of sorting every location every round.
        self.elite = np.tile(np.arange(min(s.elite, self.locs)), (n, 1))
        self.loccol = np.zeros((n, self.locs), dtype=np.int64)  # the best colour seen at each location
        top = min(REFINE_LOCATIONS, self.locs)
        # Refinement plan per row, fixed when the row enters refinement: its best locations and, per location,
        # the fine colours nearest its best corner first.
        self.planned = np.zeros(n, dtype=bool)
        self.plan_locs = np.zeros((n, top), dtype=np.int64)
        self.plan_colours = np.zeros((n, top, len(self.fine)), dtype=np.int64)
        self.fine_pos = np.zeros(n, dtype=np.int64)  # refinement changes proposed so far, per row
        self.completion = np.full((n, self.n_complete), -1, dtype=np.int64)  # fixed when a row's sweep ends
        self.prop_loc = np.zeros((n, self.widest), dtype=np.int64)  # the last round's proposals
        self.prop_col = np.zeros((n, self.widest), dtype=np.int64)

    def observe(self, images: np.ndarray) -> None:
        """Weight corners by their distance to each image's own pixels (uint8 (n, H, W, C) clean images)."""
        t = self.settings.temperature
        if t is None:
            return
        logw = corner_log_weights(images, self.locs, self.colours, t)
        logw += self.where[None, :, None]  # in place: these arrays are H * W * 8 per image
        del self.keys  # the old keys go before the new ones are made
        self._sort_keys(logw.reshape(len(images), -1))

    def _sort_keys(self, logw: np.ndarray) -> None:
        """Each row's fixed order of changes: by log-weight + its Gumbel noise, highest first. The walk can never
        get further than the changes proposed so far plus a chunk, so on a large image (a full-resolution photo
        has millions of changes) only the first ``cap`` + a few rounds are ordered: a partition, not a sort."""
        logw += self.noise  # in place: callers hand over a temporary
        self.keys = logw
        size = self.keys.shape[1]
        length = min(size, self.cap + 4 * self.widest + 64)
        if length == size:
            self.order = np.argsort(-self.keys, axis=1, kind="stable")
        else:
            self.order = np.empty((len(logw), length), dtype=np.int64)
            for i, keys in enumerate(self.keys):
                top = np.argpartition(-keys, length - 1)[:length]
                self.order[i] = top[np.lexsort((top, -keys[top]))]  # as the stable sort orders them
        self.ptr = np.zeros(len(logw), dtype=np.int64)

    def max_queries(self) -> int:
        """The ``sweep`` share of the H * W * M corner changes, the completion and the refinement, within the budget."""
        return self.cap

    def round_sizes(self, rows: np.ndarray) -> np.ndarray:
        """Proposals of each row's next round: ``batch`` while greedy, then ``wide``; a round stops at the end
        of each phase: the walk, the completion, the refinement (at least one, so a row is never asked for nothing)."""
        s, used = self.settings, self.used[rows]
        size = np.where(used < s.greedy, s.batch, s.wide)
        end = np.where(used < self.walked, min(self.walked, self.cap),
                       np.where(used < self.fine_start, min(self.fine_start, self.cap), self.cap))
        return np.maximum(1, np.minimum(size, end - used))

    def ask(self, rows: np.ndarray) -> np.ndarray:
        size = self.round_sizes(rows)
        width = int(size.max()) if len(rows) else self.settings.batch
        used = self.used[rows]
        fine = used >= self.fine_start  # corners done, refining
        out = np.empty((len(rows), width, self.space.dim))
        if (~fine).any():
            walking = used < self.walked
            if walking.any():
                self._propose_corners(rows[walking], size[walking], width)
            if (~walking & ~fine).any():
                self._propose_completion(rows[~walking & ~fine], size[~walking & ~fine], width)
            corner = rows[~fine]
            out[~fine] = corner_candidates(self.prop_loc[corner, :width, None], self.prop_col[corner, :width, None],
                                           self.colours, self.space.width)
        if fine.any():
            out[fine] = self._propose_fine(rows[fine], size[fine], width)
        return out

    def _propose_corners(self, rows: np.ndarray, size: np.ndarray, width: int) -> None:
        """``size`` distinct untried (location, colour) pairs per row. With probability ``local`` a slot goes to
        the best-keyed untried change around one of the row's ``elite`` best locations so far (slots shared out
        best first); the others walk on along the row's fixed order. Proposals count as tried. Columns past a
        row's size repeat its first proposal (they are never evaluated)."""
        s, m, a = self.settings, self.m, len(rows)
        u = np.ones((a, width))  # the only random draws: which slots go local (padding: never)
        for i, r in enumerate(rows):
            u[i, : size[i]] = self.rngs[r].random(size[i])
        n_local = np.where(np.isfinite(self.fit[rows]), (u < s.local).sum(1), 0)
        e = min(s.elite, self.locs)
        elite = self.elite[rows]  # (a, e) best locations first
        elite_fit = self.locfit[rows[:, None], elite]
        picks = np.zeros((a, width), dtype=np.int64)
        filled = np.zeros(a, dtype=np.int64)
        for j in range(e):  # a handful of elite members, each vectorised over rows
            share = (n_local + e - 1 - j) // e  # slots of member j: n_local split as evenly as possible
            share = np.where(np.isfinite(elite_fit[:, j]), share, 0)
            near = neighbourhoods(self.space.height, self.space.width, s.radius, elite[:, j])  # (a, S)
            cand = (np.maximum(near, 0)[:, :, None] * m + np.arange(m)).reshape(a, -1)
            ok = np.repeat(near >= 0, m, axis=1) & ~self.visited[rows[:, None], cand]
            order = np.argsort(np.where(ok, -self.keys[rows[:, None], cand], np.inf), axis=1, kind="stable")[:, :width]
            take = np.take_along_axis(ok, order, 1) & (np.arange(order.shape[1]) < share[:, None])
            ri, ci = np.nonzero(take)
            slot = filled[ri] + ci  # take is a prefix of each row
            picks[ri, slot] = np.take_along_axis(cand, order, 1)[ri, ci]
            self.visited[rows[ri], picks[ri, slot]] = True
            filled += take.sum(1)
        self._walk(rows, picks, filled, size)
        picks = np.where(np.arange(width) < size[:, None], picks, picks[:, :1])
        self.prop_loc[rows, :width], self.prop_col[rows, :width] = np.divmod(picks, m)

    def _walk(self, rows: np.ndarray, picks: np.ndarray, filled: np.ndarray, size: np.ndarray) -> None:
        """Fill ``picks[i, filled[i]:size[i]]`` with the next untried changes along each row's fixed order (the
        first untried ones, whatever the look-ahead: the result does not depend on the other rows)."""
        length = self.order.shape[1]
        chunk = np.arange(2 * picks.shape[1] + 16)
        todo = np.nonzero(filled < size)[0]
        while todo.size:
            r = rows[todo]
            pos = self.ptr[r][:, None] + chunk
            ent = self.order[r[:, None], np.minimum(pos, length - 1)]
            free = (pos < length) & ~self.visited[r[:, None], ent]
            rank = np.cumsum(free, axis=1)
            need = size[todo] - filled[todo]
            chosen = free & (rank <= need[:, None])
            bi, ci = np.nonzero(chosen)
            picks[todo[bi], filled[todo[bi]] + rank[bi, ci] - 1] = ent[bi, ci]
            self.visited[r[bi], ent[bi, ci]] = True
            got = chosen.sum(1)
            # Entries before the last one chosen are all tried; a chunk that did not suffice is used up.
            last = len(chunk) - np.argmax(chosen[:, ::-1], axis=1)
            self.ptr[r] += np.where(got == need, last, len(chunk))
            filled[todo] += got
            spent = self.ptr[r] >= length  # nothing untried is left: pad (the budget ends before the padding)
            pad = todo[spent]
            picks[pad] = np.where(np.arange(picks.shape[1]) >= filled[pad][:, None], picks[pad, :1], picks[pad])
            filled[pad] = size[pad]
            todo = todo[filled[todo] < size[todo]]

    def _propose_completion(self, rows: np.ndarray, size: np.ndarray, width: int) -> None:
        """The next ``size`` changes of each row's completion: its untried corner changes at its best locations so
        far (ranked as a stable sort of the best fitness per location ranks them; colours in grid order), the first
        ``n_complete`` of them, fixed when the row's sweep ends. Columns past a row's size repeat its first."""
        new = rows[self.completion[rows, 0] < 0]
        if len(new):
            ranked = np.argsort(self.locfit[new], axis=1, kind="stable")  # (a, locations), best first
            change = ranked[:, :, None] * self.m + np.arange(self.m)  # (a, locations, colours)
            untried = ~np.take_along_axis(self.visited[new].reshape(len(new), self.locs, self.m), ranked[:, :, None], 1)
            first = np.argsort(~untried.reshape(len(new), -1), axis=1, kind="stable")[:, : self.n_complete]
            self.completion[new] = np.take_along_axis(change.reshape(len(new), -1), first, 1)
        col = np.minimum(np.arange(width), size[:, None] - 1)
        pos = np.minimum(self.used[rows][:, None] - self.walked + col, self.n_complete - 1)
        picks = np.take_along_axis(self.completion[rows], pos, 1)
        picks = np.where(np.arange(width) < size[:, None], picks, picks[:, :1])
        self.visited[rows[:, None], picks] = True
        self.prop_loc[rows, :width], self.prop_col[rows, :width] = np.divmod(picks, self.m)

    def _plan(self, rows: np.ndarray) -> None:
        """Fix the refinement plan of rows entering refinement: their best locations (as a stable sort of the
        best fitness per location ranks them) and each one's fine colours, nearest its best corner first."""
        top = self.plan_locs.shape[1]
        best_locs = np.argsort(self.locfit[rows], axis=1, kind="stable")[:, :top]
        best = self.colours[np.take_along_axis(self.loccol[rows], best_locs, 1)]  # (a, top, C)
        dist = np.linalg.norm(self.fine[None, None] - best[:, :, None], axis=-1)  # (a, top, colours)
        self.plan_locs[rows] = best_locs
        self.plan_colours[rows] = np.argsort(dist, axis=2, kind="stable")
        self.planned[rows] = True

    def _propose_fine(self, rows: np.ndarray, size: np.ndarray, width: int) -> np.ndarray:
        """The next ``size`` refinement changes of each row (colour rounds over the row's best locations),
        padded past the end of the plan and to ``width``."""
        new = rows[~self.planned[rows]]
        if len(new):
            self._plan(new)
        top = self.plan_locs.shape[1]
        step = np.minimum(np.arange(width), size[:, None] - 1)  # columns past a row's size repeat its last
        t = np.minimum(self.fine_pos[rows][:, None] + step, self.n_refine - 1)
        self.fine_pos[rows] += size
        rank, slot = np.divmod(t, top)
        loc = np.take_along_axis(self.plan_locs[rows], slot, 1)
        colour = self.plan_colours[rows[:, None], slot, rank]
        y, x = np.divmod(loc, self.space.width)
        return np.concatenate([x[..., None], y[..., None], self.fine[colour]], axis=-1).astype(np.float64)

    def tell(self, rows: np.ndarray, fitness: np.ndarray) -> None:
        fine = self.used[rows] >= self.fine_start
        self.used[rows] += np.isfinite(fitness).sum(1)
        rows, fitness = rows[~fine], fitness[~fine]  # refinement follows its fixed plan: nothing to learn
        width = fitness.shape[1]
        # The best fitness seen at each location ranks the elite (and the refinement's locations); its
        # colour is where the refinement starts.
        rr, loc = np.repeat(rows, width), self.prop_loc[rows, :width].ravel()
        f = fitness.ravel()
        np.minimum.at(self.locfit, (rr, loc), f)
        best = np.isfinite(f) & (f <= self.locfit[rr, loc])
        self.loccol[rr[best], loc[best]] = self.prop_col[rows, :width].ravel()[best]
        self._update_elite(rows, width)
        self.fit[rows] = np.minimum(self.fit[rows], fitness.min(1, initial=np.inf))

    def _update_elite(self, rows: np.ndarray, width: int) -> None:
        """Re-rank each row's elite after tell(): fitness only falls, so the new best locations are among the
        old elite and the locations just tried; ordered by (fitness, location) as a stable sort orders them."""
        if not len(rows):
            return
        e = self.elite.shape[1]
        cand = np.concatenate([self.elite[rows], self.prop_loc[rows, :width]], axis=1)  # (a, e + width)
        fit = np.take_along_axis(self.locfit[rows], cand, 1)
        order = np.lexsort((cand, fit), axis=-1)
        cand = np.take_along_axis(cand, order, 1)
        repeat = np.zeros(cand.shape, dtype=bool)
        repeat[:, 1:] = cand[:, 1:] == cand[:, :-1]  # a location both in the elite and tried again: adjacent
        first = np.argsort(repeat, axis=1, kind="stable")[:, :e]  # the distinct ones, in order
        self.elite[rows] = np.take_along_axis(cand, first, 1)

    def exhausted(self, rows: np.ndarray) -> np.ndarray:
        return self.used[rows] >= self.cap


def _refine_colours(channels: int) -> np.ndarray:
    """The colours of the ``REFINE_LEVELS`` grid that are not cube corners (117 for RGB)."""
    grid = colour_grid(channels, REFINE_LEVELS)
    return grid[~np.isin(grid, (0.0, 255.0)).all(1)]
