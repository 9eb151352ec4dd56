"""Discrete colour sets shared by the corner-based searches: the corners of the colour cube and finer grids."""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def colour_grid(channels: int, levels: int = 2) -> np.ndarray:
    """All colours whose channels take ``levels`` evenly spaced values in 0..255, as a float (levels**C, C) array.

    ``levels=2`` gives the corners of the RGB cube (8 colours; 2 for greyscale), the colours Croce & Hein
    found to dominate sparse attacks because they change a pixel the most. Rows are in lexicographic order,
    so row ``i``'s channel ``c`` is bit ``C-1-c`` of ``i`` for corners.
    """
    if levels < 2:
        raise InputError(f"a colour grid needs at least 2 levels per channel (got {levels})")
    values = np.rint(np.linspace(0.0, 255.0, levels))
    mesh = np.meshgrid(*([values] * channels), indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def grid_changes(index: np.ndarray, width: int, colours: np.ndarray) -> np.ndarray:
    """One-pixel changes (..., 2 + C) ``(x, y, colour)`` of flat grid indices ``index = (y * width + x) * M + c``
    (location-major, then colour ``c`` of the (M, C) grid ``colours``), as float candidate blocks."""
    loc, col = np.divmod(index, len(colours))
    y, x = np.divmod(loc, width)
    return np.concatenate([x[..., None], y[..., None], colours[col]], axis=-1).astype(np.float64)
