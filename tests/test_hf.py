"""Hugging Face checkpoints: tiny random-weight ViT / ConvNeXt / ResNet folders built here with save_pretrained
(no network: conftest sets HF_HUB_OFFLINE), loaded through --model, attacked end to end via the CLI and the API."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import torch

import onepixel as op
from onepixel.cli import main
from onepixel.errors import ModelError
from onepixel.imageio import read_image, write_png
from onepixel.models.loading import load_model

tf = pytest.importorskip("transformers")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

NAMES = ["cat", "dog", "fox", "owl", "eel"]


def _photo(seed: int, h: int = 45, w: int = 60) -> np.ndarray:
    """A smooth random photo (low frequencies plus a little noise), not of the model's input size."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 5, 3)).astype(np.uint8)
    from PIL import Image

    big = np.asarray(Image.fromarray(small).resize((w, h), Image.BILINEAR)).astype(int)
    return np.clip(big + rng.integers(-20, 21, big.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def hf_checkpoints(tmp_path_factory) -> dict:
    """Three tiny checkpoints, each with its own image-processor config (three ways to resize and crop)."""
    tf.utils.logging.set_verbosity_error()
    root = tmp_path_factory.mktemp("hf")
    torch.manual_seed(0)
    labels = {"id2label": dict(enumerate(NAMES)), "label2id": {n: i for i, n in enumerate(NAMES)}}
    vit = tf.ViTForImageClassification(tf.ViTConfig(
        image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        num_labels=5, **labels))
    convnext = tf.ConvNextForImageClassification(tf.ConvNextConfig(
        hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, num_labels=5, **labels))
    resnet = tf.ResNetForImageClassification(tf.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                                             num_labels=3))  # no names: LABEL_i placeholders
    processors = {
        "vit": {"image_processor_type": "ViTImageProcessor", "do_resize": True, "size": {"height": 32, "width": 32},
                "resample": 2, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
                "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]},
        "convnext": {"image_processor_type": "ConvNextImageProcessor", "do_resize": True, "size": {"shortest_edge": 32},
                     "crop_pct": 0.875, "resample": 3, "do_rescale": True, "rescale_factor": 1 / 255,
                     "do_normalize": True, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]},
        "resnet": {"image_processor_type": "BitImageProcessor", "do_resize": True, "size": {"shortest_edge": 40},
                   "do_center_crop": True, "crop_size": {"height": 32, "width": 32}, "resample": 3, "do_rescale": True,
                   "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.48, 0.46, 0.41],
                   "image_std": [0.27, 0.26, 0.28]},
    }
    out = {}
    for name, model in (("vit", vit), ("convnext", convnext), ("resnet", resnet)):
        folder = root / name
        model.eval().save_pretrained(folder)
        (folder / "preprocessor_config.json").write_text(json.dumps(processors[name]))
        out[name] = folder
    return out


@pytest.fixture(scope="session")
def photo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    write_png(path, _photo(0))
    return path


@pytest.mark.parametrize("name", ["vit", "convnext", "resnet"])
def test_preprocessing_matches_the_checkpoints_own_image_processor(hf_checkpoints, name):
    """The image processor of transformers itself is the reference: our crop/resize to uint8 plus the pixel step
    lands within one 8-bit level of its float output, on photos of three shapes."""
    folder = hf_checkpoints[name]
    clf = load_model(str(folder))
    proc = tf.AutoImageProcessor.from_pretrained(str(folder))
    std = torch.tensor(clf.preprocess.std).view(1, 3, 1, 1)
    for seed, (h, w) in enumerate([(45, 60), (61, 47), (50, 50)]):
        photo = _photo(seed, h, w)
        ref = proc(images=photo, return_tensors="pt").pixel_values
        ours = clf.preprocess(torch.from_numpy(clf.photo_preprocess(photo))[None]).float()
        assert ours.shape == ref.shape == (1, 3, 32, 32)
        levels = ((ours - ref).abs() * std * 255).numpy()  # in 8-bit pixel levels
        assert levels.max() <= 1.0 + 1e-3, (name, (h, w), levels.max())
        assert levels.mean() < 0.3


def test_id2label_and_preprocessing_are_shown_and_overridable(hf_checkpoints, photo_file, capsys):
    folder = hf_checkpoints["convnext"]
    assert main(["attack", str(photo_file), "-m", str(folder), "--explain"]) == 0
    text = capsys.readouterr().out
    assert "cat, dog, fox, owl, eel [from id2label]" in text
    assert "resize shorter side to 36, centre crop 32x32, bicubic" in text and "[from preprocessor_config.json]" in text
    labels = photo_file.parent / "names.txt"
    labels.write_text("a\nb\nc\nd\ne\n")
    assert main(["attack", str(photo_file), "-m", str(folder), "--explain", "--labels", str(labels),
                 "--preprocess", "interpolation=bilinear", "--preprocess", "mean=0.5;std=0.5"]) == 0
    text = capsys.readouterr().out
    assert "a, b, c, d, e [from --labels" in text
    assert "bilinear" in text and "mean (0.5, 0.5, 0.5)" in text and "overridden: interpolation, mean, std" in text


@pytest.mark.parametrize("name", ["vit", "convnext", "resnet"])
def test_cli_attacks_a_photo_end_to_end(hf_checkpoints, photo_file, tmp_path, capsys, name):
    out = tmp_path / "adv.png"
    code = main(["attack", str(photo_file), "-m", str(hf_checkpoints[name]), "--max-queries", "24", "--seed", "1",
                 "-o", str(out), "--figure", "none", "--json"])
    assert code == 0
    d = json.loads(capsys.readouterr().out)
    assert d["model"]["kind"] == "huggingface" and d["model"]["input_size"] == [32, 32]
    assert d["model"]["preprocessing"]["source"] == "preprocessor_config.json"
    assert d["model"]["class_names"]["source"] == ("id2label" if name != "resnet" else "none (LABEL_i placeholders)")
    assert 0 < d["queries"] <= 24 and d["image_size"] == [32, 32]
    adv = read_image(out)
    clf = load_model(str(hf_checkpoints[name]))
    clean = clf.photo_preprocess(read_image(photo_file))
    assert adv.shape == clean.shape and (adv != clean).any(-1).sum() <= 1  # one pixel of the model input
    assert int(clf.probs(adv[None]).argmax()) == d["predicted_after"]  # re-classified as reported


def test_api_attacks_photos_of_another_size(hf_checkpoints):
    """The geometry comes with the checkpoint: photos are cropped and resized as its processor would."""
    clf = load_model(str(hf_checkpoints["convnext"]))
    photos = np.stack([_photo(s) for s in range(3)])
    res = op.attack(str(hf_checkpoints["convnext"]), photos, [0, 1, 2], max_queries=16, seed=3)
    assert [r.adversarial.shape for r in res] == [(32, 32, 3)] * 3
    for r, photo in zip(res, photos):
        clean = clf.photo_preprocess(photo)
        assert (r.adversarial != clean).any(-1).sum() <= 1
        assert r.queries <= 16
        assert r.predicted_before == int(clf.probs(clean[None]).argmax())


def test_vit_runs_without_delta_and_says_so_once(hf_checkpoints, caplog):
    with caplog.at_level(logging.WARNING, logger="onepixel"):
        clf = load_model(str(hf_checkpoints["vit"]))
        x = np.stack([clf.photo_preprocess(_photo(s)) for s in range(2)])
        res = op.attack(clf, x, [0, 1], max_queries=40)
    said = [r for r in caplog.records if "delta inference is off" in r.getMessage()]
    assert len(said) == 1 and "ViTAttention" in said[0].getMessage()
    assert clf.delta is False and not clf._delta_used
    assert all(r.queries <= 40 for r in res)


def test_hub_id_from_the_cache_and_the_error_for_one_not_there(hf_checkpoints, tmp_path, monkeypatch):
    snap = tmp_path / "hub" / "models--onepixel-test--tiny-vit" / "snapshots" / ("a" * 40)
    shutil.copytree(hf_checkpoints["vit"], snap)
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    clf = load_model("onepixel-test/tiny-vit")
    assert clf.name == "onepixel-test/tiny-vit" and clf.class_names == NAMES
    with pytest.raises(ModelError, match="huggingface-cli download onepixel-test/not-cached"):
        load_model("onepixel-test/not-cached")
    code = main(["attack", "x.png", "-m", "onepixel-test/not-cached"])
    assert code == 2


def test_checkpoint_problems_are_one_line_errors(hf_checkpoints, tmp_path):
    bad = tmp_path / "nopre"
    shutil.copytree(hf_checkpoints["resnet"], bad)
    (bad / "preprocessor_config.json").unlink()
    with pytest.raises(ModelError, match="--preprocess size=224"):
        load_model(str(bad))
    clf = load_model(str(bad), preprocess={"size": "32", "resize": "36"})
    assert clf.input_size == (32, 32) and clf.preprocessing.photo.resize_shorter == 36
    (bad / "model.safetensors").rename(bad / "pytorch_model.bin")
    with pytest.raises(ModelError, match="pickled weights"):
        load_model(str(bad))
    with pytest.raises(ModelError, match="fixed preprocessing"):
        load_model("allconv", preprocess={"size": "32"})
