"""Image datasets on disk: the Kaggle CIFAR-10 layout, a folder with one sub-folder per class (same-size images,
loaded at once) and any class-folder tree of photos (read lazily)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..imageio import read_image
from .cifar10 import CIFAR10_CLASSES
from .photoset import IMAGE_SUFFIXES, PhotoSet, image_files


def _stack(images: list[np.ndarray], where: Path) -> np.ndarray:
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise DataError(f"images in {where} have different sizes {sorted(shapes)[:3]}; resize them to one size first")
    return np.stack(images)


def load_kaggle(folder: str | Path, labels_csv: str | Path | None = None) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """The Kaggle CIFAR-10 layout: ``<id>.png`` files plus a CSV with ``id,label`` rows.

    ``labels_csv`` defaults to ``trainLabels.csv`` beside or inside ``folder``. Returns
    ``(x, y, ids, class_names)``, rows sorted by numeric id; class indices follow the CIFAR-10 order when
    the names are CIFAR-10's, else sorted names.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"Kaggle image folder {folder} does not exist")
    if labels_csv is None:
        for cand in (folder / "trainLabels.csv", folder.parent / "trainLabels.csv"):
            if cand.is_file():
                labels_csv = cand
                break
        else:
            raise DataError(f"no trainLabels.csv in {folder} or {folder.parent}; pass labels_csv")
    with Path(labels_csv).open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"id", "label"} <= set(rows[0]):
        raise DataError(f"{labels_csv} must have a header with the columns id,label")
    names = sorted({r["label"] for r in rows})
    classes = list(CIFAR10_CLASSES) if set(names) <= set(CIFAR10_CLASSES) else names
    rows.sort(key=lambda r: int(r["id"]) if r["id"].isdigit() else r["id"])
    images, labels, ids = [], [], []
    for r in rows:
        path = folder / f"{r['id']}.png"
        if not path.is_file():
            raise DataError(f"{labels_csv} lists id {r['id']} but {path} is missing")
        images.append(read_image(path))
        labels.append(classes.index(r["label"]))
        ids.append(r["id"])
    return _stack(images, folder), np.asarray(labels, dtype=np.int64), ids, classes


def load_image_folder(root: str | Path) -> tuple[np.ndarray, np.ndarray, list[Path], list[str]]:
    """A folder with one sub-folder of images per class (sorted names = class indices).

    Returns ``(x, y, paths, class_names)``; all images must have the same size.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DataError(f"{root} has no class sub-folders; expected {root}/<class>/<image>.png")
    images, labels, paths = [], [], []
    for k, name in enumerate(classes):
        for path in sorted((root / name).iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                images.append(read_image(path))
                labels.append(k)
                paths.append(path)
    if not images:
        raise DataError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {root}")
    return _stack(images, root), np.asarray(labels, dtype=np.int64), paths, classes


def load_photo_tree(root: str | Path, model_classes: Sequence[str] | None = None
                    ) -> tuple[PhotoSet, np.ndarray, list[str] | None]:
    """Any folder tree with one sub-folder per class (images at any depth below it, of any sizes), read
    lazily. Returns ``(photos, labels, class_names)``; the folder names map to class indices:

    - ImageNet WordNet ids (``n01440764``): the official synset order, with the ImageNet class names;
    - the model's class names (``model_classes``, compared case-insensitively, ``_`` as space): the model's
      indices and names;
    - integers: those indices, with the model's names where it has them (else None);
    - anything else: sorted folder names (torchvision's ImageFolder order), named after the folders.
    """
    from .imagenet import WNID, synset_index
    from .labels import imagenet_classes

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    folders = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not folders:
        raise DataError(f"{root} has no class sub-folders; expected {root}/<class>/<image>")
    names = [d.name for d in folders]
    classes: list[str] | None
    if all(WNID.fullmatch(n) for n in names):
        index = {n: synset_index(n, str(root / n)) for n in names}
        classes = list(imagenet_classes())
    elif model_classes and all(_key(n) in {_key(c) for c in model_classes} for n in names):
        keys = [_key(c) for c in model_classes]
        index = {n: keys.index(_key(n)) for n in names}
        classes = list(model_classes)
    elif all(n.isdigit() for n in names):
        index = {n: int(n) for n in names}
        classes = list(model_classes) if model_classes else None
    else:
        index = {n: k for k, n in enumerate(names)}
        classes = names
    paths, labels = [], []
    for d in folders:
        for path in image_files(d):
            paths.append(path)
            labels.append(index[d.name])
    if not paths:
        raise DataError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {root}")
    return PhotoSet(paths), np.asarray(labels, dtype=np.int64), classes


def _key(name: str) -> str:
    return name.strip().lower().replace("_", " ")
