"""``onepixel evaluate``: run a protocol on a model, store every attack at once, resume where it stopped."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..api import as_classifier
from ..errors import InputError
from ..objectives import Targeted, Untargeted
from ..results import AttackResult
from ..runner import Runner
from ..search.de import DifferentialEvolution
from .protocol import MODES, PROTOCOLS, WorkUnit, make_units, sample_images
from .store import ResultStore, load_results


@dataclass
class Dataset:
    """Images to attack: uint8 (N, H, W, C) (or a list of differently sized photos), labels and class names."""

    name: str
    images: Any
    labels: np.ndarray
    classes: list[str] | None = None


def load_dataset(name: str, split: str = "test", path: str | Path | None = None) -> Dataset:
    """``cifar10`` (train/test) by name."""
    if name == "cifar10":
        from ..data import CIFAR10_CLASSES, load_cifar10

        x, y = load_cifar10(split, path)
        return Dataset(f"cifar10/{split}", x, y.astype(np.int64), list(CIFAR10_CLASSES))
    raise InputError(f"unknown dataset {name!r}; available: cifar10")


def _model_identity(model: Any, clf: Any) -> dict[str, Any]:
    ident = {"model": getattr(clf, "name", None) or (model if isinstance(model, str) else type(model).__name__)}
    if getattr(clf, "sha256", None):
        ident["model_sha256"] = clf.sha256
    elif isinstance(model, str) and Path(model).is_file():
        import hashlib

        ident["model_sha256"] = hashlib.sha256(Path(model).read_bytes()).hexdigest()
    return ident


def _select_images(clf: Any, data: Dataset, n: int, protocol: str, seed: int) -> np.ndarray:
    order = sample_images(len(data.labels), len(data.labels), seed)
    if protocol == "paper":
        return order[:n]
    chosen: list[int] = []
    for start in range(0, len(order), 512):  # strict: correctly classified images, in the sampled order
        idx = order[start : start + 512]
        pred = clf.probs(np.asarray(data.images[idx])).argmax(1)
        chosen += idx[pred == data.labels[idx]].tolist()
        if len(chosen) >= n:
            break
    return np.asarray(chosen[:n], dtype=np.int64)


def evaluate(
    model: Any,
    out: str | Path,
    dataset: str = "cifar10",
    split: str = "test",
    n: int = 500,
    pixels: tuple[int, ...] | list[int] = (1,),
    mode: str = "both",
    protocol: str = "paper",
    seed: int = 0,
    popsize: int = 400,
    generations: int = 100,
    max_queries: int | None = None,
    batch_images: int = 64,
    data_path: str | Path | None = None,
    model_options: dict | None = None,
    progress: bool = True,
    on_batch: Callable[[int, int], None] | None = None,
):
    """Run ``protocol`` on ``n`` images of ``dataset`` and store each attack in ``out``; returns the
    results DataFrame. Re-running with the same settings resumes; other settings are refused.

    Args mirror the CLI: ``pixels`` are the pixel counts to attack with; ``mode`` is untargeted,
    targeted or both (the paper protocol always runs the targeted attacks, from which its non-targeted
    success is derived); ``popsize``/``generations`` are the DE settings (paper: 400/100).
    """
    if protocol not in PROTOCOLS:
        raise InputError(f"protocol must be one of {', '.join(PROTOCOLS)} (got {protocol!r})")
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
    if n < 1 or not pixels or min(pixels) < 1:
        raise InputError("need n >= 1 images and pixel counts >= 1")
    from .. import __version__

    clf = as_classifier(model, **(model_options or {}))
    data = load_dataset(dataset, split, data_path)
    config = {
        **_model_identity(model, clf), "dataset": data.name, "n": n, "pixels": sorted(set(pixels)), "mode": mode,
        "protocol": protocol, "seed": seed, "search": "de", "popsize": popsize, "generations": generations,
        "strategy": "rand1", "mutation": 0.5, "crossover": None, "max_queries": max_queries,
        "untargeted_threshold": 0.05, "targeted_threshold": 0.90, "onepixel_version": __version__,
        "batch_images": batch_images, "classes": data.classes,
    }
    store = ResultStore(out, config)
    try:
        chosen = _select_images(clf, data, n, protocol, seed)
        units = make_units(chosen, data.labels[chosen], sorted(set(pixels)), protocol, mode,
                           len(data.classes or []) or int(clf.num_classes or data.labels.max() + 1), seed)
        done = store.done_uids()
        todo = [u for u in units if u.uid not in done]
        _run_units(clf, data, todo, len(units), len(units) - len(todo), store, popsize, generations, max_queries,
                   batch_images, progress, on_batch)
    finally:
        store.close()
    df = load_results(out)
    from .metrics import summarize

    (Path(out) / "summary.json").write_text(json.dumps({"config": config, "metrics": summarize(df, len(data.classes or []) or 10)}, indent=1))
    return df


def _run_units(clf, data, todo: list[WorkUnit], total: int, already: int, store: ResultStore, popsize: int,
               generations: int, max_queries: int | None, batch_images: int, progress: bool,
               on_batch: Callable[[int, int], None] | None) -> None:
    from tqdm.auto import tqdm

    groups: dict[tuple[int, str], list[WorkUnit]] = {}
    for u in todo:
        groups.setdefault((u.pixels, u.mode), []).append(u)
    bar = tqdm(total=total, initial=already, unit="attack", desc="evaluate", disable=not progress, smoothing=0.05)
    stats = {"success": 0, "done": 0, "queries": 0, "t0": time.perf_counter()}
    batches_run = 0
    try:
        for (k, mode), units in groups.items():
            for start in range(0, len(units), batch_images):
                batch = units[start : start + batch_images]
                _run_batch(clf, data, batch, k, mode, store, popsize, generations, max_queries, bar, stats)
                batches_run += 1
                if on_batch is not None:
                    on_batch(batches_run, stats["done"])
    finally:
        bar.close()


def _run_batch(clf, data, batch: list[WorkUnit], k: int, mode: str, store: ResultStore, popsize: int,
               generations: int, max_queries: int | None, bar, stats: dict) -> None:
    idx = np.asarray([u.image for u in batch])
    images = np.asarray(data.images[idx])
    labels = np.asarray([u.label for u in batch], dtype=np.int64)
    targets = None if mode == "untargeted" else np.asarray([u.target for u in batch], dtype=np.int64)
    crit = Untargeted(0.05) if targets is None else Targeted(0.90)
    runner = Runner(clf, crit, DifferentialEvolution(popsize, generations), k, max_queries)
    last = {"seconds": 0.0}

    def store_results(results: list[AttackResult]) -> None:
        # Share the wall time since the previous finish among the attacks finishing now: the shares of a
        # batch add up to its wall-clock time, so "seconds per image" is exact on average.
        share = (results[0].seconds - last["seconds"]) / len(results)
        last["seconds"] = results[0].seconds
        for r in results:
            u = batch[r.index]
            orig = images[r.index]
            changes = [[*p, *(int(v) for v in orig[p[1], p[0]])] for p in r.pixels]
            store.add({
                "uid": u.uid, "image": u.image, "pixels": k, "mode": mode, "target": u.target, "label": u.label,
                "success": int(r.success), "predicted_before": r.predicted_before, "predicted_after": r.predicted_after,
                "predicted_prob_after": r.predicted_prob_after, "label_prob_before": r.label_prob_before,
                "label_prob_after": r.label_prob_after, "target_prob_after": r.target_prob_after, "queries": r.queries,
                "verify_queries": r.verify_queries, "generations": r.generations, "seconds": share, "seed": r.seed,
                "changes": changes, "finished_at": time.time(),
            })
            stats["success"] += int(r.success)
            stats["done"] += 1
            stats["queries"] += r.queries
        bar.update(len(results))
        elapsed = time.perf_counter() - stats["t0"]
        bar.set_postfix(success=f"{stats['success']}/{stats['done']}", q_s=f"{stats['queries'] / max(elapsed, 1e-9):,.0f}")

    runner.run(images, labels, targets, [u.seed for u in batch], on_results=store_results)
