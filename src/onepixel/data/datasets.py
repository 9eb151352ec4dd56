"""Datasets by the names a campaign takes (``--dataset``): what is attacked, as uint8 images, labels and class names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError


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
        from .cifar10 import CIFAR10_CLASSES, load_cifar10

        x, y = load_cifar10(split, path)
        return Dataset(f"cifar10/{split}", x, y.astype(np.int64), list(CIFAR10_CLASSES))
    if name == "cifar100":
        from .cifar100 import load_cifar100

        x, y, names = load_cifar100(split, path)
        return Dataset(f"cifar100/{split}", x, y, names)
    if name in PHOTO_DATASETS:
        if path is None:
            what = "photos + labels.csv" if name in ("imagenet-sample", "photos") else "class folders or photos"
            raise InputError(f"dataset {name} needs --data pointing at its folder ({what})")
        from .labels import imagenet_classes

        if name == "imagenet-val":
            from .imagenet import load_imagenet_val

            val, labels = load_imagenet_val(path)
            return Dataset(name, val, labels, list(imagenet_classes()))
        if name == "folder":
            from .folders import load_photo_tree

            tree, labels, classes = load_photo_tree(path, model_classes)
            return Dataset(name, tree, labels, classes)
        from .photos import load_imagenet_sample, load_photo_csv

        if name == "imagenet-sample":
            photos, labels, _ = load_imagenet_sample(path)
            return Dataset(name, photos, labels, list(imagenet_classes()))
        photos, labels, _ = load_photo_csv(path)
        return Dataset(name, photos, labels, None)
    raise InputError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}")
