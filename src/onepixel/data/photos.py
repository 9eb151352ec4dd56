"""Folders of full-resolution photos with a ``labels.csv`` (e.g. ``../shared/data/imagenet-sample``).

Photos keep their own sizes (a list, not a stacked array): the model-input space crops and resizes them
with :class:`onepixel.photo.PhotoPreprocess`, the file space attacks them as they are.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import DataError, InputError
from ..imageio import read_image


def load_photo_csv(folder: str | Path, labels_csv: str | Path | None = None, limit: int | None = None
                   ) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """Photos listed in a CSV with the columns ``filename`` and ``class_index`` (extra columns ignored).

    Returns ``(photos, labels, filenames)``: uint8 RGB (H, W, 3) arrays of differing sizes (greyscale photos
    are converted to RGB, EXIF orientation is applied), int64 class indices, and the file names, in CSV order.
    ``limit`` reads only the first rows.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"photo folder {folder} does not exist")
    labels_csv = Path(labels_csv) if labels_csv is not None else folder / "labels.csv"
    if not labels_csv.is_file():
        raise DataError(f"no {labels_csv.name} in {folder}; expected a CSV with the columns filename,class_index")
    with labels_csv.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"filename", "class_index"} <= set(rows[0]):
        raise DataError(f"{labels_csv} must have a header with the columns filename,class_index")
    photos, labels, names = [], [], []
    for line, r in enumerate(rows[:limit] if limit is not None else rows, start=2):
        try:
            label = int(r["class_index"])
        except ValueError:
            raise DataError(f"{labels_csv} line {line}: class_index {r['class_index']!r} is not an integer") from None
        path = folder / r["filename"]
        if not path.is_file():
            raise DataError(f"{labels_csv} line {line} lists {r['filename']} but {path} is missing")
        try:
            photos.append(read_image(path))
        except InputError as e:
            raise DataError(f"{labels_csv} line {line}: {e}") from None
        labels.append(label)
        names.append(r["filename"])
    if not photos:
        raise DataError(f"{labels_csv} lists no photos")
    return photos, np.asarray(labels, dtype=np.int64), names


def load_imagenet_sample(path: str | Path, limit: int | None = None) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """The 100-photo ImageNet sample (one photo per 10th class; see its README): full-resolution RGB photos,
    their standard ILSVRC-2012 class indices (0..999, the order of :func:`onepixel.data.labels.imagenet_classes`),
    and their file names. Class indices outside 0..999 are refused."""
    photos, labels, names = load_photo_csv(path, limit=limit)
    bad = np.nonzero((labels < 0) | (labels > 999))[0]
    if bad.size:
        raise DataError(f"{names[bad[0]]} has class_index {labels[bad[0]]}; ImageNet classes are 0..999")
    return photos, labels, names
