"""Tables of campaign metrics: for the terminal (rich) and in the paper's layout (Markdown / HTML rows)."""

from __future__ import annotations

import math
from typing import Any

from ..campaign.metrics import ANY_TARGET, BUDGETS
from .paper import PaperMatch

#: (row label, metrics kind, metric) of the paper-layout table, in order. One word for the mode: the paper's
#: "non-targeted" (any of the targeted attacks succeeded) is quoted in its row label.
PAPER_ROWS = ((f'{ANY_TARGET} (paper: "non-targeted")', ANY_TARGET, "rate"), ("targeted", "targeted", "rate"),
              (f"confidence, {ANY_TARGET}", ANY_TARGET, "confidence"), ("untargeted", "untargeted", "rate"),
              ("confidence, untargeted", "untargeted", "confidence"),
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
                 "mean queries to the stop", "median queries to the stop", "s / image", "distortion / channel"]


def paper_layout(runs: list[tuple[str, PaperMatch, list[dict[str, Any]]]]) -> tuple[list[str], list[list[str]]]:
    """The paper's Table IV layout: one column per ``(name, paper match, metrics)`` run, rows per pixel count and
    metric, with the paper's figure beside ours only where the run's settings match the paper's row; the first
    row says, per run, which table it sits beside or why it is not comparable."""
    header = ["pixels", "metric"] + [name for name, _, _ in runs]
    rows = [["", "paper's figure"] + [f"{match.table} (in brackets)" if match.table else f"not comparable: {match.reason}"
                                      for _, match, _ in runs]]
    ks = sorted({m["pixels"] for _, _, ms in runs for m in ms})
    for k in ks:
        for label, kind, key in PAPER_ROWS:
            cells, any_value = [], False
            for _, match, ms in runs:
                m = next((m for m in ms if m["pixels"] == k and m["kind"] == kind), None)
                paper = match.figure(kind, key, k)
                if m is None:
                    cells.append("–")
                    continue
                any_value = True
                cells.append(pct(m[key]) + (f" (paper {pct(paper)})" if paper is not None else ""))
            if any_value:
                rows.append([str(k), label] + cells)
    return header, rows


BUDGET_HEADER = ["pixels", "kind", "attacks"] + [f"success at {b:,}" for b in BUDGETS] + [
    "success at the run's budget", "median first-success query"]


def budget_rows(table: list[dict[str, Any]]) -> list[list[str]]:
    """Rows of :func:`onepixel.campaign.metrics.budget_table`: "–" where a budget exceeds the run's; "≥" where
    some first successes are only bounded by their stop query (a store from before they were recorded)."""
    rows = []
    for r in table:
        ge = "" if r["exact"] else "≥ "
        cells = [("–" if r["at"][b] is None else ge + pct(r["at"][b], 1)) for b in BUDGETS]
        med = ("≤ " if not r["exact"] else "") + num(r["median_first"])
        rows.append([str(r["pixels"]), r["kind"], f"{r['n']:,}"] + cells +
                    [f"{pct(r['at']['full'], 1)} ({r['budget']:,})", med])
    return rows


HEADLINE_HEADER = ["pixels", "images", "clean accuracy", "accuracy under attack", "attack success rate (95 % CI)",
                   "fooled / correctly classified", "misclassified before the attack", "fooled means"]


def headline_rows(robust: list[dict[str, Any]]) -> list[list[str]]:
    """Rows of :func:`onepixel.campaign.metrics.robust_accuracy`."""
    means = {"untargeted": "the untargeted attack succeeded", ANY_TARGET: "any of its targeted attacks succeeded"}
    return [[str(r["pixels"]), f"{r['images']:,}", pct(r["clean_accuracy"], 1), pct(r["robust_accuracy"], 1),
             f"{pct(r['attack_success'], 1)} ({pct(r['ci_low'], 1)} – {pct(r['ci_high'], 1)})",
             f"{r['fooled']} / {r['correct']}", str(len(r["misclassified"])), means.get(r["kind"], r["kind"])]
            for r in robust]


