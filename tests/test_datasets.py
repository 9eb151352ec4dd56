"""CIFAR-100 (official archive format, generated here), the ImageNet validation layouts and class-folder trees,
loaded and attacked end to end with tiny random-weight models (no network)."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from onepixel.campaign import evaluate
from onepixel.cli import main
from onepixel.data import imagenet_classes, imagenet_synsets, load_cifar100, load_imagenet_val, load_photo_tree
from onepixel.data.cifar100 import download_cifar100
from onepixel.data.photoset import PhotoSet
from onepixel.errors import DataError
from toys.nets import small_net

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FINE = [f"class{i:02d}" for i in range(100)]


def _cifar100_files(n_train: int = 6, n_test: int = 5, evil: bool = False) -> dict[str, bytes]:
    """train / test / meta pickled as in the official archive (byte-string keys, protocol 2)."""
    rng = np.random.default_rng(0)

    def split(n: int, name: bytes) -> dict:
        return {b"filenames": [b"f%d.png" % i for i in range(n)], b"batch_label": name,
                b"fine_labels": rng.integers(0, 100, n).tolist(), b"coarse_labels": rng.integers(0, 20, n).tolist(),
                b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8)}

    meta = {b"fine_label_names": [n.encode() for n in FINE], b"coarse_label_names": [b"c%d" % i for i in range(20)]}
    files = {"train": pickle.dumps(split(n_train, b"training batch 1 of 1"), protocol=2),
             "test": pickle.dumps(split(n_test, b"testing batch 1 of 1"), protocol=2),
             "meta": pickle.dumps(meta, protocol=2)}
    if evil:  # a pickle that would run a command if unpickled carelessly
        class Evil:
            def __reduce__(self):
                import os

                return (os.system, ("echo pwned",))

        files["test"] = pickle.dumps({b"data": Evil()}, protocol=2)
    return files


def _archive(path, files: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in files.items():
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path, hashlib.md5(path.read_bytes()).hexdigest()


def _expected(files, split):
    d = pickle.loads(files[split], encoding="bytes")
    return d[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.asarray(d[b"fine_labels"])


def test_cifar100_archive_folder_and_download(tmp_path, monkeypatch):
    files = _cifar100_files()
    archive, md5 = _archive(tmp_path / "cifar-100-python.tar.gz", files)
    x, y, names = load_cifar100("test", archive, md5=md5)
    ex, ey = _expected(files, "test")
    assert x.shape == (5, 32, 32, 3) and x.dtype == np.uint8 and np.array_equal(x, ex) and np.array_equal(y, ey)
    assert names == FINE
    assert load_cifar100("train", tmp_path, md5=md5)[0].shape == (6, 32, 32, 3)  # the folder holding the archive
    with pytest.raises(DataError, match="not the official archive"):
        load_cifar100("test", archive)  # the official md5 is checked by default
    monkeypatch.setenv("ONEPIXEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ONEPIXEL_DATA", raising=False)
    with pytest.raises(DataError, match="expected"):
        download_cifar100(url=archive.as_uri(), md5="0" * 32, progress=False)
    assert not (tmp_path / "cache" / "cifar100" / "cifar-100-python").exists()  # nothing half-cached
    folder = download_cifar100(url=archive.as_uri(), md5=md5, progress=False)
    x2, y2, _ = load_cifar100("test", folder)  # the unpacked folder needs no md5
    assert np.array_equal(x2, ex) and np.array_equal(y2, ey)
    assert np.array_equal(load_cifar100("test", download=False)[0], ex)  # found in the cache


def test_cifar100_pickles_are_never_unpickled_carelessly(tmp_path):
    archive, md5 = _archive(tmp_path / "cifar-100-python.tar.gz", _cifar100_files(evil=True))
    with pytest.raises(DataError, match="refusing to unpickle posix.system|refusing to unpickle os.system"):
        load_cifar100("test", archive, md5=md5)


def _torchscript(path, classes: int):
    torch.jit.save(torch.jit.script(small_net(classes)), str(path))
    return str(path)


def test_cifar100_campaign_end_to_end(tmp_path, capsys):
    files = _cifar100_files()
    root = tmp_path / "data"
    (root / "cifar-100-python").mkdir(parents=True)
    for name, raw in files.items():
        (root / "cifar-100-python" / name).write_bytes(raw)
    model = _torchscript(tmp_path / "net100.pt", 100)
    run = tmp_path / "run"
    args = ["evaluate", "--model", model, "--dataset", "cifar100", "--data", str(root), "--n", "4", "--mode",
            "untargeted", "--search", "rs", "--max-queries", "12", "--out", str(run)]
    assert main(args) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["config"]["dataset"] == "cifar100/test" and summary["config"]["classes"] == FINE
    from onepixel.campaign import load_results

    df = load_results(run)
    ex, ey = _expected(files, "test")
    assert len(df) == 4 and (df["queries"] <= 12).all()
    assert all(ey[i] == lab for i, lab in zip(df["image"], df["label"]))
    capsys.readouterr()
    assert main(["verify", str(run)]) == 0  # every stored attack re-classified from the same archive
    assert "differ in class or verdict" in capsys.readouterr().out


def _jpeg(path, seed: int, size=(40, 30)):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3)).astype(np.uint8)).save(path, quality=95)


def _meta_mat(path, order: list[str]):
    """A devkit-style meta.mat: ILSVRC2012_ID i + 1 = order[i] (leaves), then a few non-leaf synsets."""
    from scipy.io import savemat

    dt = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("num_children", "O")]
    rows = [(i + 1, w, "x", 0) for i, w in enumerate(order)] + [(1001 + j, f"n9999999{j}", "y", 3) for j in range(3)]
    arr = np.zeros(len(rows), dtype=dt)
    for i, r in enumerate(rows):
        arr[i] = r
    savemat(str(path), {"synsets": arr})


def test_imagenet_val_synset_folders(tmp_path):
    syn = imagenet_synsets()
    assert len(syn) == 1000 and syn[0] == "n01440764" and imagenet_classes()[0] == "tench"
    for k, wnid in ((0, syn[0]), (1, syn[417]), (2, syn[999])):
        for j in range(2):
            _jpeg(tmp_path / "val" / wnid / f"ILSVRC2012_val_0000{k}{j}01.JPEG", k * 10 + j, (40 + j * 7, 30))
    photos, labels = load_imagenet_val(tmp_path / "val")
    assert isinstance(photos, PhotoSet) and len(photos) == 6
    assert labels.tolist() == [0, 0, 417, 417, 999, 999]
    assert photos[2].shape == (30, 40, 3) and photos[3].shape == (30, 47, 3)  # decoded when used, sizes kept


def test_imagenet_val_flat_with_devkit_truth_and_kaggle_csv(tmp_path):
    pytest.importorskip("scipy")  # meta.mat is a MATLAB file (onepixel[imagenet])
    syn = imagenet_synsets()
    rng = np.random.default_rng(0)
    order = [syn[i] for i in rng.permutation(1000)]  # the devkit's ILSVRC2012_ID order is not the sorted one
    flat = tmp_path / "val"
    numbers = [1, 2, 5]
    for n in numbers:
        _jpeg(flat / f"ILSVRC2012_val_{n:08d}.JPEG", n)
    ids = rng.integers(1, 1001, 6)  # line i: the ILSVRC2012_ID of photo i
    (tmp_path / "ILSVRC2012_validation_ground_truth.txt").write_text("\n".join(map(str, ids)) + "\n")
    with pytest.raises(DataError, match="meta.mat"):
        load_imagenet_val(flat)
    devkit = tmp_path / "ILSVRC2012_devkit_t12" / "data"
    devkit.mkdir(parents=True)
    _meta_mat(devkit / "meta.mat", order)
    _, labels = load_imagenet_val(flat)
    assert labels.tolist() == [syn.index(order[ids[n - 1] - 1]) for n in numbers]
    rows = ["ImageId,PredictionString"] + [f"ILSVRC2012_val_{n:08d},{syn[n * 100]} 1 2 3 4" for n in numbers]
    (flat / "LOC_val_solution.csv").write_text("\n".join(rows) + "\n")
    _, labels = load_imagenet_val(flat)
    assert labels.tolist() == [n * 100 for n in numbers]


def test_photo_trees_map_folders_to_classes(tmp_path):
    for name in ("owl", "Cat", "dog"):
        _jpeg(tmp_path / "named" / name / "a.jpg", 1)
        _jpeg(tmp_path / "named" / name / "deeper" / "b.png", 2, (20, 20))
    _, labels, classes = load_photo_tree(tmp_path / "named", ["cat", "dog", "fox", "owl"])
    assert labels.tolist() == [0, 0, 1, 1, 3, 3] and classes == ["cat", "dog", "fox", "owl"]  # the model's
    _, labels, classes = load_photo_tree(tmp_path / "named")
    assert labels.tolist() == [0, 0, 1, 1, 2, 2] and classes == ["Cat", "dog", "owl"]  # sorted folders
    for k in ("2", "0"):
        _jpeg(tmp_path / "numbered" / k / "x.jpg", 3)
    _, labels, classes = load_photo_tree(tmp_path / "numbered", ["a", "b", "c"])
    assert labels.tolist() == [0, 2] and classes == ["a", "b", "c"]  # names from the model
    _, _, classes = load_photo_tree(tmp_path / "numbered")
    assert classes is None
    _jpeg(tmp_path / "syn" / imagenet_synsets()[5] / "x.jpg", 4)
    _, labels, classes = load_photo_tree(tmp_path / "syn")
    assert labels.tolist() == [5] and classes == list(imagenet_classes())


def test_imagenet_val_campaign_end_to_end(tmp_path):
    syn = imagenet_synsets()
    for k in (3, 7):
        for j in range(2):
            _jpeg(tmp_path / "val" / syn[k] / f"ILSVRC2012_val_000{k}{j}.JPEG", k + j, (50 + 9 * j, 40))
    model = _torchscript(tmp_path / "net1000.pt", 1000)
    df = evaluate(model, tmp_path / "run", dataset="imagenet-val", data_path=tmp_path / "val", n=3, mode="untargeted",
                  search="rs", max_queries=10, model_options={"preprocess": {"size": "24", "resize": "28"}},
                  progress=False)
    assert len(df) == 3 and set(df["label"]) <= {3, 7} and (df["queries"] <= 10).all()
    config = json.loads((tmp_path / "run" / "summary.json").read_text())["config"]
    assert config["preprocessing"]["input_size"] == [24, 24] and config["classes"][3] == imagenet_classes()[3]
    assert config["preprocess_overrides"] == {"size": "24", "resize": "28"}


def test_folder_campaign_takes_class_names_from_the_model(tmp_path):
    for k in ("0", "2"):
        _jpeg(tmp_path / "tree" / k / "x.jpg", int(k), (36, 30))
    model = _torchscript(tmp_path / "net3.pt", 3)
    run = tmp_path / "run"
    args = ["evaluate", "--model", model, "--preprocess", "size=16", "--dataset", "folder", "--data",
            str(tmp_path / "tree"), "--n", "2", "--mode", "untargeted", "--search", "rs", "--max-queries", "8",
            "--out", str(run)]
    assert main(args) == 0
    assert json.loads((run / "summary.json").read_text())["config"]["classes"] is None  # TorchScript has no names
    (tmp_path / "tree" / "7").mkdir()
    _jpeg(tmp_path / "tree" / "7" / "y.jpg", 9)
    assert main([*args[:-1], str(tmp_path / "run2")]) == 2  # label 7 for a 3-class model: refused
