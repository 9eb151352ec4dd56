"""Preprocessing from a module's own metadata (timm's pretrained_cfg, torchvision's weights / transforms()),
checked against hand-written PIL pipelines; float [0, 1] NCHW input and its round trip."""

from __future__ import annotations

import enum
import functools
import json
import math
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import onepixel as op
from onepixel import interop
from onepixel.cli import main
from onepixel.errors import InputError
from onepixel.imageio import read_image, write_png
from onepixel.models.metadata import from_hf, parse_overrides, resolve, torch_classifier, with_overrides
from toys.nets import small_net

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MEAN, STD = (0.48, 0.45, 0.40), (0.23, 0.22, 0.25)


def _photo(seed: int, h: int, w: int) -> np.ndarray:
    """Smooth colours plus noise, kept off 0 and 255: PIL clips bicubic overshoot between its two passes,
    a detail of PIL's, not of the geometry compared here."""
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 216, (5, 4, 3)).astype(np.uint8)
    big = np.asarray(Image.fromarray(small).resize((w, h), Image.BILINEAR)).astype(int)
    return np.clip(big + rng.integers(-25, 26, big.shape), 0, 255).astype(np.uint8)


def _reference(photo: np.ndarray, resize_shorter: int, crop: int, resample, mean, std) -> torch.Tensor:
    """torchvision's Resize(int) + CenterCrop + ToTensor + Normalize on a PIL image, written out by hand."""
    h, w = photo.shape[:2]
    short, long = min(h, w), max(h, w)
    new_long = int(resize_shorter * long / short)
    rh, rw = (resize_shorter, new_long) if h <= w else (new_long, resize_shorter)
    img = np.asarray(Image.fromarray(photo).resize((rw, rh), resample))
    top, left = int(round((rh - crop) / 2.0)), int(round((rw - crop) / 2.0))
    x = torch.from_numpy(img[top:top + crop, left:left + crop].copy()).permute(2, 0, 1).float() / 255
    return ((x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1))[None]


def _levels(ours: torch.Tensor, ref: torch.Tensor, std) -> np.ndarray:
    return ((ours.float() - ref).abs() * torch.tensor(std).view(1, 3, 1, 1) * 255).numpy()


def _timm_like() -> nn.Module:
    net = small_net(width=6)
    net.pretrained_cfg = {"input_size": (3, 32, 32), "crop_pct": 0.9, "crop_mode": "center", "interpolation": "bicubic",
                          "mean": MEAN, "std": STD, "label_names": ["ant", "bee", "cow", "doe"]}
    return net


class InterpolationMode(enum.Enum):  # as torchvision.transforms.InterpolationMode
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


class FakeImageClassification:
    """The attributes of torchvision.transforms._presets.ImageClassification (what weights.transforms() returns)."""

    def __init__(self, *, crop_size: int, resize_size: int = 256, mean=MEAN, std=STD,
                 interpolation=InterpolationMode.BILINEAR, antialias: bool = True) -> None:
        self.crop_size, self.resize_size = [crop_size], [resize_size]
        self.mean, self.std = list(mean), list(std)
        self.interpolation, self.antialias = interpolation, antialias


class FakeWeights(enum.Enum):  # as a torchvision weights enum: .transforms (a partial) and .meta["categories"]
    V1 = "v1"

    @property
    def transforms(self):
        return functools.partial(FakeImageClassification, crop_size=32, resize_size=40)

    @property
    def meta(self):
        return {"categories": ["w", "x", "y", "z"]}


def test_timm_pretrained_cfg_matches_the_hand_written_transform():
    clf = torch_classifier(_timm_like())
    assert clf.input_size == (32, 32) and clf.class_names == ["ant", "bee", "cow", "doe"]
    scale = math.floor(32 / 0.9)  # timm: resize to floor(size / crop_pct), then centre crop
    for seed, (h, w) in enumerate([(45, 60), (70, 41), (36, 36)]):
        photo = _photo(seed, h, w)
        ours = clf.preprocess(torch.from_numpy(clf.photo_preprocess(photo))[None])
        levels = _levels(ours, _reference(photo, scale, 32, Image.BICUBIC, MEAN, STD), STD)
        # PIL rounds to 8 bits between its horizontal and vertical bicubic passes: a level more, rarely
        assert levels.max() <= 2.0 + 1e-3 and (levels > 1.0 + 1e-3).mean() < 0.02 and levels.mean() < 0.3


@pytest.mark.parametrize("given", ["transforms", "weights"])
def test_torchvision_transforms_match_the_hand_written_transform(given):
    pre = FakeImageClassification(crop_size=32, resize_size=40) if given == "transforms" else FakeWeights.V1
    clf = torch_classifier(small_net(width=6), preprocess=pre)
    assert clf.input_size == (32, 32)
    assert clf.class_names == (["w", "x", "y", "z"] if given == "weights" else None)
    for seed, (h, w) in enumerate([(45, 60), (70, 41)]):
        photo = _photo(seed, h, w)
        ours = clf.preprocess(torch.from_numpy(clf.photo_preprocess(photo))[None])
        levels = _levels(ours, _reference(photo, 40, 32, Image.BILINEAR, MEAN, STD), STD)
        assert levels.max() <= 1.0 + 1e-3 and levels.mean() < 0.3


