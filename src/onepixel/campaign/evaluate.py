"""``onepixel evaluate``: run a protocol on a model, store every attack at once, resume where it stopped."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..api import as_classifier
from ..assemble import runner_for, search_for
from ..candidates import PixelSpace
from ..errors import InputError, OnepixelError
from ..fileio import write_text
from ..inputs import check_evaluate_options, check_writable_folder
from ..objectives import Loss, Targeted, Untargeted
from ..progress import QueryForecast, query_bar, show_queries
from ..results import AttackResult
from ..runner import RunProgress
from ..search.base import Search
from ..search.de import DifferentialEvolution
from .protocol import WorkUnit, make_units, sample_images
from .store import ResultStore, load_results, run_lock


@dataclass
class Dataset:
    """Images to attack: uint8 (N, H, W, C) (or a list of differently sized photos), labels and class names."""

    name: str
    images: Any
    labels: np.ndarray
    classes: list[str] | None = None


PHOTO_DATASETS = ("imagenet-sample", "photos", "imagenet-val", "folder")
#: every name ``--dataset`` takes
DATASETS = ("cifar10", "cifar100", *PHOTO_DATASETS)


def load_dataset(name: str, split: str = "test", path: str | Path | None = None,
                 model_classes: list[str] | None = None) -> Dataset:
    """``cifar10`` / ``cifar100`` (train/test), or full-resolution photos: ``imagenet-sample`` or ``photos`` (a
    folder with labels.csv), ``imagenet-val`` (the ILSVRC-2012 validation layouts, :mod:`onepixel.data.imagenet`),
    ``folder`` (any class-folder tree, :func:`onepixel.data.folders.load_photo_tree`, whose folder names may be
    the model's ``model_classes``). Large photo sets are read lazily."""
    if name == "cifar10":
        from ..data import CIFAR10_CLASSES, load_cifar10

        x, y = load_cifar10(split, path)
        return Dataset(f"cifar10/{split}", x, y.astype(np.int64), list(CIFAR10_CLASSES))
    if name == "cifar100":
        from ..data.cifar100 import load_cifar100

        x, y, names = load_cifar100(split, path)
        return Dataset(f"cifar100/{split}", x, y, names)
    if name in PHOTO_DATASETS:
        if path is None:
            what = "photos + labels.csv" if name in ("imagenet-sample", "photos") else "class folders or photos"
            raise InputError(f"dataset {name} needs --data pointing at its folder ({what})")
        from ..data.labels import imagenet_classes

        if name == "imagenet-val":
            from ..data.imagenet import load_imagenet_val

            val, labels = load_imagenet_val(path)
            return Dataset(name, val, labels, list(imagenet_classes()))
        if name == "folder":
            from ..data.folders import load_photo_tree

            tree, labels, classes = load_photo_tree(path, model_classes)
            return Dataset(name, tree, labels, classes)
        from ..data.photos import load_imagenet_sample, load_photo_csv

        if name == "imagenet-sample":
            photos, labels, _ = load_imagenet_sample(path)
            return Dataset(name, photos, labels, list(imagenet_classes()))
        photos, labels, _ = load_photo_csv(path)
        return Dataset(name, photos, labels, None)
    raise InputError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}")


def model_input_view(data: Dataset, clf: Any) -> Dataset:
    """Photos centre-cropped and resized to the model's input (the paper's "input" space): stacked, or for a
    lazily read set, cropped and resized as each photo is read."""
    from ..data.photoset import PhotoSet
    from ..spaces import default_preprocess

    pre = default_preprocess(clf, None)
    if isinstance(data.images, PhotoSet):
        return Dataset(data.name, data.images.view(pre), data.labels, data.classes)
    return Dataset(data.name, np.stack([pre(p) for p in data.images]), data.labels, data.classes)


def with_model_classes(data: Dataset, clf: Any) -> Dataset:
    """The dataset's class names, or the model's where the dataset has none; labels the model cannot
    output are refused."""
    classes = data.classes if data.classes is not None else getattr(clf, "class_names", None)
    k = getattr(clf, "num_classes", None) or (len(clf.class_names) if getattr(clf, "class_names", None) else None)
    if k is not None and len(data.labels) and int(data.labels.max()) >= k:
        raise InputError(f"{data.name} has labels up to {int(data.labels.max())} but the model has {k} classes; "
                         "is it the model for this dataset?")
    return Dataset(data.name, data.images, data.labels, list(classes) if classes is not None else None)


