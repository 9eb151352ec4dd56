"""Figures of a campaign (matplotlib, Agg backend): each function returns PNG bytes."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def pair_heatmap(pairs: Sequence[Sequence[int]], classes: Sequence[str], title: str) -> bytes:
    """Original class (rows) -> adversarial class (columns) counts of successful attacks."""
    m = np.asarray(pairs)
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    im = ax.imshow(m, cmap="Reds")
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("adversarial (target) class")
    ax.set_ylabel("original class")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if m[i, j]:
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] > m.max() / 2 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title, fontsize=10)
    return _png(fig)


def target_class_histogram(hist: Sequence[int], title: str) -> bytes:
    """How many images could be pushed to 0, 1, ..., 9 other classes."""
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    ax.bar(range(len(hist)), hist, color="#c0392b")
    ax.set_xticks(range(len(hist)))
    ax.set_xlabel("number of target classes reached")
    ax.set_ylabel("images")
    ax.set_title(title, fontsize=10)
    return _png(fig)


def success_curves(curves: list[tuple[str, np.ndarray, np.ndarray]], title: str) -> bytes:
    """Success rate against the query budget: each curve is (label, sorted budgets, success fraction)."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for label, q, rate in curves:
        ax.step(q, 100 * rate, where="post", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("queries per attack (budget)")
    ax.set_ylabel("success rate (%)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    return _png(fig)


def example(original: np.ndarray, adversarial: np.ndarray, before: str, after: str) -> bytes:
    """Original and adversarial side by side, changed pixels circled, with a zoomed inset of the most changed one
    (the figure ``onepixel attack`` writes, at report size)."""
    from ..figure import before_after_png

    zoom = 2 * max(2, min(original.shape[:2]) // 8) + 1
    return before_after_png(original, adversarial, (before, after), zoom=zoom, width=5.6)
