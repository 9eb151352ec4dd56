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
        n, h, w, c = images.shape
        space = PixelSpace(h, w, c, self.pixels)
        model, crit = self.model, self.criterion
        bases = torch.from_numpy(np.ascontiguousarray(images)).to(model.device)
        clean = model.probs(bases, reference=True)
        _check_classes(labels, targets, clean.shape[1])

        self.search.start(space, list(seeds))
        if hasattr(self.search, "observe"):  # an optional hook: the attacker always has the clean images
            self.search.observe(images)
        budget = min(self.max_queries or np.iinfo(np.int64).max, self.search.max_queries())
        queries = np.zeros(n, dtype=np.int64)
        first_success = np.full(n, -1, dtype=np.int64)  # search query of the first verified success; -1: none
        verify_queries = np.zeros(n, dtype=np.int64)
        rounds = np.zeros(n, dtype=np.int64)
        best_fit, best_cand = np.full(n, np.inf), np.zeros((n, space.dim))
        best_prob = np.full(n, np.nan)
        adv_fit, adv_cand = np.full(n, np.inf), np.zeros((n, space.dim))
        adv_probs = np.zeros_like(clean)
        done = np.zeros(n, dtype=bool)
        seconds = np.zeros(n)
        active = np.arange(n)
        t0 = time.perf_counter()
        results: dict[int, AttackResult] = {}
        memo = QueryMemo(clean.shape[1]) if self.memo else None
        model_queries = np.zeros(n, dtype=np.int64)

        while active.size:
            lab = labels[active]
            tg = targets[active] if targets is not None else None
            trials = self.search.ask(active)
            a, p, _ = trials.shape
            sizes = self._round_sizes(active, p)
            n_eval = np.minimum(sizes, budget - queries[active])
            evaluated = np.arange(p)[None, :] < n_eval[:, None]
            probs = np.zeros((a, p, clean.shape[1]))
            for size in np.unique(sizes):  # chunks follow each image's own round size, never its batch-mates'
                rows, cols = np.nonzero(evaluated & (sizes == size)[:, None])
                probs[rows, cols] = self._search_query(bases, active[rows], decode(trials[rows, cols], space),
                                                       int(size), memo, model_queries)
            fitness = np.where(evaluated, crit.fitness(probs, lab, tg), np.inf)
            self.search.tell(active, fitness)
            start = queries[active].copy()  # candidate j of this round is query start + j + 1 of its image
            queries[active] += n_eval
            rounds[active] += 1

            j = np.argmin(fitness, axis=1)
            f = fitness[np.arange(a), j]
            better = f < best_fit[active]
            best_fit[active[better]] = f[better]
            best_cand[active[better]] = trials[better, j[better]]
            goal = lab if tg is None else tg  # the class whose probability the progress shows
            best_prob[active[better]] = probs[better, j[better], goal[better]]

            # Re-verify the most promising apparent success of each image in reference precision; when the
            # reference rejects it (a fast-precision false positive), try that image's next one of this round,
            # so a false positive cannot hide a true success (searches that never retry a change would lose it).
            flagged = crit.is_adversarial(probs, lab, tg) & evaluated
            flag_fit = np.where(flagged, fitness, np.inf)
            retry = np.ones(a, dtype=bool)
            while retry.any():
                jf = np.argmin(flag_fit, axis=1)
                ff = flag_fit[np.arange(a), jf]
                check = retry & np.isfinite(ff) & (ff < adv_fit[active])
                if not check.any():
                    break
                ci = np.nonzero(check)[0]
                imgs, cand = active[ci], trials[ci, jf[ci]]
                if model.has_fast_precision:
                    cp = decode(cand, space)
                    ref = model.query(bases, imgs, cp.x, cp.y, cp.colours, reference=True)
                    verify_queries[imgs] += 1
                else:
                    ref = probs[ci, jf[ci]]
                r3 = ref[:, None, :]
                ok = crit.is_adversarial(r3, lab[ci], tg[ci] if tg is not None else None)[:, 0]
                stop = crit.should_stop(r3, lab[ci], tg[ci] if tg is not None else None)[:, 0]
                rf = crit.fitness(r3, lab[ci], tg[ci] if tg is not None else None)[:, 0]
                upd = ok & (rf < adv_fit[imgs])
                first = upd & (first_success[imgs] < 0)
                if first.any():
                    fi = ci[first]
                    # candidates the reference already rejected this round (their flag_fit is inf) are not asked again
                    unrejected = flagged[fi] & np.isfinite(flag_fit[fi])
                    first_success[active[fi]] = start[fi] + self._earliest_success(
                        bases, active[fi], trials[fi], unrejected, jf[fi], lab[fi],
                        tg[fi] if tg is not None else None, space, verify_queries) + 1
                adv_fit[imgs[upd]] = rf[upd]
                adv_cand[imgs[upd]] = cand[upd]
                adv_probs[imgs[upd]] = ref[upd]
                done[imgs[stop]] = True
                retry[:] = False
                retry[ci[~ok]] = True
                flag_fit[ci[~ok], jf[ci[~ok]]] = np.inf

            finished = done[active] | (queries[active] >= budget) | self.search.exhausted(active)
            seconds[active[finished]] = time.perf_counter() - t0
            if finished.any():
                batch = self._results(active[finished], images, bases, labels, targets, seeds, clean, space, queries,
                                      verify_queries, rounds, best_cand, adv_fit, adv_cand, adv_probs, seconds,
                                      model_queries, first_success)
                results.update((r.index, r) for r in batch)
                if on_results is not None:
                    on_results(batch)
            if memo is not None:
                memo.forget(active[finished])
            active = active[~finished]
            if progress is not None:
                spent = int(queries.sum())
                progress(RunProgress(len(results), n, sum(r.success for r in results.values()), spent,
                                     spent + int((budget - queries[active]).sum()), best_prob.copy()))

        return AttackResults(results[i] for i in range(n))

    def _round_sizes(self, rows: np.ndarray, width: int) -> np.ndarray:
        """Real proposals per row in the round ``ask`` just returned ``width`` columns for: a search may hold
        fewer for some rows (``round_sizes``, e.g. the random search's small greedy rounds beside wide ones);
        the columns past them are padding. Without that method every column is a proposal."""
        sizes = getattr(self.search, "round_sizes", None)
        full = np.full(len(rows), width, dtype=np.int64)
        return full if sizes is None else np.minimum(np.asarray(sizes(rows), dtype=np.int64), full)

    def _earliest_success(self, bases: torch.Tensor, imgs: np.ndarray, trials: np.ndarray, flagged: np.ndarray,
                          verified: np.ndarray, labels: np.ndarray, targets: np.ndarray | None, space: PixelSpace,
                          verify_queries: np.ndarray) -> np.ndarray:
        """Per image, the index in its round of the earliest candidate that succeeds in reference precision.

        The candidate ``verified`` (the round's best-fitness success) succeeds; an earlier flagged candidate may
        too, and a smaller budget would have stopped there. Without a fast precision the search's probabilities
        are the reference ones, so every flagged candidate succeeds; otherwise the earlier flagged ones are
        re-checked in reference precision (once per image: only in the round of its first success).
        """
        earliest = verified.copy()
        rows, cols = np.nonzero(flagged & (np.arange(flagged.shape[1])[None, :] < verified[:, None]))
        if not rows.size:
            return earliest
        if self.model.has_fast_precision:
            cp = decode(trials[rows, cols], space)
            ref = self.model.query(bases, imgs[rows], cp.x, cp.y, cp.colours, reference=True)
            np.add.at(verify_queries, imgs[rows], 1)
            ok = self.criterion.is_adversarial(ref[:, None, :], labels[rows],
                                               targets[rows] if targets is not None else None)[:, 0]
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

    def _results(self, rows, images, bases, labels, targets, seeds, clean, space, queries, verify_queries, rounds,
                 best_cand, adv_fit, adv_cand, adv_probs, seconds, model_queries,
                 first_success) -> list[AttackResult]:
        """Results of the finished image ``rows``."""
        found = np.isfinite(adv_fit[rows])
        final = np.where(found[:, None], adv_cand[rows], best_cand[rows])
        after = adv_probs[rows].copy()
        if (~found).any():
            # Failures: report the best candidate's reference-precision probabilities.
            miss = np.nonzero(~found)[0]
            mp = decode(final[miss], space)
            after[miss] = self.model.query(bases, rows[miss], mp.x, mp.y, mp.colours, reference=True)
            verify_queries[rows[miss]] += 1
        tg = targets[rows] if targets is not None else None
        success = self.criterion.is_adversarial(after[:, None, :], labels[rows], tg)[:, 0]
        pix: Pixels = decode(final, space)
        out = []
        for j, i in enumerate(rows):
            adv = images[i].copy()
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
                queries=int(queries[i]),
                verify_queries=int(verify_queries[i]),
                generations=int(rounds[i]) - 1,
                seconds=float(seconds[i]),
                seed=int(seeds[i]),
                adversarial=adv,
                model_queries=int(model_queries[i]),
                # a success found only by the final reference check (a fast-precision miss) is dated at the stop
                first_success_query=(int(first_success[i]) if first_success[i] >= 0 else int(queries[i]))
                if success[j] else None,
            ))
        return out


def _check_classes(labels: np.ndarray, targets: np.ndarray | None, k: int) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise InputError(f"labels must be class indices in 0..{k - 1} for this {k}-class model (got {labels.min()}..{labels.max()})")
    if targets is not None and targets.size and (targets.min() < 0 or targets.max() >= k):
        raise InputError(f"targets must be class indices in 0..{k - 1} for this {k}-class model (got {targets.min()}..{targets.max()})")
