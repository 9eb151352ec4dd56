"""CIFAR-10: find it locally, or download and verify the official archive.

Search order: an explicit path, ``$ONEPIXEL_DATA``, the cache (``$ONEPIXEL_CACHE`` or
``~/.cache/onepixel``), then the official download from the University of Toronto. A folder may hold
``train.npz`` / ``test.npz`` (``x`` uint8 N x 32 x 32 x 3, ``y``) or the official python batches
(``data_batch_1..5``, ``test_batch``, possibly inside ``cifar-10-batches-py/``).
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np

from ..errors import DataError
from .download import fetch_verified_archive

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def cache_dir() -> Path:
    """Where onepixel keeps downloads: ``$ONEPIXEL_CACHE`` or ``~/.cache/onepixel``."""
    return Path(os.environ.get("ONEPIXEL_CACHE") or Path.home() / ".cache" / "onepixel")


class PlainUnpickler(pickle.Unpickler):
    """Unpickles only what the official CIFAR batches hold: dicts, lists, strings, bytes, numbers and
    numpy arrays. Any other class (and so any code execution) is refused."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: not plain data")


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        d = PlainUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise DataError(f"{path} is not a valid CIFAR-10 batch ({e})") from None
    data = np.asarray(d[b"data"], dtype=np.uint8)
    x = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), np.asarray(d[b"labels"], dtype=np.uint8)


def _from_folder(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Load a split from a folder in one of the accepted layouts, or None if it holds none."""
    npz = folder / f"{split}.npz"
    if npz.is_file():
        with np.load(npz, allow_pickle=False) as f:
            if "x" not in f or "y" not in f:
                raise DataError(f"{npz} lacks the arrays 'x' and 'y'")
            x, y = f["x"], f["y"]
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3) or len(x) != len(y):
            raise DataError(f"{npz}: expected x uint8 (N, 32, 32, 3) and y (N,), got x {x.dtype} {x.shape}, y {y.shape}")
        return x, y.astype(np.uint8)
    for base in (folder, folder / "cifar-10-batches-py"):
        files = [base / b for b in _BATCHES[split]]
        if all(f.is_file() for f in files):
            parts = [_read_batch(f) for f in files]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return None


def load_cifar10(split: str = "test", path: str | Path | None = None, download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 ``split`` ("train" or "test") as ``(x uint8 (N, 32, 32, 3), y uint8 (N,))``.

    Looks in ``path``, then ``$ONEPIXEL_DATA``, then the cache; downloads the official archive into the
    cache if nothing is found and ``download`` is true.
    """
    if split not in _BATCHES:
        raise DataError(f"CIFAR-10 split must be 'train' or 'test' (got {split!r})")
    looked: list[str] = []
    candidates: list[Path] = []
    if path is not None:
        candidates.append(Path(path))
    if os.environ.get("ONEPIXEL_DATA"):
        env = Path(os.environ["ONEPIXEL_DATA"])
        if path is None and not env.is_dir():  # a typo here would otherwise end in a download attempt
            raise DataError(f"ONEPIXEL_DATA={env} is not a folder; point it at the folder with the CIFAR-10 files "
                            "(train.npz/test.npz or the python batches), or unset it to use the cache")
        candidates.append(env)
    candidates += [cache_dir() / "cifar10", cache_dir()]
    for folder in candidates:
        looked.append(str(folder))
        if folder.is_dir():
            found = _from_folder(folder, split)
            if found is not None:
                return found
        elif path is not None and folder == Path(path):
            raise DataError(f"CIFAR-10 folder {folder} does not exist")
    if download:
        folder = download_cifar10()
        found = _from_folder(folder, split)
        if found is not None:
            return found
    raise DataError(
        f"CIFAR-10 not found (looked in {', '.join(looked)}); set ONEPIXEL_DATA to a folder with "
        f"train.npz/test.npz or the official python batches, or allow the download from {CIFAR10_URL}")


def download_cifar10(url: str | None = None, md5: str = CIFAR10_MD5, dest: Path | None = None, progress: bool = True) -> Path:
    """Download, verify and unpack the official archive; returns the folder with the batches.

    The archive goes to a temporary file and is unpacked into a temporary folder in the cache; only a
    verified, completely unpacked copy is renamed into place, so an interrupted or corrupt download never
    leaves a broken cache. ``$ONEPIXEL_CIFAR10_URL`` overrides the URL (mirrors, tests).
    """
    url = url or os.environ.get("ONEPIXEL_CIFAR10_URL") or CIFAR10_URL
    dest = dest or cache_dir()
    final = dest / "cifar-10-batches-py"
    if all((final / b).is_file() for bs in _BATCHES.values() for b in bs):
        return final
    return fetch_verified_archive(url, md5, dest, what="CIFAR-10", archive="cifar-10-python.tar.gz",
                                  folder="cifar-10-batches-py", files=[b for bs in _BATCHES.values() for b in bs],
                                  contents="cifar-10-batches-py with all batches", progress=progress)
