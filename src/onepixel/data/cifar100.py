"""CIFAR-100: the official python archive (``cifar-100-python.tar.gz``), md5-verified, fine labels.

Search order as for CIFAR-10: an explicit path, ``$ONEPIXEL_DATA``, the cache (``$ONEPIXEL_CACHE`` or
``~/.cache/onepixel``), then the official download. A path may be the archive itself (verified against the
official md5, then read in place), a folder holding it, or a folder with the unpacked ``cifar-100-python/``
(``train``, ``test``, ``meta``). The batches are pickles: they are read with CIFAR-10's restricted unpickler,
which builds only plain containers and numpy arrays and refuses any other class.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .cifar10 import PlainUnpickler, cache_dir
from .download import fetch_verified_archive, file_md5

CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
CIFAR100_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"
ARCHIVE = "cifar-100-python.tar.gz"
FOLDER = "cifar-100-python"
_FILES = ("train", "test", "meta")


def _unpickle(raw: bytes, what: str) -> dict:
    try:
        d = PlainUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise DataError(f"{what} is not a valid CIFAR-100 file ({e})") from None
    if not isinstance(d, dict):
        raise DataError(f"{what} is not a valid CIFAR-100 file (no dict inside)")
    return d


def _split(raw: bytes, meta_raw: bytes, what: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    d, meta = _unpickle(raw, what), _unpickle(meta_raw, f"{what} meta")
    try:
        data = np.asarray(d[b"data"], dtype=np.uint8)
        fine = np.asarray(d[b"fine_labels"], dtype=np.int64)
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta[b"fine_label_names"]]
    except KeyError as e:
        raise DataError(f"{what} lacks the key {e.args[0]!r} of the official CIFAR-100 format") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(fine) != len(data):
        raise DataError(f"{what}: expected data (N, 3072) and N fine labels, got {data.shape} and {len(fine)}")
    if len(names) != 100 or fine.min(initial=0) < 0 or fine.max(initial=0) >= 100:
        raise DataError(f"{what}: expected 100 fine classes with labels 0..99")
    x = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return x, fine, names


def _from_folder(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    for base in (folder / FOLDER, folder):
        if (base / split).is_file() and (base / "meta").is_file():
            return _split((base / split).read_bytes(), (base / "meta").read_bytes(), str(base / split))
    return None


def _from_archive(archive: Path, split: str, md5: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    got = file_md5(archive)
    if got != md5:
        raise DataError(f"{archive} has md5 {got}, but the official {ARCHIVE} has {md5}; it is not the official "
                        f"archive (re-download it from {CIFAR100_URL}, or pass the folder it unpacks to)")
    try:
        with tarfile.open(archive) as tar:
            raw = {name: tar.extractfile(f"{FOLDER}/{name}") for name in (split, "meta")}
            parts = {k: f.read() for k, f in raw.items() if f is not None}
    except (tarfile.TarError, KeyError, OSError, EOFError) as e:
        raise DataError(f"{archive} could not be read as the CIFAR-100 archive ({e})") from None
    return _split(parts[split], parts["meta"], f"{archive}:{FOLDER}/{split}")


def load_cifar100(split: str = "test", path: str | Path | None = None, download: bool = True,
                  md5: str = CIFAR100_MD5) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """CIFAR-100 ``split`` ("train" or "test") as ``(x uint8 (N, 32, 32, 3), fine labels int64 (N,),
    the 100 fine class names)``.

    ``path`` may be the official archive (md5-verified; ``md5`` is for archives built like it, e.g. in tests),
    a folder holding it, or a folder with the unpacked ``cifar-100-python/``. Then ``$ONEPIXEL_DATA`` and the
    cache are searched; if nothing is found and ``download`` is true the official archive is downloaded into
    the cache, verified and unpacked.
    """
    if split not in ("train", "test"):
        raise DataError(f"CIFAR-100 split must be 'train' or 'test' (got {split!r})")
    candidates: list[Path] = []
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise DataError(f"CIFAR-100 path {p} does not exist")
        candidates.append(p)
    if os.environ.get("ONEPIXEL_DATA"):
        candidates.append(Path(os.environ["ONEPIXEL_DATA"]))
    candidates += [cache_dir() / "cifar100", cache_dir()]
    for where in candidates:
        if where.is_file():
            return _from_archive(where, split, md5)
        if not where.is_dir():
            continue
        found = _from_folder(where, split)
        if found is not None:
            return found
        if (where / ARCHIVE).is_file():
            return _from_archive(where / ARCHIVE, split, md5)
    if download:
        found = _from_folder(download_cifar100(md5=md5), split)
        if found is not None:
            return found
    raise DataError(f"CIFAR-100 not found (looked in {', '.join(map(str, candidates))}); pass --data with "
                    f"{ARCHIVE} or its unpacked {FOLDER}/, or allow the download from {CIFAR100_URL}")


def download_cifar100(url: str | None = None, md5: str = CIFAR100_MD5, dest: Path | None = None,
                      progress: bool = True) -> Path:
    """Download, verify and unpack the official archive into the cache; returns the folder holding
    ``cifar-100-python/``. As for CIFAR-10, only a verified, completely unpacked copy is moved into place.
    ``$ONEPIXEL_CIFAR100_URL`` overrides the URL (a mirror)."""
    url = url or os.environ.get("ONEPIXEL_CIFAR100_URL") or CIFAR100_URL
    dest = dest or cache_dir() / "cifar100"
    final = dest / FOLDER
    if all((final / f).is_file() for f in _FILES):
        return dest
    fetch_verified_archive(url, md5, dest, what="CIFAR-100", archive=ARCHIVE, folder=FOLDER, files=_FILES,
                           contents=f"{FOLDER}/ with train, test and meta", progress=progress)
    return dest
