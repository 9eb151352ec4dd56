"""Running a campaign's attacks: batches of one pixel count and mode, each attack stored the moment it finishes.

One process runs them with :func:`run_units`; a worker process runs its share the same way, and a Ray actor runs
one batch at a time with :func:`run_batch`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..assemble import fresh, most_queries, runner_for
from ..objectives import Loss
from ..progress import QueryForecast, query_bar, show_queries
from ..results import AttackResult
from ..runner import RunProgress
from ..search.base import Search
from ..search.de import DifferentialEvolution
from .protocol import WorkUnit
from .rows import attack_row
from .workers import attack_status


def group_units(todo: list[WorkUnit]) -> dict[tuple[int, str], list[WorkUnit]]:
    """The attacks by (pixel count, mode), in the order they come: a batch never mixes them."""
    groups: dict[tuple[int, str], list[WorkUnit]] = {}
    for u in todo:
        groups.setdefault((u.pixels, u.mode), []).append(u)
    return groups


def run_units(clf: Any, data: Any, todo: list[WorkUnit], total: int, already: int, store: Any, search: Search,
              max_queries: int | None, batch_images: int, progress: bool,
              on_batch: Callable[[int, int], None] | None, file_space: bool = False,
              live: tuple[Any, int] | None = None, loss: Loss = "probability") -> None:
    """Run ``todo`` in batches of ``batch_images`` attacks of one pixel count and mode, storing each result.
    ``live``: (shared array, slot) where a worker keeps its search queries so far (finished or in flight) and
    the most it can spend."""
    groups = group_units(todo)
    first = data.images[todo[0].image] if todo else None
    shape = tuple(first.shape) if first is not None else (1, 1, 1)
    budgets = {key: most_queries(search, key[0], shape, max_queries) for key in groups}
    _, fooled, stored_queries = store.progress() if live is None else (already, 0, 0)
    stats: dict[str, Any] = {
        "success": fooled, "done": already, "total": total, "spent": 0, "live": live,
        "unstarted": sum(len(units) * budgets[key] for key, units in groups.items()),  # most queries of unstarted attacks
        "waiting": {budgets[key]: 0 for key in groups},  # unstarted attacks per budget, for the forecast
        "forecast": QueryForecast(),  # the queries the run is expected to spend: its ETA
    }
    for key, units in groups.items():
        stats["waiting"][budgets[key]] += len(units)
    bar = query_bar("evaluate", total=stored_queries + stats["unstarted"], initial=stored_queries,
                    disable=not progress)
    stats["bar_offset"] = stored_queries
    publish(stats, 0, stats["unstarted"], stats["unstarted"])
    batches_run = 0
    try:
        for key, units in groups.items():
            for start in range(0, len(units), batch_images):
                batch = units[start : start + batch_images]
                stats["unstarted"] -= len(batch) * budgets[key]
                stats["waiting"][budgets[key]] -= len(batch)
                run_batch(clf, data, batch, store, search, max_queries, bar, stats, file_space, loss)
                batches_run += 1
                if on_batch is not None:
                    on_batch(batches_run, stats["done"] - already)
    finally:
        bar.close()


def publish(stats: dict[str, Any], queries: int, expected: float, most: int) -> None:
    """Where a worker stands, for its parent's bar: its queries so far, the total it is expected to spend and the
    most it can spend, given the batch in flight has spent ``queries`` and the batch and the unstarted attacks are
    expected to spend ``expected`` in all, ``most`` at most."""
    if stats["live"] is not None:
        shared, slot = stats["live"]
        shared[3 * slot] = stats["spent"] + queries
        shared[3 * slot + 1] = max(1, stats["spent"] + int(expected))
        shared[3 * slot + 2] = max(1, stats["spent"] + most)


def _batch_input(clf: Any, data: Any, batch: list[WorkUnit], file_space: bool) -> tuple[Any, np.ndarray, tuple[int, int]]:
    """What the batch's search changes: the model, the images and where they lie in the stored images.

    File space: one full-resolution photo, searched in its crop box (the only pixels the model sees) through
    the crop + resize black box (:func:`onepixel.spaces.file_crop`); pixels are stored in full-photo coordinates."""
    idx = np.asarray([u.image for u in batch])
    if file_space:
        from ..spaces import default_preprocess, file_crop

        crop = file_crop(clf, data.images[int(idx[0])], default_preprocess(clf, None))
        return crop.classifier, crop.region[None], crop.offset
    if isinstance(data.images, list):
        return clf, np.stack([data.images[i] for i in idx]), (0, 0)
    return clf, np.asarray(data.images[idx]), (0, 0)


def run_batch(clf: Any, data: Any, batch: list[WorkUnit], store: Any, search: Search, max_queries: int | None,
              bar: Any, stats: dict, file_space: bool = False, loss: Loss = "probability") -> None:
    """Attack ``batch`` (one pixel count and mode) with a fresh copy of ``search`` and add each finished attack's
    row to ``store`` (anything with ``add(row)``); ``stats`` counts them for the progress ``bar``."""
    clf, images, offset = _batch_input(clf, data, batch, file_space)
    labels = np.asarray([u.label for u in batch], dtype=np.int64)
    targets = None if batch[0].mode == "untargeted" else np.asarray([u.target for u in batch], dtype=np.int64)
    first = not isinstance(search, DifferentialEvolution)  # the paper's thresholds belong to its DE; others stop at a success
    runner = runner_for(clf, fresh(search), targeted=targets is not None, pixels=batch[0].pixels,
                        max_queries=max_queries, stop_on_success=first, loss=loss)
    last = {"seconds": 0.0}

    def store_results(results: list[AttackResult]) -> None:
        # Share the wall time since the previous finish among the attacks finishing now: the shares of a
        # batch add up to its wall-clock time, so "seconds per image" is exact on average.
        share = (results[0].seconds - last["seconds"]) / len(results)
        last["seconds"] = results[0].seconds
        for r in results:
            store.add(attack_row(batch[r.index], r, images[r.index], share, offset))
            stats["success"] += int(r.success)
            stats["done"] += 1

    forecast = stats.setdefault("forecast", QueryForecast())
    waiting = [(count, most) for most, count in stats.get("waiting", {}).items() if count]

    def show(p: RunProgress) -> None:
        # queries of the finished batches plus this one's so far, against what they and the unstarted attacks are
        # expected to spend (early stops included): moves every round, and the ETA is the expected remaining
        # work at the rate so far; the most they can spend is shown beside it
        done = stats["bar_offset"] + stats["spent"]
        expected = forecast.expected_total(p.image_queries, p.running, p.budget, waiting)
        most = p.max_queries + stats["unstarted"]
        show_queries(bar, done + p.queries, done + expected, done + most,
                     attack_status(stats["done"], stats["total"], stats["success"]))
        publish(stats, p.queries, expected, most)

    results = runner.run(images, labels, targets, [u.seed for u in batch], on_results=store_results, progress=show)
    stats["spent"] += sum(r.queries for r in results)
    forecast.batch_done()  # the batch's early stops tell the next batches' forecast
