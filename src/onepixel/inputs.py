"""Validation of what callers pass in (images, labels, targets, seeds, pixel counts, budgets), shared by every
entry point: each bad input is refused in one line that says what is wrong and how to fix it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .errors import InputError


def as_batch(images: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """``images`` as a uint8 (N, H, W, C) batch with int64 ``labels``; one (H, W, C) image with a scalar label
    becomes a batch of one (the flag says so). Anything else is refused in one line that says how to fix it."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    images = np.asarray(images)
    single = np.ndim(labels) == 0
    if single:
        images = images[None]
        labels = [labels]
    if images.ndim == 3:  # (N, H, W) greyscale
        images = images[..., None]
    if images.ndim != 4:
        raise InputError(f"images must be a uint8 batch (N, H, W, C) or one image (H, W, C) with a single label; got shape {images.shape}")
    if images.shape[0] == 0:
        raise InputError("the batch of images is empty")
    if images.shape[-1] not in (1, 3):
        hint = " (this looks like NCHW: transpose with x.transpose(0, 2, 3, 1))" if images.shape[1] in (1, 3) else ""
        raise InputError(f"images must be NHWC with 1 or 3 channels; got shape {images.shape}{hint}")
    if images.dtype != np.uint8:
        raise InputError(
            f"images must be uint8 with values 0..255 (got {images.dtype}); for floats in [0, 1] use "
            "(x * 255).round().astype(np.uint8)")
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu" or labels.ndim != 1:
        raise InputError(f"labels must be integer class indices, one per image (got {labels.dtype} shape {labels.shape})")
    if len(labels) != len(images):
        raise InputError(f"got {len(labels)} labels for {len(images)} images")
    return images, labels.astype(np.int64), single


def as_targets(targets: Any, labels: np.ndarray) -> np.ndarray | None:
    """None (untargeted), or one int64 target class per image (a scalar is every image's), never the label."""
    if targets is None:
        return None
    t = np.asarray(targets)
    if t.ndim == 0:
        t = np.full(len(labels), int(t))
    if t.dtype.kind not in "iu" or len(t) != len(labels):
        raise InputError(f"targets must be one integer class index per image (got {len(t)} for {len(labels)} images)")
    same = np.nonzero(t == labels)[0]
    if same.size:
        raise InputError(f"target equals the true label for image {same[0]} (class {labels[same[0]]}); pick another target class")
    return t.astype(np.int64)


def as_seeds(seed: int | Sequence[int], n: int) -> list[int]:
    """One seed per image: an int ``seed`` gives image i ``seed + i``; a sequence must have one per image."""
    if isinstance(seed, (int, np.integer)):
        return [int(seed) + i for i in range(n)]
    seeds = [int(s) for s in seed]
    if len(seeds) != n:
        raise InputError(f"got {len(seeds)} seeds for {n} images; pass one int or one seed per image")
    return seeds


def check_pixels(pixels: Any, shape: tuple[int, ...]) -> None:
    """``pixels`` must be an integer >= 1 that fits the (N, H, W, C) images."""
    if not isinstance(pixels, (int, np.integer)) or pixels < 1:
        raise InputError(f"pixels must be an integer >= 1 (got {pixels!r})")
    if pixels > shape[1] * shape[2]:
        raise InputError(f"pixels={pixels} exceeds the {shape[1]}x{shape[2]} image")


def check_max_queries(max_queries: int | None) -> None:
    """A per-image query cap, if any, must be >= 1."""
    if max_queries is not None and max_queries < 1:
        raise InputError(f"max_queries must be >= 1 (got {max_queries})")
