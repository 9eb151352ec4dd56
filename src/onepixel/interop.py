"""Images as other libraries hold them: float tensors or arrays in [0, 1], NCHW (torchattacks, foolbox, ART).

The attack is defined on 8-bit pixels: the search changes uint8 values and every success is an 8-bit image.
Float input is converted once (``round(x * 255)``; a one-time warning says so) and the adversarials can be
handed back in the caller's type, dtype, layout and device (:meth:`InputFormat.restore`), as exact multiples
of 1/255.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .errors import InputError

_warned = False


class EightBitWarning(UserWarning):
    """Float images were rounded to 8-bit pixels, the space the attack is defined on."""


@dataclass(frozen=True)
class InputFormat:
    """How the caller passed the images: ``kind`` ("numpy" or "torch"), ``dtype`` (its name), ``channels_first``
    (NCHW / CHW), ``scaled`` (floats in [0, 1]) and, for tensors, ``device``."""

    kind: str = "numpy"
    dtype: str = "uint8"
    channels_first: bool = False
    scaled: bool = False
    device: str | None = None

    def restore(self, images: np.ndarray) -> Any:
        """uint8 NHWC (or HWC) ``images`` in the caller's type and layout (floats as k / 255)."""
        arr = np.asarray(images)
        if self.channels_first:
            arr = np.moveaxis(arr, -1, -3)
        if self.kind == "torch":
            t = torch.from_numpy(np.ascontiguousarray(arr))
            dtype = getattr(torch, self.dtype)
            t = t.to(dtype) / 255.0 if self.scaled else t.to(dtype)
            return t.to(self.device) if self.device else t
        out = np.ascontiguousarray(arr)
        return out.astype(self.dtype) / np.asarray(255.0, dtype=self.dtype) if self.scaled else out.astype(self.dtype)


def _channels_first(shape: tuple[int, ...]) -> bool:
    """NCHW (or CHW): channels 1 or 3 in front of the spatial axes and not at the end."""
    if len(shape) not in (3, 4):
        return False
    return shape[-3] in (1, 3) and shape[-1] not in (1, 3)


def as_uint8(images: Any) -> tuple[Any, InputFormat]:
    """uint8 channels-last images and how they came: float [0, 1] tensors or arrays are rounded to 8 bits
    (with a one-time :class:`EightBitWarning`), NCHW is moved to NHWC. uint8 NHWC arrays pass unchanged;
    other input (lists, ints) is left to the caller's own checks."""
    global _warned
    kind, device = "numpy", None
    if isinstance(images, torch.Tensor):
        kind, device = "torch", str(images.device)
        dtype = str(images.dtype).removeprefix("torch.")
        images = images.detach().cpu().numpy() if images.dtype != torch.bfloat16 else \
            images.detach().float().cpu().numpy()
    elif isinstance(images, np.ndarray):
        dtype = images.dtype.name
    else:
        return images, InputFormat()
    # NCHW for floats and tensors (how torch users hold images); a uint8 numpy batch is NHWC, as it always was
    first = _channels_first(images.shape) and (kind == "torch" or images.dtype.kind == "f")
    if first:
        images = np.moveaxis(images, -3, -1)
    scaled = images.dtype.kind == "f"
    if scaled:
        if images.size and not np.isfinite(images).all():
            raise InputError("float images hold NaN or infinite values")
        lo, hi = (float(images.min()), float(images.max())) if images.size else (0.0, 1.0)
        if lo < 0.0 or hi > 1.0:
            raise InputError(f"float images must be in [0, 1] (got values from {lo:g} to {hi:g}); for 0..255 "
                             "floats pass x / 255, for normalised tensors undo the normalisation first")
        images = np.round(images.astype(np.float64) * 255.0).astype(np.uint8)
        if not _warned:
            _warned = True
            warnings.warn("onepixel: float images were rounded to 8-bit pixels (round(x * 255)); the attack is "
                          "defined on 8-bit pixels and its adversarials are 8-bit images (returned as k / 255)",
                          EightBitWarning, stacklevel=3)
    elif kind == "torch":
        images = np.asarray(images)
    return np.ascontiguousarray(images), InputFormat(kind, dtype, first, scaled, device)


def fit_to_model(clf: Any, images: np.ndarray) -> np.ndarray:
    """Images of another size than the model's input, cropped and resized with the model's own geometry
    (read from its metadata), as its transform would; other images unchanged."""
    size, pre = getattr(clf, "input_size", None), getattr(clf, "photo_preprocess", None)
    if size is None or pre is None or images.ndim != 4 or tuple(images.shape[1:3]) == tuple(size):
        return images
    return np.stack([pre(im) for im in images])
