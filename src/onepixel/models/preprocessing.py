"""Preprocessing read from a model's own metadata, so a user writes no :class:`Preprocess`; and the user's overrides.

Three sources are understood, each mapped onto onepixel's two declared steps:

- the *geometry* (resize, centre crop, interpolation) that turns a photo into the uint8 model input, as a
  :class:`~onepixel.photo.PhotoPreprocess` (photos of another size are cropped and resized with it), and
- the *pixel* step (rescale, mean, std) that turns the uint8 model input into the float tensor the network
  takes, as a :class:`~onepixel.models.pytorch.Preprocess`. The attack searches the uint8 input: both steps
  belong to the black box.

Sources: timm's ``pretrained_cfg`` (``input_size``, ``crop_pct``, ``crop_mode``, ``interpolation``, ``mean``,
``std``), a torchvision weights enum or its ``transforms()`` object (``resize_size``,
``crop_size``, ``interpolation``, ``antialias``, ``mean``, ``std``), and a Hugging Face
image-processor config (``preprocessor_config.json``). None of these libraries is imported: the metadata is
read from plain attributes and dicts. Class names, and a classifier built from all of it, are
:mod:`onepixel.models.metadata`'s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from torch import nn

from ..errors import InputError, ModelError
from ..photo import INTERPOLATIONS, PhotoPreprocess
from .pytorch import Preprocess

#: PIL's resampling codes, as Hugging Face image processors store them (``resample``)
PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
#: the keys ``--preprocess KEY=VALUE`` (and :func:`with_overrides`) take
OVERRIDE_KEYS = ("size", "resize", "crop", "interpolation", "scale", "mean", "std")


@dataclass(frozen=True)
class ModelPreprocessing:
    """How a photo becomes a model's input: ``photo`` (crop + resize to uint8) then ``pixels`` (to float).

    ``source`` says where the values were read (e.g. ``"timm pretrained_cfg"``), ``overridden`` which of
    them the user replaced.
    """

    photo: PhotoPreprocess
    pixels: Preprocess
    source: str
    overridden: tuple[str, ...] = ()

    @property
    def input_size(self) -> tuple[int, int]:
        """The model input (height, width)."""
        return self.photo.size

    def describe(self) -> dict[str, Any]:
        """Plain-Python record of every value, for ``--explain`` and ``--json``."""
        p, px = self.photo, self.pixels
        int_crop = isinstance(p.crop, int) and not isinstance(p.crop, bool)
        return {
            "source": self.source,
            "input_size": list(p.size),
            "resize_shorter": p.resize_shorter,
            "crop": p.crop if int_crop else None,
            "crop_fraction": round(p.fraction, 6),
            "aspect": p.aspect,
            "order": p.order,
            "interpolation": p.interpolation,
            "antialias": p.antialias,
            "scale": px.scale,
            "mean": list(px.mean) if px.mean is not None else None,
            "std": list(px.std) if px.std is not None else None,
            "overridden": list(self.overridden),
        }

    def summary(self) -> str:
        """One line: the geometry and the pixel step."""
        p, px = self.photo, self.pixels
        h, w = p.size
        if p.resize_shorter is not None:
            geo = f"resize shorter side to {p.resize_shorter}, centre crop {h}x{w}"
        elif p.fraction < 1.0:
            geo = f"centre crop {p.fraction:.1%} ({p.aspect}), resize to {h}x{w}"
        else:
            geo = f"resize to {h}x{w}" + (" (aspect kept, centre crop)" if p.aspect == "keep" else " (stretched)")
        aa = ", antialiased" if p.antialias and p.interpolation != "nearest" else ""
        mean = "none" if px.mean is None else "(" + ", ".join(f"{v:g}" for v in px.mean) + ")"
        std = "none" if px.std is None else "(" + ", ".join(f"{v:g}" for v in px.std) + ")"
        scale = "1/255" if abs(px.scale - 1 / 255) < 1e-12 else f"{px.scale:g}"
        over = f"; overridden: {', '.join(self.overridden)}" if self.overridden else ""
        return f"{geo}, {p.interpolation}{aa}; pixels x {scale}, mean {mean}, std {std} [from {self.source}{over}]"


# ------------------------------------------------------------------------------------------------ sources
def _pair(value: Any, what: str) -> tuple[int, int]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value), int(value)
    seq = list(value)
    if len(seq) == 3:  # timm's (C, H, W)
        seq = seq[1:]
    if len(seq) == 1:
        return int(seq[0]), int(seq[0])
    if len(seq) != 2:
        raise ModelError(f"{what} {value!r} is not a size (an int, [h, w] or [C, h, w])")
    return int(seq[0]), int(seq[1])


def _interpolation(value: Any, source: str) -> str:
    """An interpolation name from a string, a PIL code or an enum (torchvision's InterpolationMode)."""
    if isinstance(value, int) and not isinstance(value, bool):
        name = PIL_RESAMPLE.get(value, str(value))
    else:
        name = str(getattr(value, "value", value)).lower()
    if name not in INTERPOLATIONS:
        raise ModelError(f"{source} asks for {name!r} interpolation, which onepixel does not reproduce "
                         f"({', '.join(INTERPOLATIONS)}); pass e.g. --preprocess interpolation=bicubic "
                         "(preprocess override) to use the closest one knowingly")
    return name


def _floats(value: Any) -> tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return (float(value),) * 3
    return tuple(float(v) for v in value)


def from_timm(cfg: Mapping[str, Any]) -> ModelPreprocessing:
    """timm's ``pretrained_cfg``: the evaluation transform of ``timm.data.create_transform`` (resize to
    ``floor(size / crop_pct)``, centre crop ``input_size``; ``crop_mode`` center or squash)."""
    h, w = _pair(cfg.get("input_size", (3, 224, 224)), "timm input_size")
    crop_pct = float(cfg.get("crop_pct") or 0.875)
    mode = cfg.get("crop_mode") or "center"
    interp = _interpolation(cfg.get("interpolation") or "bilinear", "timm pretrained_cfg")
    scale_h = math.floor(h / crop_pct)
    if mode == "center" and h == w:
        photo = PhotoPreprocess(size=(h, w), crop=h, resize_shorter=scale_h, interpolation=interp,
                                order="resize-crop")
    elif mode in ("center", "squash"):
        aspect = "keep" if mode == "center" else "stretch"
        photo = PhotoPreprocess(size=(h, w), crop=min(1.0, h / scale_h), aspect=aspect, interpolation=interp)
    else:
        raise ModelError(f"timm crop_mode {mode!r} (pad to fit) is not reproduced; pass preprocess overrides "
                         "(--preprocess size=...,crop=...) or a Preprocess")
    pixels = Preprocess(mean=_floats(cfg.get("mean", (0.485, 0.456, 0.406))),
                        std=_floats(cfg.get("std", (0.229, 0.224, 0.225))))
    return ModelPreprocessing(photo, pixels, "timm pretrained_cfg")


def from_torchvision(transforms: Any) -> ModelPreprocessing:
    """torchvision's ``ImageClassification`` (``weights.transforms()``): resize (the shorter side when one
    size is given) with ``interpolation`` and ``antialias``, centre crop, scale to [0, 1], normalise."""
    crop = _pair(transforms.crop_size, "torchvision crop_size")
    resize = list(transforms.resize_size) if isinstance(transforms.resize_size, Sequence) else [transforms.resize_size]
    interp = _interpolation(getattr(transforms, "interpolation", "bilinear"), "the torchvision transforms")
    antialias = bool(getattr(transforms, "antialias", True))
    if len(resize) == 1 and crop[0] == crop[1]:
        photo = PhotoPreprocess(size=crop, crop=crop[0], resize_shorter=int(resize[0]), interpolation=interp,
                                antialias=antialias, order="resize-crop")
    else:
        rh, _ = _pair(resize, "torchvision resize_size")
        photo = PhotoPreprocess(size=crop, crop=min(1.0, crop[0] / rh), aspect="stretch" if len(resize) == 2 else "keep",
                                interpolation=interp, antialias=antialias)
    return ModelPreprocessing(photo, Preprocess(mean=_floats(transforms.mean), std=_floats(transforms.std)),
                              "torchvision transforms")


def from_hf(cfg: Mapping[str, Any], source: str = "Hugging Face preprocessor_config.json") -> ModelPreprocessing:
    """A Hugging Face image-processor config: ``size`` ({height, width} or {shortest_edge}), ``crop_pct``
    (ConvNeXt-style processors), ``do_center_crop`` + ``crop_size``, ``resample`` (a PIL code),
    ``do_rescale`` + ``rescale_factor``, ``do_normalize`` + ``image_mean`` / ``image_std``."""
    kind = str(cfg.get("image_processor_type") or cfg.get("feature_extractor_type") or "")
    interp = _interpolation(cfg.get("resample", 2), source)
    size = cfg.get("size")
    if isinstance(size, (int, float)):  # legacy: an int means shortest_edge for ConvNeXt, a square elsewhere
        size = {"shortest_edge": int(size)} if kind.startswith("ConvNext") else {"height": size, "width": size}
    size = dict(size or {})
    crop_size = cfg.get("crop_size")
    crop = _pair([crop_size["height"], crop_size["width"]] if isinstance(crop_size, Mapping) else crop_size,
                 "crop_size") if cfg.get("do_center_crop") and crop_size is not None else None
    if cfg.get("do_resize", True) is False:
        raise ModelError(f"{source} does not resize (do_resize false): images must already have the model's size; "
                         "pass preprocess overrides (--preprocess size=H,W) to say which")
    photo: PhotoPreprocess
    if "shortest_edge" in size and kind.startswith("ConvNext"):
        edge = int(size["shortest_edge"])
        if edge < 384:  # ConvNextImageProcessor: resize the shorter side to edge / crop_pct, centre crop edge
            pct = float(cfg.get("crop_pct") or 224 / 256)
            photo = PhotoPreprocess(size=(edge, edge), crop=edge, resize_shorter=int(edge / pct), interpolation=interp,
                                    order="resize-crop-floor")
        else:  # ... and at 384 and above it warps to edge x edge without a crop
            photo = PhotoPreprocess(size=(edge, edge), crop=1.0, aspect="stretch", interpolation=interp)
    elif "shortest_edge" in size:
        if crop is None:
            raise ModelError(f"{source} resizes the shorter side to {size['shortest_edge']} without a crop, so "
                             "images keep their aspect ratio and have no one size; pass preprocess overrides "
                             "(--preprocess size=H,W) for a fixed input")
        edge = int(size["shortest_edge"])
        photo = PhotoPreprocess(size=crop, crop=min(crop), resize_shorter=edge, interpolation=interp,
                                order="resize-crop-floor")
    elif "height" in size and "width" in size:
        hw = (int(size["height"]), int(size["width"]))
        if crop is None or tuple(crop) == hw:  # warp the whole image to height x width
            photo = PhotoPreprocess(size=hw, crop=1.0, aspect="stretch", interpolation=interp)
        else:  # warp, then centre crop
            photo = PhotoPreprocess(size=crop, crop=min(1.0, crop[0] / hw[0]), aspect="stretch", interpolation=interp)
    else:
        raise ModelError(f"{source} has a size {size!r} onepixel does not read; pass preprocess overrides "
                         "(--preprocess size=H,W)")
    scale = float(cfg.get("rescale_factor", 1 / 255)) if cfg.get("do_rescale", True) else 1.0
    norm = cfg.get("do_normalize", True)
    pixels = Preprocess(scale=scale, mean=_floats(cfg.get("image_mean")) if norm else None,
                        std=_floats(cfg.get("image_std")) if norm else None)
    return ModelPreprocessing(photo, pixels, source)


def from_module(module: nn.Module) -> ModelPreprocessing | None:
    """The preprocessing a module declares itself (timm's ``pretrained_cfg`` / ``default_cfg``), or None."""
    cfg = getattr(module, "pretrained_cfg", None) or getattr(module, "default_cfg", None)
    if isinstance(cfg, Mapping) and "input_size" in cfg:
        return from_timm(cfg)
    return None


def resolve(spec: Any, module: nn.Module | None = None) -> ModelPreprocessing | Preprocess | None:
    """What ``preprocess=`` means: a :class:`Preprocess` or :class:`ModelPreprocessing` as given; a torchvision
    weights enum or ``transforms()`` object; a timm config dict; a Hugging Face image processor or its config
    dict; None: whatever the module declares (or None)."""
    if spec is None:
        return from_module(module) if module is not None else None
    if isinstance(spec, (Preprocess, ModelPreprocessing)):
        return spec
    if callable(getattr(spec, "transforms", None)) and isinstance(getattr(spec, "meta", None), Mapping):
        return from_torchvision(spec.transforms())  # a torchvision weights enum
    if all(hasattr(spec, a) for a in ("crop_size", "resize_size", "mean", "std")):
        return from_torchvision(spec)
    if hasattr(spec, "to_dict") and callable(spec.to_dict) and not isinstance(spec, Mapping):
        spec = {**spec.to_dict(), "image_processor_type": type(spec).__name__}  # a Hugging Face image processor
    if isinstance(spec, Mapping):
        if "input_size" in spec:
            return from_timm(spec)
        if "image_mean" in spec or "size" in spec:
            return from_hf(spec, "Hugging Face image processor")
    raise InputError(f"cannot read preprocessing from a {type(spec).__name__}; pass a Preprocess, a torchvision "
                     "weights enum or its transforms(), a timm pretrained_cfg, or a Hugging Face image processor")


# ------------------------------------------------------------------------------------------------ overrides
def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings (``--preprocess``; several may share one string, separated by ``;``)."""
    out: dict[str, str] = {}
    for item in items:
        for part in str(item).split(";"):
            if not part.strip():
                continue
            key, eq, value = part.partition("=")
            key = key.strip().lower()
            if not eq or key not in OVERRIDE_KEYS:
                raise InputError(f"--preprocess takes KEY=VALUE with KEY one of {', '.join(OVERRIDE_KEYS)} "
                                 f"(got {part.strip()!r}); e.g. --preprocess size=224 --preprocess mean=0.5,0.5,0.5")
            out[key] = value.strip()
    return out


def _numbers(key: str, value: str, n: int | None = None) -> list[float]:
    try:
        nums = [float(v) for v in value.replace("x", ",").split(",") if v.strip()]
    except ValueError:
        raise InputError(f"--preprocess {key}={value!r}: expected numbers separated by commas") from None
    if not nums or (n is not None and len(nums) not in (1, n)):
        raise InputError(f"--preprocess {key}={value!r}: expected {n or 'some'} numbers separated by commas")
    return nums


def with_overrides(base: ModelPreprocessing | None, overrides: Mapping[str, Any]) -> ModelPreprocessing:
    """``base`` with the user's values (keys of :data:`OVERRIDE_KEYS`, as strings or numbers) put in:
    ``size`` (H or H,W), ``resize`` (shorter side before the centre crop; 0 or none: no crop), ``crop``
    (a fraction of the image), ``interpolation``, ``scale``, ``mean``, ``std`` (one or three numbers; none)."""
    ov = {k: str(v) for k, v in overrides.items()}
    bad = sorted(set(ov) - set(OVERRIDE_KEYS))
    if bad:
        raise InputError(f"unknown preprocess override {bad[0]!r}; keys: {', '.join(OVERRIDE_KEYS)}")
    if base is None and "size" not in ov:
        raise InputError("the model declares no preprocessing: give at least its input size (--preprocess size=224)")
    photo = base.photo if base is not None else PhotoPreprocess(size=(1, 1), crop=1.0, aspect="stretch")
    pixels = base.pixels if base is not None else Preprocess()
    geo: dict[str, Any] = {}
    if "size" in ov:
        nums = _numbers("size", ov["size"], 2)
        geo["size"] = (int(nums[0]), int(nums[-1]))
    if "interpolation" in ov:
        geo["interpolation"] = _interpolation(ov["interpolation"].lower(), "--preprocess")
    size = geo.get("size", photo.size)
    if "resize" in ov:
        r = ov["resize"].lower()
        keep_order = photo.order if photo.order != "crop-resize" else "resize-crop"
        geo |= {"crop": 1.0, "resize_shorter": None, "aspect": "stretch", "order": "crop-resize"} \
            if r in ("0", "none") else {"crop": min(size), "resize_shorter": int(_numbers("resize", r, 1)[0]),
                                        "aspect": "keep", "order": keep_order}
    elif "crop" in ov:
        geo |= {"crop": float(_numbers("crop", ov["crop"], 1)[0]), "resize_shorter": None, "aspect": "keep",
                "order": "crop-resize"}
    elif "size" in ov and photo.resize_shorter is not None:  # keep the crop fraction at the new size
        geo |= {"crop": min(size), "resize_shorter": round(min(size) / photo.fraction)}
    px: dict[str, Any] = {}
    if "scale" in ov:
        s = ov["scale"]
        px["scale"] = 1.0 / _numbers("scale", s[2:], 1)[0] if s.startswith("1/") else _numbers("scale", s, 1)[0]
    for key in ("mean", "std"):
        if key in ov:
            if ov[key].lower() == "none":
                px[key] = None
            else:
                nums = _numbers(key, ov[key], 3)
                px[key] = tuple(nums * 3 if len(nums) == 1 else nums)
    try:
        new_photo = replace(photo, **geo)
    except (TypeError, ValueError) as e:
        raise InputError(f"--preprocess: {e}") from None
    source = base.source if base is not None else "--preprocess"
    return ModelPreprocessing(new_photo, replace(pixels, **px), source,
                              tuple(dict.fromkeys([*(base.overridden if base else ()), *ov])))
