"""Fetching an official dataset archive: download, md5 check, unpack, and move into the cache only when complete.

CIFAR-10 and CIFAR-100 share this path; an interrupted or corrupt download never leaves a broken cache.
"""

from __future__ import annotations

import hashlib
import http.client
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from ..errors import DataError


def file_md5(path: Path) -> str:
    h = hashlib.md5()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_url(url: str, out: Path, progress: bool, what: str = "CIFAR-10",
              offline: str = "set ONEPIXEL_DATA to a local copy") -> None:
    """Download ``url`` into ``out`` (a progress bar named ``what``); a cut-short or failed download is a
    one-line :class:`DataError` (unreachable: ``offline`` says what to do without the network)."""
    from ..progress import progress_bar

    try:
        with urllib.request.urlopen(url, timeout=60) as resp, out.open("wb") as f:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with progress_bar(total, "B", what, disable=not progress, unit_scale=True) as bar:
                for block in iter(lambda: resp.read(1 << 16), b""):
                    f.write(block)
                    bar.update(len(block))
        if total is not None and out.stat().st_size != total:
            raise DataError(f"download from {url} was cut short ({out.stat().st_size} of {total} bytes); nothing was cached, try again")
    except urllib.error.URLError as e:
        raise DataError(f"could not download {what} from {url} ({e.reason}); check the connection, or {offline}") from None
    except (OSError, ValueError, http.client.HTTPException) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"download from {url} failed ({e}); nothing was cached, try again") from None


def fetch_verified_archive(url: str, md5: str, dest: Path, *, what: str, archive: str, folder: str,
                           files: Sequence[str], contents: str, progress: bool = True) -> Path:
    """Download the tar archive at ``url`` into a temporary folder in ``dest``, check its ``md5``, unpack it
    and check that its ``folder`` holds every one of ``files`` (``contents`` says so in the error); only then is
    ``folder`` moved to ``dest / folder`` (atomic within one filesystem), replacing what was there. Returns that
    path. ``what`` names the dataset in messages."""
    final = dest / folder
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as tmp:
        path = Path(tmp) / archive
        fetch_url(url, path, progress, what, offline=f"offline, unpack {archive} (fetched on another machine) and "
                                                    f"set ONEPIXEL_DATA to the folder that holds {folder}/")
        got = file_md5(path)
        if got != md5:
            raise DataError(f"downloaded {what} archive from {url} has md5 {got}, expected {md5}; nothing was cached, "
                            "try again")
        unpack = Path(tmp) / "unpacked"
        try:
            with tarfile.open(path) as tar:
                tar.extractall(unpack, filter="data")
        except (tarfile.TarError, OSError, EOFError) as e:
            raise DataError(f"{what} archive from {url} could not be unpacked ({e}); nothing was cached") from None
        if not all((unpack / folder / f).is_file() for f in files):
            raise DataError(f"archive from {url} does not hold {contents}; nothing was cached")
        if final.exists():
            shutil.rmtree(final)
        (unpack / folder).rename(final)
    return final
