"""The ImageNet (ILSVRC-2012) validation set in its two common layouts, read lazily (:class:`PhotoSet`).

Class indices follow the official synset order: the 1000 WordNet ids sorted (0 = n01440764 tench ...
999 = n15075141 toilet tissue), the order of torchvision, timm and Keras and of
:func:`~onepixel.data.labels.imagenet_classes`.

- **Synset folders**: ``val/n01440764/ILSVRC2012_val_00000293.JPEG`` ... (as torchvision's ImageFolder reads it).
- **Flat**: ``val/ILSVRC2012_val_00000001.JPEG`` ... plus a ground-truth file, either the devkit's
  ``ILSVRC2012_validation_ground_truth.txt`` (line i: the ILSVRC2012_ID of image i, in the devkit's own order,
  mapped to synsets through the devkit's ``meta.mat``) or Kaggle's ``LOC_val_solution.csv``
  (``ImageId,PredictionString``, the synset first). A subset of the 50,000 photos may be present: each photo's
  number in its file name picks its ground-truth line.
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import DataError
from .photoset import PhotoSet, image_files

WNID = re.compile(r"n\d{8}")
VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})", re.IGNORECASE)
DEVKIT_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
KAGGLE_TRUTH = "LOC_val_solution.csv"


@lru_cache(maxsize=1)
def imagenet_synsets() -> tuple[str, ...]:
    """The 1000 ILSVRC-2012 WordNet ids in the official (sorted) order: index = class index."""
    text = resources.files("onepixel.data").joinpath("imagenet_synsets.txt").read_text(encoding="utf-8")
    ids = tuple(text.split())
    if len(ids) != 1000 or list(ids) != sorted(ids):
        raise DataError("onepixel's imagenet_synsets.txt is damaged (expected 1000 sorted WordNet ids); reinstall")
    return ids


def synset_index(wnid: str, where: str) -> int:
    index = {w: i for i, w in enumerate(imagenet_synsets())}
    if wnid not in index:
        raise DataError(f"{where}: {wnid} is not one of the 1000 ILSVRC-2012 classes")
    return index[wnid]


def load_imagenet_val(path: str | Path) -> tuple[PhotoSet, np.ndarray]:
    """ImageNet validation photos under ``path`` (either layout; see the module docstring) and their class
    indices in the official synset order."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"ImageNet validation folder {root} does not exist")
    synset_dirs = sorted(d for d in root.iterdir() if d.is_dir() and WNID.fullmatch(d.name))
    if synset_dirs:
        paths, labels = [], []
        for d in synset_dirs:
            k = synset_index(d.name, str(d))
            for p in image_files(d):
                paths.append(p)
                labels.append(k)
        if not paths:
            raise DataError(f"{root} has synset folders but no images in them")
        return PhotoSet(paths), np.asarray(labels, dtype=np.int64)
    photos = [p for p in image_files(root, recursive=False) if VAL_NAME.search(p.name)]
    if not photos:
        raise DataError(f"{root} holds neither synset folders (n01440764/, ...) nor ILSVRC2012_val_*.JPEG photos")
    truth = _ground_truth(root)
    labels = []
    for p in photos:
        number = int(VAL_NAME.search(p.name).group(1))  # type: ignore[union-attr]
        if number not in truth:
            raise DataError(f"the ground truth has no entry for {p.name}")
        labels.append(truth[number])
    return PhotoSet(photos), np.asarray(labels, dtype=np.int64)


def _find(root: Path, name: str) -> Path | None:
    for where in (root, root.parent, root / "ILSVRC2012_devkit_t12" / "data",
                  root.parent / "ILSVRC2012_devkit_t12" / "data"):
        if (where / name).is_file():
            return where / name
    return None


def _ground_truth(root: Path) -> dict[int, int]:
    """Photo number -> class index, from the devkit ground truth (with meta.mat) or Kaggle's CSV."""
    kaggle = _find(root, KAGGLE_TRUTH)
    if kaggle is not None:
        return _kaggle_truth(kaggle)
    devkit = _find(root, DEVKIT_TRUTH)
    if devkit is None:
        raise DataError(f"no ground truth for the flat validation photos in {root}: put {DEVKIT_TRUTH} and the "
                        f"devkit's meta.mat (or Kaggle's {KAGGLE_TRUTH}) beside them, or sort the photos into "
                        "synset folders")
    meta = _find(root, "meta.mat") or _find(devkit.parent, "meta.mat")
    if meta is None:
        raise DataError(f"{devkit} numbers classes by the devkit's ILSVRC2012_ID, which is not the synset order; "
                        "put the devkit's data/meta.mat beside it (ILSVRC2012_devkit_t12/data/meta.mat)")
    id_to_wnid = devkit_ids(meta)
    truth = {}
    for line, text in enumerate(devkit.read_text(encoding="utf-8").split(), start=1):
        try:
            wnid = id_to_wnid[int(text)]
        except (ValueError, KeyError):
            raise DataError(f"{devkit} line {line}: {text!r} is not an ILSVRC2012_ID of {meta}") from None
        truth[line] = synset_index(wnid, f"{devkit} line {line}")
    return truth


def devkit_ids(meta: Path) -> dict[int, str]:
    """ILSVRC2012_ID -> WordNet id of the 1000 leaf classes, from the devkit's ``meta.mat`` (a MATLAB file,
    read with scipy; no pickle)."""
    try:
        from scipy.io import loadmat
    except ImportError:
        raise DataError("reading the devkit's meta.mat needs scipy: pip install 'onepixel[imagenet]'") from None
    try:
        synsets = loadmat(str(meta), squeeze_me=True)["synsets"]
        ids = [int(i) for i in synsets["ILSVRC2012_ID"]]
        wnids = [str(w) for w in synsets["WNID"]]
        children = [int(c) for c in synsets["num_children"]]
    except (KeyError, ValueError, TypeError, OSError) as e:
        raise DataError(f"{meta} is not the ILSVRC-2012 devkit's meta.mat ({e})") from None
    leaves = {i: w for i, w, c in zip(ids, wnids, children, strict=True) if c == 0}
    if len(leaves) != 1000:
        raise DataError(f"{meta} lists {len(leaves)} leaf synsets, expected the 1000 ILSVRC-2012 classes")
    return leaves


def _kaggle_truth(path: Path) -> dict[int, int]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"ImageId", "PredictionString"} <= set(rows[0]):
        raise DataError(f"{path} must have the columns ImageId,PredictionString")
    truth = {}
    for line, r in enumerate(rows, start=2):
        m, words = VAL_NAME.search(r["ImageId"]), r["PredictionString"].split()
        if m is None or not words:
            raise DataError(f"{path} line {line}: expected ILSVRC2012_val_<number> and a synset")
        truth[int(m.group(1))] = synset_index(words[0], f"{path} line {line}")
    return truth
