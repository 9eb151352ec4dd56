"""Few-pixel candidates: encoding, decoding and applying k x (x, y, colour) perturbations.

A candidate is a flat float vector of k blocks ``(x, y, c_1, ..., c_C)``: x is the column, y the row,
and C the number of channels (3 for RGB, 1 for greyscale). Searches work on these real-valued vectors;
:func:`decode` turns them into integer pixels inside the image and 0..255 colours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch only for apply(), imported there: searches use this module with numpy alone
    import torch


@dataclass(frozen=True)
class PixelSpace:
    """The search space of k-pixel changes to an H x W image with C channels."""

    height: int
    width: int
    channels: int
    pixels: int

    @property
    def block(self) -> int:
        """Numbers per changed pixel: x, y and one value per channel."""
        return 2 + self.channels

    @property
    def dim(self) -> int:
        """Length of one candidate vector."""
        return self.pixels * self.block

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper box bounds of a candidate; x, y are widened by half a pixel so that rounding
        gives every row and column the same share of the box."""
        lo = np.array([-0.5, -0.5] + [0.0] * self.channels, dtype=np.float64)
        hi = np.array([self.width - 0.5, self.height - 0.5] + [255.0] * self.channels, dtype=np.float64)
        return np.tile(lo, self.pixels), np.tile(hi, self.pixels)

    def clip(self, candidates: np.ndarray) -> np.ndarray:
        """Clip candidates (any leading shape) into the box."""
        lo, hi = self.bounds()
        return np.clip(candidates, lo, hi)

    def sample_paper(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """The paper's initial population: x, y uniform over the image, colours ~ N(128, 127) clipped."""
        out = np.empty((n, self.pixels, self.block))
        out[..., 0] = rng.uniform(-0.5, self.width - 0.5, (n, self.pixels))
        out[..., 1] = rng.uniform(-0.5, self.height - 0.5, (n, self.pixels))
        out[..., 2:] = np.clip(rng.normal(128.0, 127.0, (n, self.pixels, self.channels)), 0.0, 255.0)
        return out.reshape(n, self.dim)


@dataclass
class Pixels:
    """Decoded changes: integer ``x``, ``y`` of shape (..., k) and uint8 ``colours`` of shape (..., k, C)."""

    x: np.ndarray
    y: np.ndarray
    colours: np.ndarray

    def as_rows(self, index: tuple = ()) -> list[tuple[int, ...]]:
        """The changed pixels of one candidate as ``(x, y, c_1, ..., c_C)`` integer tuples, one per location
        (where several of its k pixels coincide, the image holds the last one's colour: that one is listed)."""
        xs, ys, cs = self.x[index], self.y[index], self.colours[index]
        rows = {(int(xs[j]), int(ys[j])): tuple(int(v) for v in cs[j]) for j in range(len(xs))}  # later ones win
        return [(x, y, *c) for (x, y), c in rows.items()]


def decode(candidates: np.ndarray, space: PixelSpace) -> Pixels:
    """Round candidate vectors (..., dim) to pixels inside the image and colours in 0..255."""
    c = np.asarray(candidates, dtype=np.float64).reshape(*np.shape(candidates)[:-1], space.pixels, space.block)
    x = np.clip(np.rint(c[..., 0]), 0, space.width - 1).astype(np.int64)
    y = np.clip(np.rint(c[..., 1]), 0, space.height - 1).astype(np.int64)
    colours = np.clip(np.rint(c[..., 2:]), 0, 255).astype(np.uint8)
    return Pixels(x, y, _last_wins(x, y, colours))


def _last_wins(x: np.ndarray, y: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Give pixels that land on the same location the colour of the last of them.

    A candidate's k pixels can round to one location; the image then has that pixel in the last colour. Every
    write to the location carries that colour, so the image is the same whichever write lands last: a GPU
    scatter with repeated indices applies them in no fixed order, and a run searched there must replay
    exactly on a CPU (seen: a 5-pixel success whose probability differed by 0.17 between the two)."""
    k = x.shape[-1]
    if k == 1 or x.size == 0:
        return colours
    same = (x[..., :, None] == x[..., None, :]) & (y[..., :, None] == y[..., None, :])
    if not (same.sum(-1) > 1).any():
        return colours
    last = k - 1 - np.argmax(same[..., ::-1], axis=-1)  # per pixel: the last one at its location (itself if alone)
    return np.take_along_axis(colours, last[..., None], axis=-2)


def encode(pixels: Pixels) -> np.ndarray:
    """Inverse of :func:`decode` for integer pixels: (..., k) changes to (..., k * (2 + C)) vectors."""
    parts = [pixels.x[..., None].astype(np.float64), pixels.y[..., None].astype(np.float64),
             pixels.colours.astype(np.float64)]
    stacked = np.concatenate(parts, axis=-1)
    return stacked.reshape(*stacked.shape[:-2], -1)


def apply(images: torch.Tensor, which: torch.Tensor, x: torch.Tensor, y: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """Build perturbed copies of uint8 NHWC ``images`` with tensor indexing (no Python loop).

    ``which`` (N,) selects the base image of each output; ``x``, ``y`` (N, k) and ``colours`` (N, k, C)
    give the changed pixels. Returns an (N, H, W, C) uint8 tensor on the images' device. Pixels of one
    candidate that coincide must carry the same colour (:func:`decode` gives them the last one's): a scatter
    with repeated indices writes them in no fixed order on a GPU.
    """
    import torch

    out = images.index_select(0, which)
    rows = torch.arange(out.shape[0], device=out.device)[:, None].expand_as(x)
    out[rows, y, x] = colours
    return out
