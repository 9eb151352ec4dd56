"""Figures of a campaign (matplotlib, Agg backend): each function returns the figure as PNG, SVG and PDF bytes
(``{"png": ..., "svg": ..., "pdf": ...}``), written without timestamps so the same data give the same files."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

#: the formats every figure is written in: PNG for the HTML and Markdown reports, SVG and PDF for papers
FORMATS = ("png", "svg", "pdf")
_NO_DATES = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}


def _render(fig) -> dict[str, bytes]:
    out = {}
    with plt.rc_context({"svg.hashsalt": "onepixel"}):  # stable SVG ids: regenerated reports diff cleanly
        for fmt in FORMATS:
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=110, bbox_inches="tight", metadata=_NO_DATES[fmt])
            out[fmt] = buf.getvalue()
    plt.close(fig)
    return out


@dataclass(frozen=True)
class Curve:
    """One success-vs-budget curve: ``label`` names the run and kind; ``exact`` False when the points are stop
    queries (an upper bound on each first success, so the curve is a lower bound on success)."""

    label: str
    budgets: np.ndarray
    rate: np.ndarray
    exact: bool = True


def pair_heatmap(pairs: Sequence[Sequence[int]], classes: Sequence[str], title: str) -> dict[str, bytes]:
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
    bar = fig.colorbar(im, ax=ax, fraction=0.046, label="successful attacks")
    bar.locator = MaxNLocator(integer=True)  # counts: no 0.5 attacks on the scale
    bar.update_ticks()
    ax.set_title(title, fontsize=10)
    return _render(fig)


def target_class_histogram(hist: Sequence[int], title: str) -> dict[str, bytes]:
    """How many images could be pushed to 0, 1, ..., 9 other classes."""
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    ax.bar(range(len(hist)), hist, color="#c0392b")
    ax.set_xticks(range(len(hist)))
    ax.set_xlabel("number of target classes reached")
    ax.set_ylabel("images")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontsize=10)
    return _render(fig)


def success_curves(curves: list[Curve], title: str) -> dict[str, bytes]:
    """Success rate against the per-attack query budget (step functions, log budget axis); curves bounded by
    stop queries are dashed. The legend sits below the axes, where it covers no curve."""
    fig, ax = plt.subplots(figsize=(7.2, 4.0))
    for c in curves:
        ax.step(c.budgets, 100 * c.rate, where="post", lw=1.4, linestyle="-" if c.exact else "--",
                label=c.label if c.exact else f"{c.label} (stop query: upper bound)")
    ax.set_xscale("log")
    # from the decade of the earliest first success: decades where nothing can happen are empty paper
    firsts = [c.budgets[1] for c in curves if len(c.budgets) > 2]
    ax.set_xlim(left=10 ** np.floor(np.log10(max(1, min(firsts, default=10)))))
    ax.set_xlabel("query budget per attack")
    ax.set_ylabel("attack success rate (%)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1 if len(curves) < 5 else 2,
              frameon=False)
    ax.set_title(title, fontsize=10)
    return _render(fig)


def example(original: np.ndarray, adversarial: np.ndarray, before: str, after: str) -> dict[str, bytes]:
    """Original and adversarial side by side, changed pixels circled, with a zoomed inset of the most changed one
    (the figure ``onepixel attack`` writes, at report size)."""
    from ..figure import draw_before_after

    zoom = 2 * max(2, min(original.shape[:2]) // 8) + 1
    return _render(draw_before_after(original, adversarial, (before, after), zoom=zoom, width=5.6))