def test_attack_reads_a_modules_metadata_end_to_end():
    """No Preprocess written by hand: photos of another size, cropped and resized by the module's own geometry."""
    module = _timm_like()
    photos = np.stack([_photo(s, 45, 60) for s in range(3)])
    res = op.attack(module, photos, [0, 1, 2], max_queries=16, seed=2)
    clf = torch_classifier(_timm_like())
    for r, photo in zip(res, photos):
        clean = clf.photo_preprocess(photo)
        assert r.adversarial.shape == (32, 32, 3) and (r.adversarial != clean).any(-1).sum() <= 1
        assert r.predicted_before == int(clf.probs(clean[None]).argmax())
    tv = op.attack(small_net(width=6), photos, [0, 1, 2], max_queries=16, seed=2, preprocess=FakeWeights.V1)
    assert [r.adversarial.shape for r in tv] == [(32, 32, 3)] * 3


def test_cli_takes_overrides_for_a_torchscript_module(tmp_path, capsys):
    torch.jit.save(torch.jit.script(small_net(3, width=6)), str(tmp_path / "net.pt"))
    write_png(tmp_path / "photo.png", _photo(0, 45, 60))
    args = ["attack", str(tmp_path / "photo.png"), "-m", str(tmp_path / "net.pt"), "--preprocess",
            "size=32;resize=40;interpolation=bicubic;mean=0.5;std=0.25", "--max-queries", "16", "--figure", "none",
            "-o", str(tmp_path / "adv.png"), "--json"]
    assert main(args) == 0
    d = json.loads(capsys.readouterr().out)
    pre = d["model"]["preprocessing"]
    assert pre["input_size"] == [32, 32] and pre["resize_shorter"] == 40 and pre["interpolation"] == "bicubic"
    assert pre["mean"] == [0.5] * 3 and pre["std"] == [0.25] * 3
    assert read_image(tmp_path / "adv.png").shape == (32, 32, 3)


def test_hf_configs_and_overrides_are_read_as_documented():
    vit = from_hf({"size": {"height": 224, "width": 224}, "resample": 2, "image_mean": [0.5] * 3, "image_std": [0.5] * 3})
    assert vit.photo.aspect == "stretch" and vit.photo.fraction == 1.0 and vit.input_size == (224, 224)
    big = from_hf({"image_processor_type": "ConvNextImageProcessor", "size": {"shortest_edge": 384}, "resample": 3})
    assert big.photo.aspect == "stretch" and big.photo.interpolation == "bicubic"  # >= 384: warped, no crop
    small = from_hf({"image_processor_type": "ConvNextImageProcessor", "size": 224, "crop_pct": 0.875})
    assert small.photo.resize_shorter == 256 and small.photo.order == "resize-crop-floor"
    with pytest.raises(op.OnepixelError, match="lanczos"):
        from_hf({"size": {"height": 8, "width": 8}, "resample": 1})
    with pytest.raises(op.OnepixelError, match="no one size"):
        from_hf({"size": {"shortest_edge": 224}})
    ov = with_overrides(vit, parse_overrides(["size=32", "resize=36;scale=1/127.5", "mean=none"]))
    assert ov.input_size == (32, 32) and ov.photo.resize_shorter == 36 and ov.pixels.mean is None
    assert ov.pixels.scale == pytest.approx(1 / 127.5) and ov.overridden == ("size", "resize", "scale", "mean")
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_overrides(["bogus=1"])
    with pytest.raises(InputError, match="cannot read preprocessing"):
        resolve(object())


def test_float_nchw_tensors_round_trip(planted, monkeypatch):
    monkeypatch.setattr(interop, "_warned", False)
    x = torch.full((3, 3, 8, 8), 128 / 255, dtype=torch.float32)  # NCHW in [0, 1], as torchattacks users have it
    with pytest.warns(interop.EightBitWarning, match="8-bit"):
        res = op.attack(planted, x, [0, 0, 0], seed=0)
    ref = op.attack(planted, np.full((3, 8, 8, 3), 128, np.uint8), [0, 0, 0], seed=0)
    assert [r.pixels for r in res] == [r.pixels for r in ref] and res.success_rate == 1.0
    back = res.adversarials_as_input()
    assert isinstance(back, torch.Tensor) and back.dtype == torch.float32 and back.shape == x.shape
    changed = (back != x).any(1)  # (n, H, W)
    assert changed.sum((1, 2)).tolist() == [1, 1, 1]
    r0 = res[0].pixels[0]
    assert torch.equal(back[0, :, r0[1], r0[0]] * 255, torch.tensor(r0[2:], dtype=torch.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the warning is said once
        arr = op.attack(planted, np.full((2, 8, 8, 3), 0.5, np.float64), [0, 0], seed=0)
    out = arr.adversarials_as_input()
    assert out.dtype == np.float64 and out.shape == (2, 8, 8, 3)
    assert np.allclose(out * 255, np.round(out * 255)) and np.array_equal(np.round(out * 255), arr.adversarials)


def test_float_input_outside_the_unit_range_is_refused(planted):
    with pytest.raises(InputError, match="normalis"):
        op.attack(planted, torch.full((1, 3, 8, 8), -0.5), [0])