def headline_sentence(r: dict[str, Any]) -> str:
    """One run's robust-accuracy headline for one pixel count, in words."""
    wrong = len(r["misclassified"])
    via = "" if r["kind"] == "untargeted" else " (fooled: any of its targeted attacks succeeded)"
    return (f"{r['pixels']} px: clean accuracy {pct(r['clean_accuracy'], 1)} on the {r['images']:,} images attacked; "
            f"accuracy under attack {pct(r['robust_accuracy'], 1)}; attack success rate {pct(r['attack_success'], 1)} "
            f"({r['fooled']} of the {r['correct']} correctly classified images, 95 % CI {pct(r['ci_low'], 1)} – "
            f"{pct(r['ci_high'], 1)}){via}. {wrong} image{'s' if wrong != 1 else ''} misclassified before the attack "
            "counted apart, never as the attack's successes.")


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


def csv_table(header: list[str], rows: list[list[str]]) -> str:
    """The table as CSV (the cells as shown, thin spaces and all)."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "–": "--", "—": "---", "≥": r"$\geq$",
        "≤": r"$\leq$", "×": r"$\times$", "→": r"$\rightarrow$", "…": r"\ldots{}", "·": r"$\cdot$"}


def _tex(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def latex_table(header: list[str], rows: list[list[str]], caption: str = "") -> str:
    """The table as a LaTeX ``tabular`` (booktabs rules) in a ``table`` float with ``caption``."""
    spec = "l" * min(2, len(header)) + "r" * max(0, len(header) - 2)
    lines = [r"\begin{table}[ht]", r"\centering", rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(_tex(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(_tex(c) for c in r) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{_tex(caption)}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def print_summary(metrics: list[dict[str, Any]], title: str = "") -> None:
    """Print the main metrics to the terminal (the report has every column)."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True)  # fits 80 columns
    for h in ("px", "kind", "fooled", "success\n(95 % CI)", "confidence", "mean queries\n(to the stop)", "s / image"):
        # numbers never break across lines (a narrow terminal read "20.0 % (8" / "%–42 %)"); the kind wraps at words
        table.add_column(h, justify="left" if h == "kind" else "right", no_wrap=h != "kind",
                         min_width=10 if h == "kind" else None)
    for m in metrics:
        table.add_row(str(m["pixels"]), m["kind"], f"{m['successes']}/{m['n']}",
                      _rate_with_ci(m), pct(m["confidence"], 1),
                      num(m["mean_queries"]), num(m.get("seconds_per_image"), 1))
    out = console(table)
    out.print(table)
    out.print(CLI_LEGEND, soft_wrap=True, highlight=False)


def _rate_with_ci(m: dict[str, Any]) -> str:
    """"20.0 % (8–42 %)": the success rate and its 95 % interval, or only "–" where nothing was attacked."""
    if pct(m["ci_low"], 0) == "–" or pct(m["ci_high"], 0) == "–":
        return pct(m["rate"], 1)
    return f"{pct(m['rate'], 1)} ({pct(m['ci_low'], 0).removesuffix(' %')}–{pct(m['ci_high'], 0)})"


#: what the summary's less obvious columns mean (the report says it beside its tables)
CLI_LEGEND = ("confidence: mean probability of the class the fooled images fell to (targeted: the target's); "
              "s / image: seconds per image, all its attacks")


def console(table: Any = None):
    """A rich console; in a log (not a terminal) wide enough that no cell of ``table`` wraps mid-word: at least
    160 columns, more if the table needs them (a terminal's own width is kept: there a person can widen it)."""
    from rich.console import Console

    out = Console()
    if out.is_terminal:
        return out
    need = Console(width=100_000).measure(table).maximum if table is not None else 0
    return Console(width=max(out.width, 160, need))
