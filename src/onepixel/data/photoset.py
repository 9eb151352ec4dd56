"""Photo files read when they are used: datasets as large as ImageNet validation (50,000 photos) are attacked a
few images at a time, so only the sampled photos are ever decoded."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, InputError
from ..imageio import read_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


class PhotoSet:
    """Photos on disk, indexed like an array: ``photos[i]`` is the decoded uint8 RGB (H, W, 3) photo,
    ``photos[[i, j]]`` a list of them. ``transform`` (e.g. a crop + resize to the model input) is applied to
    each photo after decoding; with one, an index array gives a stacked array. Recently used images are kept
    (``cache`` of them)."""

    def __init__(self, paths: Sequence[Path], transform: Callable[[Any], Any] | None = None,
                 cache: int = 1024) -> None:
        self.paths = [Path(p) for p in paths]
        self.transform = transform
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._size = cache

    def __len__(self) -> int:
        return len(self.paths)

    def view(self, transform: Callable[[Any], Any]) -> PhotoSet:
        """The same photos with ``transform`` applied to each (e.g. the model's crop and resize)."""
        return PhotoSet(self.paths, transform, self._size)

    def _one(self, i: int) -> np.ndarray:
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        try:
            image = read_image(self.paths[i])
        except InputError as e:
            raise DataError(f"{self.paths[i]}: {e}") from None
        if image.shape[-1] == 1:
            image = np.repeat(image, 3, axis=-1)
        out = self.transform(image) if self.transform is not None else image
        self._cache[i] = out
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return out

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (int, np.integer)):
            return self._one(int(index) % len(self))
        items = [self._one(int(i)) for i in np.asarray(index).reshape(-1)]
        return np.stack(items) if self.transform is not None and items else items


def image_files(folder: Path, recursive: bool = True) -> list[Path]:
    """Image files under ``folder`` (by suffix), sorted by path; hidden files and folders are skipped."""
    pattern = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in pattern if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))
