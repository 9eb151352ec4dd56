import hashlib
import http.server
import io
import os
import pickle
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import CIFAR_DIR, needs_shared
from onepixel.data import download_cifar10, load_cifar10, load_image_folder, load_kaggle
from onepixel.data.cifar10 import _read_batch
from onepixel.errors import DataError


def _batch_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    d = {b"batch_label": b"x", b"labels": [int(v) for v in y], b"data": x.transpose(0, 3, 1, 2).reshape(len(x), -1),
         b"filenames": [b"f"] * len(x)}
    return pickle.dumps(d, protocol=2)


def _official_archive(x: np.ndarray, y: np.ndarray) -> bytes:
    """A small archive in the official layout: 5 train batches and a test batch."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        parts = np.array_split(np.arange(len(x) - 10), 5)
        names = [(f"data_batch_{i + 1}", p) for i, p in enumerate(parts)] + [("test_batch", np.arange(len(x) - 10, len(x)))]
        for name, idx in names:
            blob = _batch_bytes(x[idx], y[idx])
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


@pytest.fixture
def small_cifar():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (30, 32, 32, 3)).astype(np.uint8), rng.integers(0, 10, 30).astype(np.uint8)


class _Server:
    def __init__(self, body: bytes, declared: int | None = None):
        payload, size = body, declared or len(body)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *a):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/cifar-10-python.tar.gz"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def test_download_verifies_and_unpacks(tmp_path, small_cifar):
    x, y = small_cifar
    archive = _official_archive(x, y)
    srv = _Server(archive)
    try:
        folder = download_cifar10(url=srv.url, md5=hashlib.md5(archive).hexdigest(), dest=tmp_path, progress=False)
    finally:
        srv.close()
    assert folder == tmp_path / "cifar-10-batches-py"
    tx, ty = load_cifar10("test", path=tmp_path, download=False)
    assert np.array_equal(tx, x[-10:]) and np.array_equal(ty, y[-10:])
    trx, _ = load_cifar10("train", path=tmp_path, download=False)
    assert np.array_equal(trx, x[:-10])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".download")]


def test_wrong_checksum_leaves_no_cache(tmp_path, small_cifar):
    archive = _official_archive(*small_cifar)
    srv = _Server(archive)
    try:
        with pytest.raises(DataError, match="md5"):
            download_cifar10(url=srv.url, md5="0" * 32, dest=tmp_path, progress=False)
    finally:
        srv.close()
    assert list(tmp_path.iterdir()) == []


def test_truncated_transfer_leaves_no_cache(tmp_path, small_cifar):
    archive = _official_archive(*small_cifar)
    srv = _Server(archive[: len(archive) // 2], declared=len(archive))
    try:
        with pytest.raises(DataError):
            download_cifar10(url=srv.url, md5=hashlib.md5(archive).hexdigest(), dest=tmp_path, progress=False)
    finally:
        srv.close()
    assert list(tmp_path.iterdir()) == []


def test_offline_and_nothing_found_says_where_it_looked(tmp_path, monkeypatch):
    (tmp_path / "nothing").mkdir()  # a folder without CIFAR-10 (a missing one is named at once, without a download)
    monkeypatch.setenv("ONEPIXEL_DATA", str(tmp_path / "nothing"))
    monkeypatch.setenv("ONEPIXEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ONEPIXEL_CIFAR10_URL", "http://127.0.0.1:9/none.tar.gz")
    with pytest.raises(DataError, match="could not download") as e:
        load_cifar10("test")
    # without the network: what to copy, and where ONEPIXEL_DATA must point
    assert "set ONEPIXEL_DATA to the folder that holds cifar-10-batches-py/" in str(e.value)
    with pytest.raises(DataError, match="looked in") as e:
        load_cifar10("test", download=False)
    assert str(tmp_path / "nothing") in str(e.value)


@needs_shared(CIFAR_DIR)
def test_npz_and_pickle_layouts_give_identical_arrays(tmp_path):
    x, y = load_cifar10("test", path=CIFAR_DIR)
    assert x.shape == (10000, 32, 32, 3) and y[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert hashlib.sha256(x.tobytes()).hexdigest().startswith("f9b1e213")
    (tmp_path / "test_batch").write_bytes(_batch_bytes(x, y))
    px, py = load_cifar10("test", path=tmp_path, download=False)
    assert np.array_equal(px, x) and np.array_equal(py, y)


def test_env_var_is_used(tmp_path, monkeypatch, small_cifar):
    x, y = small_cifar
    np.savez(tmp_path / "test.npz", x=x, y=y)
    monkeypatch.setenv("ONEPIXEL_DATA", str(tmp_path))
    gx, gy = load_cifar10("test", download=False)
    assert np.array_equal(gx, x)


def test_restricted_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    bad = tmp_path / "test_batch"
    bad.write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataError, match="refusing"):
        _read_batch(bad)


def test_kaggle_layout(tmp_path, small_cifar):
    x, _ = small_cifar
    names = ["cat", "ship", "frog"]
    (tmp_path / "train").mkdir()
    lines = ["id,label"]
    for i in range(6):
        Image.fromarray(x[i]).save(tmp_path / "train" / f"{i + 1}.png")
        lines.append(f"{i + 1},{names[i % 3]}")
    (tmp_path / "trainLabels.csv").write_text("\n".join(lines) + "\n")
    kx, ky, ids, classes = load_kaggle(tmp_path / "train")
    assert np.array_equal(kx, x[:6]) and ids == ["1", "2", "3", "4", "5", "6"]
    assert [classes[k] for k in ky] == [names[i % 3] for i in range(6)]
    assert classes[3] == "cat"  # CIFAR-10 order kept


def test_image_folder(tmp_path, small_cifar):
    x, _ = small_cifar
    for k, name in enumerate(["b_dog", "a_cat"]):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.fromarray(x[3 * k + i]).save(tmp_path / name / f"{i}.png")
    fx, fy, paths, classes = load_image_folder(tmp_path)
    assert classes == ["a_cat", "b_dog"] and fy.tolist() == [0, 0, 0, 1, 1, 1]
    assert np.array_equal(fx[:3], x[3:6])
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(tmp_path / "a_cat" / "odd.png")
    with pytest.raises(DataError, match="different sizes"):
        load_image_folder(tmp_path)


def test_missing_explicit_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_cifar10("test", path=Path(tmp_path) / "nope")
