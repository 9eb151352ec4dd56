"""The attack loop: the one place that queries the model.

For a batch of images: ask the search for candidates, build the perturbed images, query the model in
search precision, score them with the criterion, tell the search, re-verify apparent successes in
reference precision, and retire each image as soon as it is done. Queries are counted per image.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .candidates import Pixels, PixelSpace, decode
from .errors import InputError
from .memo import QueryMemo, query_keys
from .models.base import Classifier
from .objectives import Criterion
from .results import AttackResult, AttackResults
from .run_state import Batch, BatchState, Round
from .search.base import Search


@dataclass(frozen=True)
class RunProgress:
    """Where a run stands after a search round (what ``Runner.run`` hands its ``progress`` callback).

    ``queries`` only grows; ``max_queries`` only shrinks (an image that stops early gives back its unspent budget),
    and both meet when the run ends, so ``queries / max_queries`` is a fraction of the work that moves every round.
    """

    finished: int  #: images done
    images: int  #: images in the run
    successes: int  #: of the finished images
    queries: int  #: search queries spent so far, by finished and unfinished images
    max_queries: int  #: the most the run can spend: ``queries`` plus every unfinished image's unspent budget
    #: per image, the true class's probability (untargeted) or the target's (targeted) at its best candidate so
    #: far, in search precision (nan before its first round)
    best_prob: np.ndarray
    #: per image, search queries spent so far (what an ETA's model of early stops reads: :mod:`onepixel.progress`)
    image_queries: np.ndarray
    #: per image, whether it is still being attacked
    running: np.ndarray
    #: the most search queries one image may spend
    budget: int


ProgressFn = Callable[[RunProgress], None]


@dataclass
class Runner:
    """Runs one search with one criterion against one model.

    Args:
        model: the classifier to query.
        criterion: what counts as adversarial and when to stop (:mod:`onepixel.objectives`).
        search: the strategy proposing candidates (:mod:`onepixel.search`).
        pixels: how many pixels each candidate changes (k >= 1).
        max_queries: per-image cap on search queries (None: the search's own maximum).
        memo: answer repeated changes from memory (:mod:`onepixel.memo`); results are identical either way.
    """

    model: Classifier
    criterion: Criterion
    search: Search
    pixels: int = 1
    max_queries: int | None = None
    memo: bool = True

    def run(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        targets: np.ndarray | None,
        seeds: list[int],
        progress: ProgressFn | None = None,
        on_results: Callable[[list[AttackResult]], None] | None = None,
    ) -> AttackResults:
        """Attack validated uint8 NHWC ``images`` with int ``labels`` (and ``targets``); one seed per image.

        ``on_results`` is called with the results of the images that finished in a round, as soon as they
        are finished (so a caller can store them at once); the returned list is in input order.
        """
        batch = self._batch(images, labels, targets, seeds)
        self.search.start(batch.space, list(seeds))
        self.search.observe(images)  # the attacker always has the clean images
        budget = min(self.max_queries or np.iinfo(np.int64).max, self.search.max_queries())
        state = BatchState.start(len(images), batch.space.dim, batch.clean.shape[1])
        memo = QueryMemo(batch.clean.shape[1]) if self.memo else None
        while state.active.size:
            rnd = self._search_round(batch, state, budget, memo)
            self._keep_best(state, rnd)
            self._verify_successes(batch, state, rnd)
            self._retire(batch, state, budget, memo, on_results)
            if progress is not None:
                progress(self._progress(state, budget))
        return AttackResults(state.results[i] for i in range(len(images)))

    # ------------------------------------------------------------------------------------------ the steps
    def _batch(self, images: np.ndarray, labels: np.ndarray, targets: np.ndarray | None, seeds: list[int]) -> Batch:
        """The run's fixed inputs, with the clean images' reference probabilities (which also check the labels)."""
        _, h, w, c = images.shape
        bases = torch.from_numpy(np.ascontiguousarray(images)).to(self.model.device)
        clean = self.model.probs(bases, reference=True)
        _check_classes(labels, targets, clean.shape[1])
        return Batch(images, bases, labels, targets, seeds, clean, PixelSpace(h, w, c, self.pixels))

    def _search_round(self, batch: Batch, state: BatchState, budget: int, memo: QueryMemo | None) -> Round:
        """Ask the search for the active images' candidates, query them in search precision (each image's own
        round size, within its budget), score them with the criterion, tell the search and count the queries."""
        active = state.active
        lab, tg = batch.labels[active], batch.targets_of(active)
        trials = self.search.ask(active)
        a, p, _ = trials.shape
        sizes = self._round_sizes(active, p)
        n_eval = np.minimum(sizes, budget - state.queries[active])
        evaluated = np.arange(p)[None, :] < n_eval[:, None]
        probs = np.zeros((a, p, batch.clean.shape[1]))
        for size in np.unique(sizes):  # chunks follow each image's own round size, never its batch-mates'
            rows, cols = np.nonzero(evaluated & (sizes == size)[:, None])
            probs[rows, cols] = self._search_query(batch.bases, active[rows], decode(trials[rows, cols], batch.space),
                                                   int(size), memo, state.model_queries)
        fitness = np.where(evaluated, self.criterion.fitness(probs, lab, tg), np.inf)
        self.search.tell(active, fitness)
        start = state.queries[active].copy()
        state.queries[active] += n_eval
        state.rounds[active] += 1
        return Round(active, lab, tg, trials, evaluated, probs, fitness, start)

    def _keep_best(self, state: BatchState, rnd: Round) -> None:
        """Keep each image's best candidate so far (search precision) and its goal class's probability."""
        active = rnd.active
        j = np.argmin(rnd.fitness, axis=1)
        f = rnd.fitness[np.arange(len(active)), j]
        better = f < state.best_fit[active]
        state.best_fit[active[better]] = f[better]
        state.best_cand[active[better]] = rnd.trials[better, j[better]]
        goal = rnd.labels if rnd.targets is None else rnd.targets  # the class whose probability the progress shows
        state.best_prob[active[better]] = rnd.probs[better, j[better], goal[better]]

    def _verify_successes(self, batch: Batch, state: BatchState, rnd: Round) -> None:
        """Re-verify the most promising apparent success of each image in reference precision; when the
        reference rejects it (a fast-precision false positive), try that image's next one of this round, so a
        false positive cannot hide a true success (searches that never retry a change would lose it)."""
        flagged = self.criterion.is_adversarial(rnd.probs, rnd.labels, rnd.targets) & rnd.evaluated
        flag_fit = np.where(flagged, rnd.fitness, np.inf)
        a = len(rnd.active)
        retry = np.ones(a, dtype=bool)
        while retry.any():
            jf = np.argmin(flag_fit, axis=1)
            ff = flag_fit[np.arange(a), jf]
            check = retry & np.isfinite(ff) & (ff < state.adv_fit[rnd.active])
            if not check.any():
                break
            ci = np.nonzero(check)[0]
            ok = self._verify(batch, state, rnd, ci, jf[ci], flagged, flag_fit)
            retry[:] = False
            retry[ci[~ok]] = True
            flag_fit[ci[~ok], jf[ci[~ok]]] = np.inf

    def _verify(self, batch: Batch, state: BatchState, rnd: Round, ci: np.ndarray, jc: np.ndarray,
                flagged: np.ndarray, flag_fit: np.ndarray) -> np.ndarray:
        """Check candidate ``jc`` of round rows ``ci`` in reference precision and keep each success that beats
        its image's best (dating its image's first one); returns which succeeded."""
        crit = self.criterion
        imgs, cand = rnd.active[ci], rnd.trials[ci, jc]
        lab, tg = rnd.labels[ci], rnd.targets_of(ci)
        if self.model.has_fast_precision:
            cp = decode(cand, batch.space)
            ref = self.model.query(batch.bases, imgs, cp.x, cp.y, cp.colours, reference=True)
            state.verify_queries[imgs] += 1
        else:
            ref = rnd.probs[ci, jc]
        r3 = ref[:, None, :]
        ok = crit.is_adversarial(r3, lab, tg)[:, 0]
        stop = crit.should_stop(r3, lab, tg)[:, 0]
        rf = crit.fitness(r3, lab, tg)[:, 0]
        upd = ok & (rf < state.adv_fit[imgs])
        first = upd & (state.first_success[imgs] < 0)
        if first.any():
            fi = ci[first]
            # candidates the reference already rejected this round (their flag_fit is inf) are not asked again
            unrejected = flagged[fi] & np.isfinite(flag_fit[fi])
            state.first_success[rnd.active[fi]] = rnd.start[fi] + self._earliest_success(
                batch, state, rnd, fi, unrejected, jc[first]) + 1
        state.adv_fit[imgs[upd]] = rf[upd]
        state.adv_cand[imgs[upd]] = cand[upd]
        state.adv_probs[imgs[upd]] = ref[upd]
        state.done[imgs[stop]] = True
        return ok

    def _retire(self, batch: Batch, state: BatchState, budget: int, memo: QueryMemo | None,
                on_results: Callable[[list[AttackResult]], None] | None) -> None:
        """Finish the images that are done, out of budget or exhausted: their results (handed to ``on_results``
        at once) and their memo entries; the rest stay active."""
        active = state.active
        finished = state.done[active] | (state.queries[active] >= budget) | self.search.exhausted(active)
        state.seconds[active[finished]] = time.perf_counter() - state.started
        if finished.any():
            results = self._results(batch, state, active[finished])
            state.results.update((r.index, r) for r in results)
            if on_results is not None:
                on_results(results)
        if memo is not None:
            memo.forget(active[finished])
        state.active = active[~finished]

    @staticmethod
    def _progress(state: BatchState, budget: int) -> RunProgress:
        spent = int(state.queries.sum())
        running = np.zeros(len(state.queries), dtype=bool)
        running[state.active] = True
        return RunProgress(len(state.results), len(state.queries), sum(r.success for r in state.results.values()),
                           spent, spent + int((budget - state.queries[state.active]).sum()), state.best_prob.copy(),
                           state.queries.copy(), running, int(budget))

    # ------------------------------------------------------------------------------------------ helpers
    def _round_sizes(self, rows: np.ndarray, width: int) -> np.ndarray:
        """Real proposals per row in the round ``ask`` just returned ``width`` columns for: a search may hold
        fewer for some rows (``round_sizes``, e.g. the random search's small greedy rounds beside wide ones);
        the columns past them are padding. Where it returns None every column is a proposal."""
        sizes = self.search.round_sizes(rows)
        full = np.full(len(rows), width, dtype=np.int64)
        return full if sizes is None else np.minimum(np.asarray(sizes, dtype=np.int64), full)

    def _earliest_success(self, batch: Batch, state: BatchState, rnd: Round, fi: np.ndarray, flagged: np.ndarray,
                          verified: np.ndarray) -> np.ndarray:
        """For round rows ``fi``, the index in the round of the earliest candidate that succeeds in reference
        precision.

        The candidate ``verified`` (the round's best-fitness success) succeeds; an earlier ``flagged`` candidate
        may too, and a smaller budget would have stopped there. Without a fast precision the search's
        probabilities are the reference ones, so every flagged candidate succeeds; otherwise the earlier flagged
        ones are re-checked in reference precision (once per image: only in the round of its first success).
        """
        earliest = verified.copy()
        rows, cols = np.nonzero(flagged & (np.arange(flagged.shape[1])[None, :] < verified[:, None]))
        if not rows.size:
            return earliest
        if self.model.has_fast_precision:
            imgs, trials = rnd.active[fi], rnd.trials[fi]
            cp = decode(trials[rows, cols], batch.space)
            ref = self.model.query(batch.bases, imgs[rows], cp.x, cp.y, cp.colours, reference=True)
            np.add.at(state.verify_queries, imgs[rows], 1)
            ok = self.criterion.is_adversarial(ref[:, None, :], rnd.labels[fi][rows],
                                               rnd.targets[fi][rows] if rnd.targets is not None else None)[:, 0]
            rows, cols = rows[ok], cols[ok]
        np.minimum.at(earliest, rows, cols)
        return earliest

    def _search_query(self, bases: torch.Tensor, which: np.ndarray, pix: Pixels, per_image: int,
                      memo: QueryMemo | None, model_queries: np.ndarray) -> np.ndarray:
        """Search-precision probabilities of the changes ``pix`` to ``bases[which]``; with a memo, only changes
        not asked about before (and each only once per round) reach the model."""
        if memo is None:
            np.add.at(model_queries, which, 1)
            return self.model.query(bases, which, pix.x, pix.y, pix.colours, reference=False, rows_per_image=per_image)
        keys = query_keys(which, pix)
        out, found = memo.lookup(keys)
        missing = np.nonzero(~found)[0]
        if missing.size:
            _, first, inverse = np.unique(keys[missing], axis=0, return_index=True, return_inverse=True)
            ask = missing[first]
            np.add.at(model_queries, which[ask], 1)
            fresh = self.model.query(bases, which[ask], pix.x[ask], pix.y[ask], pix.colours[ask], reference=False,
                                     rows_per_image=per_image)
            out[missing] = fresh[inverse.reshape(-1)]
            memo.add(keys[ask], fresh)
        return out

    # ------------------------------------------------------------------------------------------ results
    def _final(self, batch: Batch, state: BatchState, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The candidate each finished image in ``rows`` reports (its best verified success, else its best
        candidate) and that candidate's reference-precision probabilities."""
        found = np.isfinite(state.adv_fit[rows])
        final = np.where(found[:, None], state.adv_cand[rows], state.best_cand[rows])
        after = state.adv_probs[rows].copy()
        if (~found).any():
            # Failures: report the best candidate's reference-precision probabilities.
            miss = np.nonzero(~found)[0]
            mp = decode(final[miss], batch.space)
            after[miss] = self.model.query(batch.bases, rows[miss], mp.x, mp.y, mp.colours, reference=True)
            state.verify_queries[rows[miss]] += 1
        return final, after

    def _results(self, batch: Batch, state: BatchState, rows: np.ndarray) -> list[AttackResult]:
        """Results of the finished image ``rows``."""
        final, after = self._final(batch, state, rows)
        labels, targets, clean = batch.labels, batch.targets, batch.clean
        success = self.criterion.is_adversarial(after[:, None, :], labels[rows], batch.targets_of(rows))[:, 0]
        pix: Pixels = decode(final, batch.space)
        out = []
        for j, i in enumerate(rows):
            adv = batch.images[i].copy()
            adv[pix.y[j], pix.x[j]] = pix.colours[j]
            pred = int(after[j].argmax())
            out.append(AttackResult(
                index=int(i),
                success=bool(success[j]),
                label=int(labels[i]),
                target=None if targets is None else int(targets[i]),
                pixels=pix.as_rows((j,)),
                label_prob_before=float(clean[i, labels[i]]),
                label_prob_after=float(after[j, labels[i]]),
                predicted_before=int(clean[i].argmax()),
                predicted_after=pred,
                predicted_prob_after=float(after[j, pred]),
                target_prob_after=None if targets is None else float(after[j, targets[i]]),
                queries=int(state.queries[i]),
                verify_queries=int(state.verify_queries[i]),
                generations=int(state.rounds[i]) - 1,
                seconds=float(state.seconds[i]),
                seed=int(batch.seeds[i]),
                adversarial=adv,
                model_queries=int(state.model_queries[i]),
                # a success found only by the final reference check (a fast-precision miss) is dated at the stop
                first_success_query=(int(state.first_success[i]) if state.first_success[i] >= 0
                                     else int(state.queries[i])) if success[j] else None,
            ))
        return out


def _check_classes(labels: np.ndarray, targets: np.ndarray | None, k: int) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise InputError(f"labels must be class indices in 0..{k - 1} for this {k}-class model (got {labels.min()}..{labels.max()})")
    if targets is not None and targets.size and (targets.min() < 0 or targets.max() >= k):
        raise InputError(f"targets must be class indices in 0..{k - 1} for this {k}-class model (got {targets.min()}..{targets.max()})")
