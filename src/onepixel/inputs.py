"""Validation of what callers pass in (images, labels, targets, seeds, pixel counts, budgets, campaign settings,
output paths), shared by every entry point (the API, the CLI, campaigns): each bad input is refused in one
line (:class:`~onepixel.errors.InputError`) that says what is wrong and how to fix it, before anything is
computed or written: a refused start leaves no trace (no run folder holding a configuration that never ran,
no half-written output, no overwritten input)."""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import InputError


def as_batch(images: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """``images`` as a uint8 (N, H, W, C) batch with int64 ``labels``; one (H, W, C) image with a scalar label
    becomes a batch of one (the flag says so). Anything else is refused in one line that says how to fix it."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    images = np.asarray(images)
    single = np.ndim(labels) == 0
    if single:
        images = images[None]
        labels = [labels]
    if images.ndim == 3 and np.shape(labels) == (1,) and images.shape[0] != 1 and images.shape[-1] in (1, 3):
        images = images[None]  # one (H, W, C) image with its label in a list, not 32 greyscale images
    if images.ndim == 3:  # (N, H, W) greyscale
        images = images[..., None]
    if images.ndim != 4:
        raise InputError(f"images must be a uint8 batch (N, H, W, C) or one image (H, W, C) with a single label; got shape {images.shape}")
    if images.shape[0] == 0:
        raise InputError("the batch of images is empty")
    if images.shape[-1] not in (1, 3):
        hint = " (this looks like NCHW: transpose with x.transpose(0, 2, 3, 1))" if images.shape[1] in (1, 3) else ""
        raise InputError(f"images must be NHWC with 1 or 3 channels; got shape {images.shape}{hint}")
    if images.dtype != np.uint8:
        raise InputError(
            f"images must be uint8 with values 0..255 (got {images.dtype}); for floats in [0, 1] use "
            "(x * 255).round().astype(np.uint8)")
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu" or labels.ndim != 1:
        raise InputError(f"labels must be integer class indices, one per image (got {labels.dtype} shape {labels.shape})")
    if len(labels) != len(images):
        raise InputError(f"got {len(labels)} labels for {len(images)} images")
    return images, labels.astype(np.int64), single


def as_targets(targets: Any, labels: np.ndarray) -> np.ndarray | None:
    """None (untargeted), or one int64 target class per image (a scalar is every image's), never the label."""
    if targets is None:
        return None
    t = np.asarray(targets)
    if t.dtype.kind == "O" and all(isinstance(v, int) for v in np.ravel(t)):  # beyond int64: no class has it
        raise InputError(f"target {max(np.ravel(t))} is out of range of the model's classes")
    if t.dtype.kind not in "iu" or t.ndim > 1:
        raise InputError(f"targets must be an integer class index or one per image (got {targets!r:.60})")
    if t.ndim == 0:
        t = np.full(len(labels), int(t))
    if len(t) != len(labels):
        raise InputError(f"got {len(t)} targets for {len(labels)} images; pass one int or one target per image")
    if (t < 0).any():
        raise InputError(f"targets must be class indices >= 0 (got {int(t.min())})")
    same = np.nonzero(t == labels)[0]
    if same.size:
        raise InputError(f"target equals the true label for image {same[0]} (class {labels[same[0]]}); pick another target class")
    return t.astype(np.int64)


def as_seeds(seed: Any, n: int) -> list[int]:
    """One seed per image: an int ``seed`` gives image i ``seed + i``; a sequence must have one per image. Each is
    an integer 0 .. 2**32 - 1 (what numpy's generators take)."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        first = check_seed(seed)
        check_seed(first + n - 1, f"seed + {n - 1} (the last image's seed)")
        return [first + i for i in range(n)]
    if isinstance(seed, (str, bytes)) or not isinstance(seed, (Sequence, np.ndarray)):
        raise InputError(f"seed must be an integer or one integer per image (got {seed!r})")
    seeds = [check_seed(s, f"seed[{i}]") for i, s in enumerate(seed)]
    if len(seeds) != n:
        raise InputError(f"got {len(seeds)} seeds for {n} images; pass one int or one seed per image")
    return seeds


def check_pixels(pixels: Any, shape: tuple[int, ...]) -> None:
    """``pixels`` must be an integer >= 1 that fits the (N, H, W, C) images."""
    if check_int(pixels, "pixels", 1) > shape[1] * shape[2]:
        raise InputError(f"pixels={pixels} exceeds the {shape[1]}x{shape[2]} image")


def check_input_size(clf: Any, images: np.ndarray) -> None:
    """A model that declares its input size gets images of that size: any other size would be classified as
    whatever the model makes of it, so every image would count as fooled before the attack starts."""
    size = getattr(clf, "input_size", None)
    if size is not None and tuple(images.shape[1:3]) != tuple(size):
        raise InputError(
            f"the model takes {size[1]}x{size[0]} images, got {images.shape[2]}x{images.shape[1]}; resize them first, "
            "or attack photos with onepixel.spaces.attack_photo (it crops and resizes to the model's input)")


#: seeds feed numpy's generators, which take integers 0 .. 2**32 - 1 (per image: seed + image index)
MAX_SEED = 2**32 - 1


def check_int(value: Any, name: str, minimum: int | None = None, maximum: int | None = None,
              hint: str = "") -> int:
    """``value`` as an int within ``minimum``..``maximum``; bools, floats and strings are refused, not rounded."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{name} must be an integer (got {value!r}){hint}")
    v = int(value)
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        lo = "" if minimum is None else f">= {minimum}"
        hi = "" if maximum is None else f"<= {maximum:,}"
        bound = " and ".join(b for b in (lo, hi) if b)
        raise InputError(f"{name} must be {bound} (got {v}){hint}")
    return v


def check_seed(seed: Any, name: str = "seed") -> int:
    """A seed: an integer 0 .. 2**32 - 1 (what numpy's generators take)."""
    return check_int(seed, name, 0, MAX_SEED, "; use a non-negative integer such as 0")


def check_max_queries(value: Any, name: str = "max_queries") -> int | None:
    """A per-attack query cap: None (no cap) or an integer >= 1. Zero is refused rather than read as "no cap"."""
    if value is None:
        return None
    return check_int(value, name, 1, hint="; omit it for no cap")


def check_search(search: Any, popsize: Any, generations: Any, max_queries: int | None) -> None:
    """Build the search once, so that its own checks (DE population, budget; DE settings with another search)
    run before any work."""
    from .assemble import search_with

    if isinstance(search, str) and search.lower() == "de":
        if popsize is not None:
            check_int(popsize, "popsize", 5, hint=" (DE needs at least 5 candidates to mutate)")
        if generations is not None:
            check_int(generations, "generations", 0)
    search_with(search.lower() if isinstance(search, str) else search, max_queries, popsize=popsize,
                generations=generations)


def check_evaluate_options(*, n: Any, pixels: Sequence[Any], mode: str, protocol: str, seed: Any, popsize: Any,
                           generations: Any, max_queries: Any, search: Any, batch_images: Any, space: str,
                           workers: Any, loss: str = "probability") -> None:
    """Every setting of a campaign (:func:`onepixel.campaign.evaluate`), checked before its store is opened."""
    from .campaign.protocol import MODES, PROTOCOLS
    from .objectives import LOSSES

    if loss not in LOSSES:
        raise InputError(f"loss must be one of {', '.join(LOSSES)} (got {loss!r})")

    if protocol not in PROTOCOLS:
        raise InputError(f"protocol must be one of {', '.join(PROTOCOLS)} (got {protocol!r})")
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
    if space not in ("input", "file"):
        raise InputError(f"space must be 'input' or 'file' (got {space!r})")
    check_int(n, "n (images)", 1)
    if not pixels:
        raise InputError("need at least one pixel count (e.g. pixels=[1] or -k 1)")
    for k in pixels:
        check_int(k, "pixels", 1)
    check_seed(seed)
    check_int(batch_images, "batch_images", 1, hint=" (attacks run together in one batch)")
    check_int(workers, "workers", 1)
    if not isinstance(search, str) and not callable(getattr(search, "ask", None)):
        raise InputError(f"search must be a name such as 'de' or 'rs', or a search object (got {search!r})")
    check_search(search, popsize, generations, check_max_queries(max_queries))


def check_class(value: Any, num_classes: int | None, what: str = "target") -> int:
    """A class index within the model's classes (where their number is known)."""
    k = check_int(value, what, 0)
    if num_classes is not None and k >= num_classes:
        raise InputError(f"{what} {k} is out of range: this model has {num_classes} classes (0..{num_classes - 1})")
    return k


def closest(value: str, names: Sequence[str], n: int = 5) -> str:
    """A hint naming the few class names closest to ``value`` (all of them when there are few)."""
    if len(names) <= 20:
        return f"; classes: {', '.join(names)}"
    near = difflib.get_close_matches(value.lower(), [s.lower() for s in names], n=n, cutoff=0.5)
    if not near:
        near = [s for s in names if value.lower() in s.lower()][:n]
    shown = f"closest: {', '.join(near)}; " if near else ""
    return f"; {shown}give a class index 0..{len(names) - 1} or an exact name"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_outputs(outputs: Mapping[str, str | Path | None], inputs: Iterable[str | Path | None]) -> None:
    """Refuse outputs that are an input file (by path or by link) or each other, and outputs that cannot be
    written (a read-only folder, a folder in the way); run it before the work whose results they hold."""
    given = {name: Path(p) for name, p in outputs.items() if p is not None}
    ins = [Path(p) for p in inputs if p is not None]
    for name, path in given.items():
        for src in ins:
            if _same_file(path, src):
                raise InputError(f"{name} {path} is the input file {src}; writing it would overwrite the input, "
                                 "choose another output path")
    names = list(given)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if _same_file(given[a], given[b]):
                raise InputError(f"{a} and {b} are the same file ({given[a]}); give them different paths")
    for name, path in given.items():
        check_writable_file(path, name)


def _probe(folder: Path, name: str, path: Path) -> None:
    """Create ``folder`` (and its parents) and a file in it, then remove the file: the one check that also holds
    for root, read-only mounts and full disks, where permission bits say nothing."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise InputError(f"{name} {path} cannot be written ({e.strerror or e}: {e.filename or folder}); "
                         "choose another path") from None


def check_writable_file(path: str | Path, name: str = "output") -> None:
    """``path`` can be created or replaced (its folder is created if missing): checked by writing a probe file
    beside it, so an unwritable output is found before the work, not after."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{name} {path} is a folder; give a file path")
    _probe(path.parent, name, path)


def check_writable_folder(folder: str | Path, name: str = "--out") -> None:
    """``folder`` is a writable folder (created if missing)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{name} {folder} is a file, not a folder")
    _probe(folder, name, folder)
