"""Where the random search's pixels go: the centre prior, neighbourhoods, and corner changes as candidates."""

from __future__ import annotations

import numpy as np

from .colours import grid_changes


def centre_prior(h: int, w: int, sigma: float | None) -> np.ndarray:
    """Log-weights of the H*W locations: a Gaussian around the image centre with ``sigma`` in image sizes
    (0 everywhere for None)."""
    if sigma is None:
        return np.zeros(h * w)
    ys, xs = np.divmod(np.arange(h * w), w)
    d2 = ((ys - (h - 1) / 2) / h) ** 2 + ((xs - (w - 1) / 2) / w) ** 2
    return -d2 / (2 * sigma**2)


def neighbourhoods(h: int, w: int, radius: int, locs: np.ndarray) -> np.ndarray:
    """(len(locs), (2r+1)^2) flat locations within ``radius`` (Chebyshev) of each of ``locs``, -1 outside the
    image (computed for the locations asked about: a table for every location would not fit a large photo)."""
    ys, xs = np.divmod(np.asarray(locs), w)
    d = np.arange(-radius, radius + 1)
    dy, dx = (a.ravel() for a in np.meshgrid(d, d, indexing="ij"))
    ny, nx = ys[:, None] + dy, xs[:, None] + dx
    inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
    return np.where(inside, ny * w + nx, -1)


def corner_candidates(loc: np.ndarray, col: np.ndarray, colours: np.ndarray, width: int) -> np.ndarray:
    """Candidate vectors (..., k * (2 + C)) of k changes given as flat locations ``loc`` (..., k) and indices
    ``col`` (..., k) into the colour table ``colours`` (M, C)."""
    return grid_changes(loc * len(colours) + col, width, colours).reshape(*loc.shape[:-1], -1)


def corner_log_weights(images: np.ndarray, locs: int, colours: np.ndarray, temperature: float) -> np.ndarray:
    """(n, locations, corners) log-weights of the corner colours: their distance to each image's own
    pixel at that location, scaled by ``temperature`` (uint8 (n, H, W, C) clean images)."""
    px = images.reshape(len(images), locs, -1).astype(np.float64)
    # One corner at a time: a (locations, corners, channels) temporary is gigabytes for a large photo.
    logw = np.stack([np.linalg.norm(px - c, axis=-1) for c in colours], axis=-1)
    logw -= logw.max(-1, keepdims=True)  # in place: these arrays are H * W * 8 per image
    logw /= temperature
    return logw
