import shutil

import numpy as np
import pytest
import torch

from conftest import CIFAR_DIR, needs_shared
from onepixel import zoo
from onepixel.errors import ModelError
from onepixel.zoo.registry import weights_path

PAPER = {"allconv": 0.856, "nin": 0.872, "vgg16": 0.833, "resnet20": 0.91}


def test_registry_lists_the_four_nets_with_their_accuracy():
    e = zoo.entries()
    assert set(e) == {"allconv", "nin", "vgg16", "resnet20"}
    for name, entry in e.items():
        assert entry.test_accuracy >= PAPER[name], f"{name} is below its target accuracy"
        assert len(entry.classes) == 10 and entry.input_size == (32, 32)


@needs_shared(CIFAR_DIR)
@pytest.mark.parametrize("name", ["allconv", "nin", "vgg16", "resnet20"])
def test_shipped_model_reproduces_its_recorded_accuracy(name):
    from onepixel.data import load_cifar10

    x, y = load_cifar10("test", CIFAR_DIR)
    clf = zoo.load(name, precision="fp32", batch_size=250)
    acc = float((clf.probs(x[:1000]).argmax(1) == y[:1000]).mean())
    assert abs(acc - zoo.entries()[name].test_accuracy_first1000) <= 0.01


def test_tampered_weights_are_refused(tmp_path):
    entry = zoo.entries()["resnet20"]
    good = weights_path(entry)
    bad = tmp_path / "resnet20.safetensors"
    blob = bytearray(good.read_bytes())
    blob[-100] ^= 0xFF
    bad.write_bytes(bytes(blob))
    with pytest.raises(ModelError, match="sha256"):
        zoo.load_module("resnet20", path=bad)
    shutil.copy(good, bad)
    with open(bad, "r+b") as f:
        f.truncate(1000)
    with pytest.raises(ModelError, match="sha256"):
        zoo.load_module("resnet20", path=bad)


def test_unknown_name():
    with pytest.raises(ModelError, match="available"):
        zoo.load_module("resnet99")


def test_loaded_model_is_a_ready_classifier():
    clf = zoo.load("resnet20")
    assert clf.class_names[3] == "cat" and clf.num_classes == 10
    p = clf.probs(np.zeros((2, 32, 32, 3), np.uint8))
    assert p.shape == (2, 10) and np.allclose(p.sum(1), 1, atol=1e-5)


def test_training_resumes_exactly(tmp_path):
    """Two epochs in one go == one epoch, interruption, then resume (tiny data, CPU, fp32)."""
    from onepixel.zoo.train import TrainConfig, train

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (64, 32, 32, 3)).astype(np.uint8)
    y = rng.integers(0, 10, 64).astype(np.uint8)
    cfg = dict(arch="resnet20", batch_size=32, bf16=False, eval_every=1)
    train(TrainConfig(epochs=2, **cfg), (x, y), (x[:16], y[:16]), tmp_path / "a", progress=False)
    train(TrainConfig(epochs=1, **cfg), (x, y), (x[:16], y[:16]), tmp_path / "b", progress=False)
    import json

    log = json.loads((tmp_path / "b" / "log.json").read_text())
    log["total_epochs"] = 2
    (tmp_path / "b" / "log.json").write_text(json.dumps(log))
    train(TrainConfig(epochs=2, **cfg), (x, y), (x[:16], y[:16]), tmp_path / "b", progress=False)
    from safetensors.torch import load_file

    a = load_file(tmp_path / "a" / "resnet20.safetensors")
    b = load_file(tmp_path / "b" / "resnet20.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