def model_identity(model: Any, clf: Any) -> dict[str, Any]:
    """How a run names its model: the classifier's name (or the spec as given) and, for files, their sha256."""
    ident = {"model": getattr(clf, "name", None) or (model if isinstance(model, str) else type(model).__name__)}
    if getattr(clf, "sha256", None):
        ident["model_sha256"] = clf.sha256
    elif isinstance(model, str) and Path(model).is_file():
        import hashlib

        ident["model_sha256"] = hashlib.sha256(Path(model).read_bytes()).hexdigest()
    return ident


def _declared_preprocessing(clf: Any, model_options: dict | None) -> dict[str, Any]:
    """The preprocessing a model declares (Hugging Face, timm, torchvision metadata) and the user's overrides,
    for the run's config: a resumed run must read pixels the same way, and ``verify`` rebuilds the model with
    the same overrides."""
    pre = getattr(clf, "preprocessing", None)
    if pre is None:
        return {}
    overrides = (model_options or {}).get("preprocess")
    return {"preprocessing": pre.describe(), **({"preprocess_overrides": dict(overrides)}
                                                if isinstance(overrides, dict) and overrides else {})}


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
    search: str = "de",
    loss: Loss = "probability",
    batch_images: int = 64,
    data_path: str | Path | None = None,
    space: str = "input",
    model_options: dict | None = None,
    progress: bool = True,
    on_batch: Callable[[int, int], None] | None = None,
    workers: int = 1,
    ray: Any = None,
    _shard: tuple[int, int] | None = None,
    _live: tuple[Any, int] | None = None,
):
    """Run ``protocol`` on ``n`` images of ``dataset`` and store each attack in ``out``; returns the
    results DataFrame. Re-running with the same settings resumes; other settings are refused.

    Args mirror the CLI: ``pixels`` are the pixel counts to attack with; ``mode`` is untargeted,
    targeted or both (the paper protocol always runs the targeted attacks, from which its non-targeted
    success is derived); ``popsize``/``generations`` are the DE settings (paper: 400/100). ``search`` picks
    another strategy by name (rs, corner, cma, oracle; see :mod:`onepixel.search`), planned around
    ``max_queries``; those stop each attack at its first verified success, DE at the paper's thresholds.
    ``loss`` is what the search minimises: ``"probability"`` (the paper's) or ``"margin"`` (to the strongest
    rival class), as in :func:`onepixel.attack`.
    For photo datasets, ``space`` is ``input`` (attack the cropped and resized model input, as the paper) or
    ``file`` (attack the full-resolution photo; crop and resize are part of the black box). With more than
    ten classes (ImageNet) the ``paper`` protocol is the paper's ImageNet one: one untargeted attack per
    random image, misclassified ones included.

    ``workers`` > 1 runs the attacks in that many processes (each with ``cpu_count / workers`` threads) writing
    to the same store; every attack's result is the same as in one process (results do not depend on which
    attacks share a batch). The model must then be a zoo name or a file, which each process loads itself.

    ``ray`` runs the attacks on Ray actors instead (:mod:`onepixel.campaign.ray_backend`): ``True`` starts a
    local Ray instance (or joins ``RAY_ADDRESS``), an address joins that cluster, and
    :class:`~onepixel.campaign.ray_backend.RayOptions` also sets the actors and their CPUs and GPUs. The same
    store, the same results; the model must be a zoo name or a file.
    """
    call = {k: v for k, v in locals().items() if k not in ("progress", "on_batch", "workers", "ray", "_shard", "_live")}
    # every setting is checked before the store is opened: a refused start leaves the run folder as it was
    check_evaluate_options(n=n, pixels=pixels, mode=mode, protocol=protocol, seed=seed, popsize=popsize,
                           generations=generations, max_queries=max_queries, search=search,
                           batch_images=batch_images, space=space, workers=workers, loss=loss)
    if workers > 1 and not isinstance(model, (str, Path)):
        raise InputError("workers > 1 needs the model as a zoo name or a model file (each process loads its own copy)")
    if ray is not None and ray is not False:
        from .ray_backend import check_ray_call

        check_ray_call(ray, model, workers)
    check_writable_folder(out)
    if _shard is None:  # workers run under their parent's lock
        with run_lock(out):
            return _evaluate(**call, progress=progress, on_batch=on_batch, workers=workers, ray=ray)
    return _evaluate(**call, progress=progress, on_batch=on_batch, workers=workers, ray=ray, _shard=_shard, _live=_live)


