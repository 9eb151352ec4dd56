"""Before/after figures of an attack: the changed pixels circled, and a zoomed inset of the most changed one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .fileio import atomic_path


def changed_pixels(original: np.ndarray, adversarial: np.ndarray) -> list[tuple[int, int]]:
    """(x, y) of every pixel where the two images differ, row by row."""
    ys, xs = np.nonzero((original != adversarial).any(-1))
    return [(int(x), int(y)) for y, x in zip(ys, xs, strict=True)]


#: panels wider or taller than this many pixels are drawn from a box-filtered copy (a 12-megapixel photo is
#: shown at ~600 pixels anyway; drawing it whole costs seconds and gigabytes). The inset is always exact.
DISPLAY_PIXELS = 1600


def _for_display(img: np.ndarray) -> np.ndarray:
    """``img`` reduced by an integer factor (box filter) until it fits ``DISPLAY_PIXELS``."""
    factor = -(-max(img.shape[:2]) // DISPLAY_PIXELS)
    if factor <= 1:
        return img
    from PIL import Image

    arr = img[..., 0] if img.shape[-1] == 1 else img
    return np.asarray(Image.fromarray(np.ascontiguousarray(arr)).reduce(factor))


def before_after(original: np.ndarray, adversarial: np.ndarray, path: str | Path, titles: Sequence[str] = ("before", "after"),
                 zoom: int = 15, dpi: int = 120) -> Path:
    """Write a PNG with the original and the adversarial image side by side (:func:`draw_before_after`)."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = draw_before_after(original, adversarial, titles, zoom)
    with atomic_path(path) as tmp:  # whole or not at all
        fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    return path


def before_after_png(original: np.ndarray, adversarial: np.ndarray, titles: Sequence[str] = ("before", "after"),
                     zoom: int = 15, width: float = 10.0, dpi: int = 110) -> bytes:
    """The same figure as PNG bytes (for reports), ``width`` inches wide."""
    import io

    import matplotlib.pyplot as plt

    fig = draw_before_after(original, adversarial, titles, zoom, width)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def draw_before_after(original: np.ndarray, adversarial: np.ndarray, titles: Sequence[str] = ("before", "after"),
                      zoom: int = 15, width: float = 10.0):
    """A matplotlib figure with the original and the adversarial image side by side.

    Each changed pixel is circled (a one-pixel change is invisible at full size), and each panel has an inset
    magnifying the ``zoom`` x ``zoom`` neighbourhood of the most changed pixel, drawn with nearest-neighbour
    sampling so the single pixel stays a crisp square.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, and no GUI backend picked up from the environment
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Rectangle

    pix = changed_pixels(original, adversarial)
    h, w = original.shape[:2]
    grey = original.shape[-1] == 1
    fig, axes = plt.subplots(1, 2, figsize=(width, width / 2 * h / max(w, 1) + 0.5), constrained_layout=True)
    radius = max(4.0, 0.03 * max(h, w))
    full = (-0.5, w - 0.5, h - 0.5, -0.5)  # panels keep full-image pixel coordinates, whatever is drawn
    for ax, img, title in zip(axes, (original, adversarial), titles, strict=True):
        shown = img[..., 0] if grey else img
        ax.imshow(_for_display(shown[..., None] if grey else shown).squeeze(), cmap="gray" if grey else None,
                  vmin=0, vmax=255, interpolation="nearest", extent=full)
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
        for x, y in pix:
            ax.add_patch(Circle((x, y), radius, fill=False, edgecolor="red", linewidth=1.5))
        if pix:
            # zoom on the most changed pixel: the one a reader most needs to find
            change = np.abs(original.astype(np.int16) - adversarial.astype(np.int16)).sum(-1)
            x0, y0 = max(pix, key=lambda p: change[p[1], p[0]])
            half = zoom // 2
            inset = ax.inset_axes((0.68, 0.68, 0.3, 0.3))
            top, left = max(0, y0 - half), max(0, x0 - half)
            crop = shown[top:y0 + half + 1, left:x0 + half + 1]  # only what the inset shows
            inset.imshow(crop, cmap="gray" if grey else None, vmin=0, vmax=255, interpolation="nearest",
                         extent=(left - 0.5, left + crop.shape[1] - 0.5, top + crop.shape[0] - 0.5, top - 0.5))
            inset.set_xlim(x0 - half - 0.5, x0 + half + 0.5)
            inset.set_ylim(y0 + half + 0.5, y0 - half - 0.5)
            inset.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.2))
            inset.set_xticks([])
            inset.set_yticks([])
            for side in inset.spines.values():
                side.set_edgecolor("red")
    return fig
