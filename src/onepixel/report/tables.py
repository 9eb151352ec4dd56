"""Tables of campaign metrics: for the terminal (rich) and in the paper's layout (Markdown / HTML rows)."""

from __future__ import annotations

import math
from typing import Any

# Su et al., Table IV (Kaggle CIFAR-10, 1 pixel) and Table V (AllConv, 3 / 5 pixels); Table VIII (strict); the
# ImageNet experiment (BVLC AlexNet, 227 px, one untargeted attack per image). Keys are paper_layout's row labels.
PAPER = {
    ("allconv", 1): {"non-targeted": 0.6871, "targeted": 0.1982, "confidence": 0.7940, "untargeted": 0.2260},
    ("nin", 1): {"non-targeted": 0.7166, "targeted": 0.2315, "confidence": 0.7502, "untargeted": 0.3520},
    ("vgg16", 1): {"non-targeted": 0.6353, "targeted": 0.1648, "confidence": 0.6767, "untargeted": 0.3140},
    ("allconv", 3): {"non-targeted": 0.8653, "targeted": 0.4057},
    ("allconv", 5): {"non-targeted": 0.8634, "targeted": 0.4400},
    ("imagenet", 1): {"untargeted": 0.1604, "untargeted confidence": 0.2291},
}
#: (row label, metrics kind, metric) of the paper-layout table, in order.
PAPER_ROWS = (("non-targeted", "non-targeted", "rate"), ("targeted", "targeted", "rate"),
              ("confidence", "non-targeted", "confidence"), ("untargeted", "untargeted", "rate"),
              ("untargeted confidence", "untargeted", "confidence"),
              ("untargeted, correctly classified only", "untargeted, correct only", "rate"))


def pct(v: float | None, digits: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.{digits}f} %"


def num(v: float | None, digits: int = 0) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.{digits}f}"


def detail_rows(metrics: list[dict[str, Any]]) -> list[list[str]]:
    """One row per (pixels, kind): rate with 95 % CI, confidence, target classes, queries, time, distortion."""
    rows = []
    for m in metrics:
        rows.append([
            str(m["pixels"]), m["kind"], f"{m['successes']}/{m['n']}", pct(m["rate"]),
            f"{pct(m['ci_low'], 1)} – {pct(m['ci_high'], 1)}", pct(m["confidence"]),
            num(m.get("target_classes_mean"), 2), num(m["mean_queries"]), num(m["median_queries"]),
            num(m.get("seconds_per_image"), 2), num(m["distortion"], 1),
        ])
    return rows


DETAIL_HEADER = ["pixels", "kind", "fooled / attacks", "success", "95 % CI", "confidence", "target classes / image",
                 "mean queries", "median queries", "s / image", "distortion / channel"]


def paper_layout(runs: list[tuple[str, str, list[dict[str, Any]]]]) -> tuple[list[str], list[list[str]]]:
    """The paper's Table IV layout: one column per ``(name, paper_key, metrics)`` run, rows per pixel count and
    metric, with the paper's figure beside ours where ``paper_key`` (a net of the paper, or ``imagenet``) has one."""
    header = ["pixels", "metric"] + [name for name, _, _ in runs]
    rows = []
    ks = sorted({m["pixels"] for _, _, ms in runs for m in ms})
    for k in ks:
        for label, kind, key in PAPER_ROWS:
            cells, any_value = [], False
            for _, paper_key, ms in runs:
                m = next((m for m in ms if m["pixels"] == k and m["kind"] == kind), None)
                paper = PAPER.get((paper_key, k), {}).get(label)
                if m is None:
                    cells.append("–")
                    continue
                any_value = True
                cells.append(pct(m[key]) + (f" (paper {pct(paper)})" if paper is not None else ""))
            if any_value:
                rows.append([str(k), label] + cells)
    return header, rows


def fewest_table(sweeps: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of "how many pixels each image needs" (see :func:`onepixel.campaign.metrics.fewest_pixels`)."""
    if not sweeps:
        return [], []
    counts = sweeps[0]["pixels"]
    header = ["kind", "images"] + [f"first fooled at {k} px" for k in counts] + ["at none"]

    def share(n: int, total: int) -> str:
        return f"{n} ({pct(n / total, 1)})" if total else str(n)

    rows = [[s["kind"], str(s["images"])] + [share(n, s["images"]) for n in s["fooled_at"]] + [share(s["never"], s["images"])]
            for s in sweeps]
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def print_summary(metrics: list[dict[str, Any]], title: str = "") -> None:
    """Print the main metrics to the terminal (the report has every column)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for h in ("px", "kind", "fooled", "success (95 % CI)", "confidence", "mean queries", "s / image"):
        table.add_column(h, justify="left" if h == "kind" else "right")
    for m in metrics:
        table.add_row(str(m["pixels"]), m["kind"], f"{m['successes']}/{m['n']}",
                      f"{pct(m['rate'], 1)} ({pct(m['ci_low'], 0)}–{pct(m['ci_high'], 0)})", pct(m["confidence"], 1),
                      num(m["mean_queries"]), num(m.get("seconds_per_image"), 1))
    Console().print(table)