def _evaluate(model: Any, out: str | Path, dataset: str, split: str, n: int, pixels: tuple[int, ...] | list[int],
              mode: str, protocol: str, seed: int, popsize: int, generations: int, max_queries: int | None,
              search: str, loss: Loss, batch_images: int, data_path: str | Path | None, space: str, model_options: dict | None,
              progress: bool, on_batch: Callable[[int, int], None] | None, workers: int, ray: Any,
              _shard: tuple[int, int] | None = None, _live: tuple[Any, int] | None = None):
    # this call's settings as given, for worker processes (each runs evaluate on its share of the attacks)
    call = {k: v for k, v in locals().items() if k not in ("progress", "on_batch", "workers", "ray", "_shard", "_live")}
    from .. import __version__

    clf = as_classifier(model, **(model_options or {}))
    data = with_model_classes(load_dataset(dataset, split, data_path, getattr(clf, "class_names", None)), clf)
    photos = dataset in PHOTO_DATASETS
    if photos and space == "input":
        data = model_input_view(data, clf)
    elif not photos and space == "file":
        raise InputError("--space file is for photo datasets (imagenet-sample, photos); CIFAR-10 images are the model input")
    config = {
        **model_identity(model, clf), "dataset": data.name, "n": n, "pixels": sorted(set(pixels)), "mode": mode,
        "protocol": protocol, "seed": seed, "search": search.lower(), "popsize": popsize, "generations": generations,
        "strategy": "rand1", "mutation": 0.5, "crossover": None, "max_queries": max_queries, "loss": loss,
        "untargeted_threshold": Untargeted.threshold, "targeted_threshold": Targeted.threshold,
        "onepixel_version": __version__,
        "batch_images": batch_images, "classes": data.classes, "space": space if photos else "input",
        "data_path": str(data_path) if data_path is not None else None,
        "input_size": list(getattr(clf, "input_size", None) or []) or None,
        **_declared_preprocessing(clf, model_options),
    }
    store = ResultStore(out, config)
    try:
        chosen = _select_images(clf, data, n, protocol, seed)
        num_classes = len(data.classes or []) or int(clf.num_classes or data.labels.max() + 1)
        units = make_units(chosen, data.labels[chosen], sorted(set(pixels)), protocol, mode, num_classes, seed)
        total = len(units)
        if _shard is not None:  # one worker's share: fixed by the unit order, so shards never overlap
            units = units[_shard[0]::_shard[1]]
        done = store.done_uids()
        todo = [u for u in units if u.uid not in done]
        file_space = space == "file" and photos
        if ray is not None and ray is not False and todo:
            from .ray_backend import run_on_ray

            job = {"popsize": popsize, "generations": generations, "max_queries": max_queries,
                   "search": search.lower(), "file_space": file_space, "loss": loss}
            run_on_ray(ray, str(model), model_options or {}, data.images, todo, total, store,
                       1 if file_space else batch_images, job, progress)
        elif workers > 1 and todo:
            _run_workers(call, workers, store, total, total - len(todo), progress)
        else:
            _run_units(clf, data, todo, total, len(units) - len(todo), store, popsize, generations, max_queries,
                       1 if space == "file" and photos else batch_images, progress, on_batch,
                       file_space=space == "file" and photos, search=search.lower(), live=_live, loss=loss)
    finally:
        store.close()
    if _shard is not None:
        return None
    df = load_results(out)
    from .metrics import summarize

    metrics = summarize(df, len(data.classes or []) or 10)
    write_text(Path(out) / "summary.json", json.dumps(json_safe({"config": config, "metrics": metrics}), indent=1))
    return df


