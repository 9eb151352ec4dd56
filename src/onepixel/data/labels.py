"""Class names: the 1000 ImageNet classes shipped with onepixel, and user label files (one name a line)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..errors import DataError

IMAGENET_CLASSES = 1000


@lru_cache(maxsize=2)
def imagenet_classes(full: bool = False) -> tuple[str, ...]:
    """The 1000 ILSVRC-2012 classes in the standard order (sorted WordNet ids: 0 = tench, 999 = toilet tissue).

    ``full=True`` gives the whole synonym list of each class ("tench, Tinca tinca"); the default gives the
    first synonym ("tench"), which is what tables and ``--target`` use. Note that two names repeat
    ("crane" 134 / 517, "maillot" 638 / 639): a name picks the first index, an index is always exact.
    """
    text = resources.files("onepixel.data").joinpath("imagenet_classes.txt").read_text(encoding="utf-8")
    lines = text.splitlines()
    if len(lines) != IMAGENET_CLASSES:  # a broken install; say so instead of mislabelling every result
        raise DataError(f"onepixel's imagenet_classes.txt has {len(lines)} lines, expected {IMAGENET_CLASSES}; reinstall onepixel")
    return tuple(lines) if full else tuple(line.split(",")[0].strip() for line in lines)


def read_labels(path: str | Path) -> tuple[str, ...]:
    """A labels file: one class name per line, in class-index order (blank trailing lines ignored)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"labels file not found: {path} (use --labels imagenet for the ImageNet classes)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a UTF-8 text file with one class name per line") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{path} is empty; it needs one class name per line")
    return tuple(line.strip() for line in lines)


def resolve_labels(spec: str | Path, num_classes: int | None = None) -> tuple[str, ...]:
    """``"imagenet"`` or a labels file, checked against the model's class count when it is known.

    A 1001-line file whose first line is "background" (the classic TFLite ImageNet labels) is accepted for a
    1000-class model: the background entry is dropped, as the TFLite adapter drops that output.
    """
    names = imagenet_classes() if str(spec).lower() == "imagenet" else read_labels(spec)
    if num_classes is not None and len(names) == num_classes + 1 and names[0].lower() == "background":
        names = names[1:]
    if num_classes is not None and len(names) != num_classes:
        raise DataError(f"labels {spec} name {len(names)} classes but the model has {num_classes}")
    return names
