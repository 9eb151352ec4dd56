"""``onepixel evaluate``: run a protocol on a model, store every attack at once, resume where it stopped.

The campaign loop: load the model and the images, fix the run's configuration, open its store (which refuses
other settings), list the attacks still to do and hand them to one process (:mod:`.batches`), worker processes
(:mod:`.workers`) or Ray actors (:mod:`.ray_backend`); then summarise what the store holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..api import as_classifier
from ..assemble import search_with
from ..data.datasets import PHOTO_DATASETS, Dataset, load_dataset
from ..errors import InputError
from ..fileio import write_text
from ..inputs import check_evaluate_options, check_writable_folder
from ..objectives import Loss, Targeted, Untargeted
from ..search.base import Search
from .batches import run_units
from .config import search_config
from .protocol import WorkUnit, make_units, quick_images, sample_images
from .store import ResultStore, load_results, missing_folders, run_lock
from .workers import run_workers

#: evaluate()'s arguments that say how to run, not what: left out of the settings handed to worker processes
_HOW = ("progress", "on_batch", "workers", "ray", "_shard", "_live")


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


def _clean_predictions(clf: Any, data: Dataset, idx: np.ndarray, file_space: bool) -> np.ndarray:
    """The model's classes for images ``idx``, each seen as the attack will see it: in file space a photo
    through its crop + resize black box, one photo at a time (photos differ in size)."""
    if file_space:
        from ..spaces import default_preprocess, file_crop

        pre = default_preprocess(clf, None)
        crops = [file_crop(clf, data.images[int(i)], pre) for i in idx]
        return np.asarray([c.classifier.probs(c.region[None]).argmax(1)[0] for c in crops], dtype=np.int64)
    if isinstance(data.images, list):  # photos resized to the model's input are a list too
        return clf.probs(np.stack([data.images[int(i)] for i in idx])).argmax(1)
    return clf.probs(np.asarray(data.images[idx])).argmax(1)


def _select_images(clf: Any, data: Dataset, n: int, protocol: str, seed: int, file_space: bool = False) -> np.ndarray:
    order = sample_images(len(data.labels), len(data.labels), seed)
    if protocol == "paper":
        return order[:n]
    chosen: list[int] = []
    for start in range(0, len(order), 512):  # strict: correctly classified images, in the sampled order
        idx = order[start : start + 512]
        pred = _clean_predictions(clf, data, idx, file_space)
        chosen += idx[pred == data.labels[idx]].tolist()
        if len(chosen) >= n:
            break
    return np.asarray(chosen[:n], dtype=np.int64)


def evaluate(
    model: Any,
    out: str | Path,
    dataset: str = "cifar10",
    split: str = "test",
    n: int | None = None,
    pixels: tuple[int, ...] | list[int] = (1,),
    mode: str = "both",
    protocol: str = "paper",
    seed: int = 0,
    popsize: int | None = None,
    generations: int | None = None,
    max_queries: int | None = None,
    search: str | Search = "rs",
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

    Args mirror the CLI, defaults included: ``n`` images (None: a quick run of minutes on a CPU, about
    :data:`~onepixel.campaign.protocol.QUICK_ATTACKS` attacks or 5 photos; the paper used 500) attacked with the
    random search ``"rs"`` (the paper's DE is ``search="de"``); ``pixels`` are the pixel counts to attack with; ``mode`` is untargeted,
    targeted or both (the paper protocol always runs the targeted attacks, from which its non-targeted
    success is derived). ``search`` is a name (de, rs, corner, cma, oracle; see :mod:`onepixel.search`; all
    but DE planned around ``max_queries``) or a search object of one of those classes carrying its own
    settings; ``popsize``/``generations`` set DE's population and generations with ``search="de"`` (default:
    the paper's 400/100) and are refused with any other search. The store records the search's own settings.
    DE stops each attack at the paper's thresholds, the other searches at the first verified success.
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
    n = quick_images(protocol, mode, dataset) if n is None else n
    call = {k: v for k, v in locals().items() if k not in _HOW}
    # every setting is checked before the store is opened: a refused start leaves the run folder as it was
    check_evaluate_options(n=n, pixels=pixels, mode=mode, protocol=protocol, seed=seed, popsize=popsize,
                           generations=generations, max_queries=max_queries, search=search,
                           batch_images=batch_images, space=space, workers=workers, loss=loss)
    _check_where(model, workers, ray)
    made = missing_folders(Path(out))
    check_writable_folder(out)
    how = {"progress": progress, "on_batch": on_batch, "workers": workers, "ray": ray}
    if _shard is None:  # workers run under their parent's lock
        with run_lock(out, made):
            return _evaluate(call, **how)
    return _evaluate(call, **how, shard=_shard, live=_live)


def _check_where(model: Any, workers: int, ray: Any) -> None:
    """Worker processes and Ray actors load the model themselves: it must be a zoo name or a file."""
    if workers > 1 and not isinstance(model, (str, Path)):
        raise InputError("workers > 1 needs the model as a zoo name or a model file (each process loads its own copy)")
    if _on_ray(ray):
        from .ray_backend import check_ray_call

        check_ray_call(ray, model, workers)


def _on_ray(ray: Any) -> bool:
    return ray is not None and ray is not False


def _evaluate(call: dict[str, Any], progress: bool, on_batch: Callable[[int, int], None] | None, workers: int,
              ray: Any, shard: tuple[int, int] | None = None, live: tuple[Any, int] | None = None):
    """The campaign of ``call`` (evaluate's settings as given; worker processes get them as they are)."""
    clf = as_classifier(call["model"], **(call["model_options"] or {}))
    data = _attacked_images(clf, call)
    search = _search(call)
    config = _run_config(call, clf, data, search)
    store = ResultStore(call["out"], config)
    try:
        units, total = _units(clf, data, call, shard)
        done = store.done_uids()
        todo = [u for u in units if u.uid not in done]
        file_space = config["space"] == "file"
        batch_images = 1 if file_space else call["batch_images"]
        if _on_ray(ray) and todo:
            from .ray_backend import run_on_ray

            job = {**search_config(search), "max_queries": call["max_queries"], "file_space": file_space,
                   "loss": call["loss"]}
            run_on_ray(ray, str(call["model"]), call["model_options"] or {}, data.images, todo, total, store,
                       batch_images, job, progress)
        elif workers > 1 and todo:
            run_workers(call, workers, store, total, total - len(todo), progress)
        else:
            run_units(clf, data, todo, total, len(units) - len(todo), store, search, call["max_queries"],
                      batch_images, progress, on_batch, file_space=file_space, live=live, loss=call["loss"])
    finally:
        store.close()
    if shard is not None:
        return None
    return _summarise(call["out"], config, data)


def _attacked_images(clf: Any, call: dict[str, Any]) -> Dataset:
    """The dataset as the attacks see it: the model's class names where it has none; photos in input space
    cropped and resized to the model's input."""
    data = with_model_classes(load_dataset(call["dataset"], call["split"], call["data_path"],
                                           getattr(clf, "class_names", None)), clf)
    photos = call["dataset"] in PHOTO_DATASETS
    if photos and call["space"] == "input":
        return model_input_view(data, clf)
    if not photos and call["space"] == "file":
        raise InputError("--space file is for photo datasets (imagenet-sample, photos); CIFAR-10 images are the model input")
    return data


def _search(call: dict[str, Any]) -> Search:
    """The search every batch of the campaign starts a fresh copy of."""
    search = call["search"].lower() if isinstance(call["search"], str) else call["search"]
    return search_with(search, call["max_queries"], popsize=call["popsize"], generations=call["generations"])


def _run_config(call: dict[str, Any], clf: Any, data: Dataset, search: Search) -> dict[str, Any]:
    """What the store records and a resumed run must match: the model, the data, the protocol and the search."""
    from .. import __version__

    photos = call["dataset"] in PHOTO_DATASETS
    return {
        **model_identity(call["model"], clf), "dataset": data.name, "n": call["n"], "pixels": sorted(set(call["pixels"])),
        "mode": call["mode"], "protocol": call["protocol"], "seed": call["seed"], **search_config(search),
        "max_queries": call["max_queries"], "loss": call["loss"],
        "untargeted_threshold": Untargeted.threshold, "targeted_threshold": Targeted.threshold,
        "onepixel_version": __version__,
        "batch_images": call["batch_images"], "classes": data.classes, "space": call["space"] if photos else "input",
        "data_path": str(call["data_path"]) if call["data_path"] is not None else None,
        "input_size": list(getattr(clf, "input_size", None) or []) or None,
        **_declared_preprocessing(clf, call["model_options"]),
    }


def _units(clf: Any, data: Dataset, call: dict[str, Any], shard: tuple[int, int] | None) -> tuple[list[WorkUnit], int]:
    """The campaign's attacks (a worker's share of them) and how many the whole campaign has."""
    photos = isinstance(data.images, list)
    chosen = _select_images(clf, data, call["n"], call["protocol"], call["seed"], photos and call["space"] == "file")
    num_classes = len(data.classes or []) or int(clf.num_classes or data.labels.max() + 1)
    units = make_units(chosen, data.labels[chosen], sorted(set(call["pixels"])), call["protocol"], call["mode"],
                       num_classes, call["seed"])
    if shard is None:
        return units, len(units)
    return units[shard[0]::shard[1]], len(units)  # fixed by the unit order, so shards never overlap


def _summarise(out: str | Path, config: dict[str, Any], data: Dataset):
    """The run's results from its store, with summary.json (its configuration and metrics) written beside it."""
    from .metrics import summarize

    df = load_results(out)
    metrics = summarize(df, len(data.classes or []) or 10)
    write_text(Path(out) / "summary.json", json.dumps(json_safe({"config": config, "metrics": metrics}), indent=1))
    return df


def json_safe(v: Any) -> Any:
    """NaN (a metric of an empty group) as JSON null, recursively."""
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    return v