def _run_workers(call: dict[str, Any], workers: int, store: ResultStore, total: int, already: int,
                 progress: bool) -> None:
    """Run ``evaluate`` in ``workers`` processes, each on every ``workers``-th attack, and show their joint
    progress from the store. A failing worker stops the others; finished attacks stay stored either way."""
    import multiprocessing as mp

    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: no forked torch thread pools
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)  # read by torch, TFLite and ONNX Runtime in the children
    try:
        # per worker: its search queries so far (finished attacks and those in flight), the total it is expected
        # to spend, and the most it can spend
        live = ctx.Array("q", 3 * workers, lock=False)
        procs = [ctx.Process(target=_worker, args=(call, i, workers, threads, live)) for i in range(workers)]
        for p in procs:
            p.start()
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved
    _, _, stored_queries = store.progress()
    bar = query_bar(f"evaluate ({workers} workers)", initial=stored_queries, disable=not progress)
    try:
        while any(p.is_alive() for p in procs) and not any(p.exitcode for p in procs):
            time.sleep(0.5)
            count, successes, _ = store.progress()
            spent, expected, most = sum(live[0::3]), sum(live[1::3]), sum(live[2::3])
            if all(live[2::3]):  # every worker has planned its share
                show_queries(bar, stored_queries + spent, stored_queries + expected, stored_queries + most,
                             _attack_status(count, total, successes))
    finally:
        # the workers that ended on their own, before the others are stopped (those are not failures)
        ended = {i: p.exitcode for i, p in enumerate(procs) if not p.is_alive()}
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
        bar.close()
    failed = {i: code for i, code in ended.items() if code}
    if failed:
        raise OnepixelError(f"{'; '.join(_worker_end(i, code) for i, code in failed.items())}; the attacks finished "
                            "are stored: re-run the same command to resume")


def _worker_end(index: int, code: int) -> str:
    """How a worker process ended, in words (a signal has no message of its own to show)."""
    import signal

    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else f"signal {-code}"
        why = " (out of memory, or killed by hand?)" if -code == signal.SIGKILL else ""
        return f"worker {index} was killed by {name}{why}"
    if code == 2:
        return f"worker {index} stopped with the error above"
    return f"worker {index} failed with exit status {code} (its messages are above)"


def _worker(call: dict[str, Any], index: int, workers: int, threads: int, live: Any) -> None:
    import torch

    _exit_with_parent()
    torch.set_num_threads(threads)
    try:
        evaluate(**call, progress=False, _shard=(index, workers), _live=(live, index))
    except OnepixelError as e:
        print(f"onepixel: worker {index}: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # Ctrl-C reaches every process of the group; the parent reports it once
        sys.exit(130)


def _exit_with_parent() -> None:
    """End this worker as soon as its parent is gone. A parent killed outright (SIGKILL, SIGTERM) cannot stop
    its workers, and an orphan would go on attacking beside a resumed run of the same store. Its attacks in
    flight are lost; the finished ones are already stored (SQLite rolls back an interrupted write)."""
    import multiprocessing as mp
    import threading

    parent = mp.parent_process()
    if parent is None:
        return

    def wait_then_exit() -> None:
        parent.join()  # returns when the parent's sentinel closes, i.e. when it has exited
        os._exit(3)

    threading.Thread(target=wait_then_exit, daemon=True, name="exit-with-parent").start()


def json_safe(v: Any) -> Any:
    """NaN (a metric of an empty group) as JSON null, recursively."""
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    return v


def _attack_status(finished: int, total: int, fooled: int) -> str:
    return f"attacks {finished:,}/{total:,}, {fooled:,} fooled"


def _search(search: str, popsize: int, generations: int, max_queries: int | None) -> Search:
    de = DifferentialEvolution(popsize, generations) if search == "de" else None
    return search_for(search, max_queries, de)


def attack_budget(search: str, pixels: int, shape: tuple[int, ...], popsize: int = 400, generations: int = 100,
                  max_queries: int | None = None) -> int:
    """The most search queries one attack with these settings spends on an image of ``shape`` (H, W, C):
    the search's own length (rs at one pixel: half the corner changes, 256 more and its refinement), capped by ``max_queries``."""
    strategy = _search(search, popsize, generations, max_queries)
    strategy.start(PixelSpace(shape[0], shape[1], shape[2], pixels), [])
    most = strategy.max_queries()
    return most if max_queries is None else min(most, max_queries)


def _run_units(clf, data, todo: list[WorkUnit], total: int, already: int, store: ResultStore, popsize: int,
               generations: int, max_queries: int | None, batch_images: int, progress: bool,
               on_batch: Callable[[int, int], None] | None, file_space: bool = False, search: str = "de",
               live: tuple[Any, int] | None = None, loss: Loss = "probability") -> None:
    """Run ``todo`` in batches of ``batch_images`` attacks of one pixel count and mode, storing each result.
    ``live``: (shared array, slot) where a worker keeps its search queries so far (finished or in flight) and
    the most it can spend."""
    groups: dict[tuple[int, str], list[WorkUnit]] = {}
    for u in todo:
        groups.setdefault((u.pixels, u.mode), []).append(u)
    first = data.images[todo[0].image] if todo else None
    shape = tuple(first.shape) if first is not None else (1, 1, 1)
    budgets = {key: attack_budget(search, key[0], shape, popsize, generations, max_queries) for key in groups}
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
    _publish(stats, 0, stats["unstarted"], stats["unstarted"])
    batches_run = 0
    try:
        for (k, mode), units in groups.items():
            for start in range(0, len(units), batch_images):
                batch = units[start : start + batch_images]
                stats["unstarted"] -= len(batch) * budgets[(k, mode)]
                stats["waiting"][budgets[(k, mode)]] -= len(batch)
                run_batch(clf, data, batch, k, mode, store, popsize, generations, max_queries, bar, stats, file_space,
                           search, loss)
                batches_run += 1
                if on_batch is not None:
                    on_batch(batches_run, stats["done"] - already)
    finally:
        bar.close()


def _publish(stats: dict[str, Any], queries: int, expected: float, most: int) -> None:
    """Where a worker stands, for its parent's bar: its queries so far, the total it is expected to spend and the
    most it can spend, given the batch in flight has spent ``queries`` and the batch and the unstarted attacks are
    expected to spend ``expected`` in all, ``most`` at most."""
    if stats["live"] is not None:
        shared, slot = stats["live"]
        shared[3 * slot] = stats["spent"] + queries
        shared[3 * slot + 1] = max(1, stats["spent"] + int(expected))
        shared[3 * slot + 2] = max(1, stats["spent"] + most)


def run_batch(clf, data, batch: list[WorkUnit], k: int, mode: str, store: ResultStore, popsize: int,
               generations: int, max_queries: int | None, bar, stats: dict, file_space: bool = False,
               search: str = "de", loss: Loss = "probability") -> None:
    idx = np.asarray([u.image for u in batch])
    offset = (0, 0)
    if file_space:
        # One full-resolution photo: search its crop box (the only pixels the model sees) through the
        # crop + resize black box; pixels are stored in full-photo coordinates.
        from ..photo import PhotoClassifier
        from ..spaces import default_preprocess

        photo = data.images[int(idx[0])]
        pre = default_preprocess(clf, None)
        top, left, ch, cw = pre.box(photo.shape[0], photo.shape[1])
        images = np.ascontiguousarray(photo[top:top + ch, left:left + cw])[None]
        clf = PhotoClassifier(clf, pre.for_region())
        offset = (left, top)
    else:
        images = np.asarray(data.images[idx]) if not isinstance(data.images, list) else np.stack([data.images[i] for i in idx])
    labels = np.asarray([u.label for u in batch], dtype=np.int64)
    targets = None if mode == "untargeted" else np.asarray([u.target for u in batch], dtype=np.int64)
    first = search != "de"  # the paper's thresholds belong to its DE; other searches stop at a success
    runner = runner_for(clf, _search(search, popsize, generations, max_queries), targeted=targets is not None,
                        pixels=k, max_queries=max_queries, stop_on_success=first, loss=loss)
    last = {"seconds": 0.0}

    def store_results(results: list[AttackResult]) -> None:
        # Share the wall time since the previous finish among the attacks finishing now: the shares of a
        # batch add up to its wall-clock time, so "seconds per image" is exact on average.
        share = (results[0].seconds - last["seconds"]) / len(results)
        last["seconds"] = results[0].seconds
        for r in results:
            u = batch[r.index]
            orig = images[r.index]
            changes = [[p[0] + offset[0], p[1] + offset[1], *p[2:], *(int(v) for v in orig[p[1], p[0]])] for p in r.pixels]
            store.add({
                "uid": u.uid, "image": u.image, "pixels": k, "mode": mode, "target": u.target, "label": u.label,
                "success": int(r.success), "predicted_before": r.predicted_before, "predicted_after": r.predicted_after,
                "predicted_prob_after": r.predicted_prob_after, "label_prob_before": r.label_prob_before,
                "label_prob_after": r.label_prob_after, "target_prob_after": r.target_prob_after, "queries": r.queries,
                "verify_queries": r.verify_queries, "generations": r.generations, "seconds": share, "seed": r.seed,
                "changes": changes, "finished_at": time.time(), "first_success_query": r.first_success_query,
            })
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
                     _attack_status(stats["done"], stats["total"], stats["success"]))
        _publish(stats, p.queries, expected, most)

    results = runner.run(images, labels, targets, [u.seed for u in batch], on_results=store_results, progress=show)
    stats["spent"] += sum(r.queries for r in results)
    forecast.batch_done()  # the batch's early stops tell the next batches' forecast
