"""Collect runs, draw their figures and fill the HTML / Markdown templates.

Every report leads with each run's robust accuracy (clean accuracy, accuracy under attack, attack success among
the correctly classified images); success against the query budget is drawn from each attack's first verified
success; the paper's figures sit only beside runs whose settings match the paper's row. Figures are written as
PNG, SVG and PDF and tables as CSV and LaTeX into ``report_files/``, beside ``report.md`` and ``report.html``.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from ..campaign.config import upgraded
from ..campaign.metrics import (
    ANY_TARGET,
    budget_table,
    correct_before,
    fewest_pixels,
    robust_accuracy,
    run_budget,
    success_curve,
    summarize,
)
from ..campaign.protocol import attacks_per_image, imagenet_rule
from ..campaign.rows import apply_changes
from ..campaign.store import load_results
from ..campaign.verify import verification_line
from ..fileio import write_bytes, write_text
from . import figures
from .paper import PaperMatch, paper_match
from .tables import (
    BUDGET_HEADER,
    DETAIL_HEADER,
    HEADLINE_HEADER,
    budget_rows,
    csv_table,
    detail_rows,
    fewest_table,
    headline_rows,
    headline_sentence,
    latex_table,
    markdown_table,
    paper_layout,
    pct,
)

#: at most this many images misclassified before the attack are listed by name (the count is always given)
MISCLASSIFIED_LISTED = 12


@dataclass
class Figure:
    """A figure saved into ``report_files/`` (PNG, SVG, PDF); the reports show the PNG."""

    file: str  # the PNG's name; the SVG and PDF share its stem
    caption: str
    data: dict[str, bytes] = field(repr=False)

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.data["png"]).decode()

    @property
    def stem(self) -> str:
        return self.file.rsplit(".", 1)[0]

    def files(self) -> dict[str, bytes]:
        return {f"{self.stem}.{fmt}": b for fmt, b in self.data.items()}


@dataclass
class Table:
    """A table shown in the reports and saved as CSV and LaTeX (``stem``.csv, ``stem``.tex)."""

    stem: str
    caption: str
    header: list[str]
    rows: list[list[str]]

    @property
    def md(self) -> str:
        return markdown_table(self.header, self.rows)

    def files(self) -> dict[str, bytes]:
        return {f"{self.stem}.csv": csv_table(self.header, self.rows).encode(),
                f"{self.stem}.tex": latex_table(self.header, self.rows, self.caption).encode()}


@dataclass
class RunSection:
    name: str
    label: str  # the run's short name in legends and file names (unique within a report)
    folder: str
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    robust: list[dict[str, Any]]
    headlines: list[str]
    paper: PaperMatch
    paper_line: str
    detail: Table
    budgets: Table
    budgets_exact: bool
    figures: list[Figure]
    gallery: list[Figure]
    misclassified: list[str]
    misclassified_more: int = 0
    note: str = ""
    settings: str = ""
    fewest: Table | None = None
    verification: str = ""

    @property
    def tables(self) -> list[Table]:
        return [t for t in (self.budgets, self.detail, self.fewest) if t is not None]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "run"


def run_labels(folders: list[Path]) -> list[str]:
    """A short, unique name per run folder: its name, with parent folders prefixed where two runs share it
    (``a/run`` and ``b/run`` become ``a-run`` and ``b-run``); figure and table files are named after it."""
    parts = [list(f.resolve().parts) for f in folders]
    depth = [1] * len(folders)
    for _ in range(max((len(p) for p in parts), default=1)):
        labels = ["-".join(p[-d:]) for p, d in zip(parts, depth)]
        dup = {lab for lab in labels if labels.count(lab) > 1}
        if not dup:
            break
        depth = [d + 1 if lab in dup else d for d, lab in zip(depth, labels)]
    labels = [_slug("-".join(p[-d:])) for p, d in zip(parts, depth)]
    return [lab if labels.count(lab) == 1 else f"{lab}-{i + 1}" for i, lab in enumerate(labels)]  # the same folder twice


def _class_namer(classes: list[str]):
    return lambda k: classes[k] if classes and 0 <= k < len(classes) else str(k)


def _change_text(changes: list[list[int]]) -> str:
    """Changed pixels as ``x=…, y=… → (r, g, b)`` (a change row is [x, y, new..., old...])."""
    return "; ".join(f"x={c[0]}, y={c[1]} → ({', '.join(str(v) for v in c[2:2 + (len(c) - 2) // 2])})" for c in changes)


def _load_images(cfg: dict[str, Any], data_path: str | Path | None = None):
    """The run's images as attacked (photos in input space: cropped and resized as the model saw them), from
    the run's data folder, else from ``data_path`` (where the data sit on this machine)."""
    from ..data.datasets import PHOTO_DATASETS, Dataset, load_dataset

    name, _, split = cfg.get("dataset", "").partition("/")
    stored = cfg.get("data_path")
    where = data_path if data_path is not None and (stored is None or not Path(stored).exists()) else stored
    data = load_dataset(name, split or "test", where)
    if name in PHOTO_DATASETS and cfg.get("space") == "input" and cfg.get("input_size"):
        from ..photo import PhotoPreprocess

        pre = PhotoPreprocess.imagenet(tuple(cfg["input_size"]))
        data = Dataset(data.name, np.stack([pre(p) for p in data.images]), data.labels, data.classes)
    return data


def _gallery(df, cfg: dict[str, Any], classes: list[str], n: int, label: str,
             data_path: str | Path | None = None) -> tuple[list[Figure], str]:
    """Successful attacks on images the model classified correctly before the attack (so a targeted example's
    target was never already the clean prediction); captions give the clean and adversarial prediction."""
    wins = correct_before(df)
    wins = wins[wins["success"]]
    if n <= 0 or not len(wins):
        return [], "" if n <= 0 else "No successful attack on a correctly classified image to show."
    try:
        data = _load_images(cfg, data_path)
    except Exception as e:  # the report still has every table without the dataset
        return [], f"Gallery skipped: the dataset could not be loaded ({e})."
    wins = wins.sort_values(["predicted_prob_after", "uid"], ascending=[False, True])
    # One example per original class first, so the gallery is varied.
    picked = wins.drop_duplicates("label").head(n)
    if len(picked) < n:
        picked = wins.loc[wins.index.isin(picked.index) | wins.index.isin(wins.index[: n])].head(n)
    out = []
    cname = _class_namer(classes)
    for _, r in picked.iterrows():
        orig = np.asarray(data.images[int(r["image"])])
        adv = apply_changes(orig, r["changes"], check=False)
        # correctly classified before: the clean prediction is the label, its probability label_prob_before
        before = f"{cname(int(r['predicted_before']))} ({pct(r['label_prob_before'], 1)})"
        after = f"{cname(int(r['predicted_after']))} ({pct(r['predicted_prob_after'], 1)})"
        goal = "untargeted" if r["mode"] == "untargeted" else f"targeted at {cname(int(r['target']))}"
        data_ = figures.example(orig, adv, "clean: " + before, "adversarial: " + after)
        out.append(Figure(f"{label}-example-{int(r['image'])}-{r['pixels']}px-{r['uid'].split(':')[-1]}.png",
                          f"image {int(r['image'])}, {r['pixels']} px, {goal}: {before} → {after}; changed "
                          f"{_change_text(r['changes'])}", data_))
    return out, ""


def _misclassified(robust: list[dict[str, Any]], classes: list[str]) -> tuple[list[str], int]:
    """Lines naming the images misclassified before the attack (first pixel count's list), and how many more."""
    if not robust:
        return [], 0
    cname = _class_namer(classes)
    rows = robust[0]["misclassified"]
    lines = [f"image {int(m['image'])}: true class {cname(int(m['label']))} ({pct(m['label_prob_before'], 1)}), "
             f"predicted {cname(int(m['predicted_before']))} before the attack" for m in rows[:MISCLASSIFIED_LISTED]]
    return lines, max(0, len(rows) - MISCLASSIFIED_LISTED)


def _model_name(cfg: dict[str, Any]) -> str:
    """A zoo name as it is, a model file by its file name (the full path is in the settings line)."""
    return Path(str(cfg.get("model", "?"))).name


def _attack_space(cfg: dict[str, Any]) -> str | None:
    """Which space a photo run attacked ("input" or "file"); None for datasets without the choice."""
    from ..data.datasets import PHOTO_DATASETS

    return str(cfg.get("space", "input")) if cfg.get("dataset") in PHOTO_DATASETS else None


def _settings(cfg: dict[str, Any], num_classes: int) -> str:
    """The run's settings in one sentence (what was attacked, how, with which search and budget)."""
    parts = [f"dataset {cfg.get('dataset', '?')}"]
    if space := _attack_space(cfg):
        parts[0] += f" ({space} space)"
    parts.append(f"{cfg.get('n', '?')} images, pixels {', '.join(map(str, cfg.get('pixels', [])))}")
    if imagenet_rule(cfg.get("protocol", ""), num_classes):
        parts.append("one untargeted attack per image (the paper's ImageNet protocol)")
    else:
        parts.append(f"protocol {cfg.get('protocol', '?')}, mode {cfg.get('mode', '?')}")
    search = cfg.get("search", "de")
    if search == "de":
        de = upgraded(cfg).get("search_settings") or {}
        parts.append(f"DE population {de.get('popsize')} × {de.get('generations')} generations")
    else:
        parts.append(f"search {search}")
    if cfg.get("max_queries"):
        parts.append(f"at most {cfg['max_queries']:,} queries per attack")
    parts.append(f"seed {cfg.get('seed')}")
    if cfg.get("model_sha256"):
        parts.append(f"model {cfg.get('model')} (sha256 {cfg['model_sha256'][:16]}…)")
    return ", ".join(parts) + "."


def _planned(cfg: dict[str, Any], num_classes: int) -> int | None:
    """Attacks the run's configuration asks for, when the configuration says enough to count them."""
    try:
        return int(cfg["n"]) * len(cfg["pixels"]) * attacks_per_image(cfg["protocol"], cfg["mode"], num_classes)
    except (KeyError, TypeError):
        return None


def _paper_line(match: PaperMatch, cfg: dict[str, Any]) -> str:
    if match.table is None:
        return f"Not comparable with the paper's figures: {match.reason}."
    net = {"allconv": "AllConv", "nin": "NiN", "vgg16": "VGG16", "alexnet": "AlexNet"}.get(match.net or "", match.net)
    reasons = [match.pixels_reason(int(k)) for k in cfg.get("pixels", [])]
    extra = "".join(f" {r[0].upper()}{r[1:]}." for r in reasons if r)
    return (f"Settings match the paper's {match.table} row ({cfg.get('protocol')} protocol, DE 400 × 100 rand/1 "
            f"F = 0.5, {net}): its figures are in brackets in the paper-layout table.{extra}")


def _curves(df, label: str, classes: int) -> list[figures.Curve]:
    """Success-vs-budget curves of one run per pixel count and kind, among the correctly classified images."""
    out = []
    budget = run_budget(df)
    for row in budget_table(df, classes):
        b, rate = success_curve(row["first"], row["n"], budget)
        out.append(figures.Curve(f"{label}: {row['pixels']} px {row['kind']}", b, rate, row["exact"]))
    return out


def _class_count(df) -> int:
    """The class count of a run without class names: one more than the targeted attacks per image (the protocol
    attacks every other class), else the largest class index seen + 1."""
    tg = df[df["mode"] == "targeted"]
    if len(tg):
        return int(tg.groupby(["image", "pixels"]).size().max()) + 1
    seen = [int(df[c].max()) + 1 for c in ("label", "predicted_before", "predicted_after") if len(df)]
    return max(seen + [2])


def _section(folder: Path, label: str, gallery: int, data_path: str | Path | None = None
             ) -> tuple[RunSection, list[figures.Curve]]:
    df = load_results(folder)
    cfg = df.attrs["config"]
    classes = cfg.get("classes") or [str(i) for i in range(_class_count(df))]
    metrics = summarize(df, len(classes))
    robust = robust_accuracy(df, len(classes))
    # photo runs name their attack space: input- and file-space runs of one model sit side by side
    space = _attack_space(cfg)
    name = f"{_model_name(cfg)} — {cfg.get('protocol', '?')} protocol{f', {space} space' if space else ''} ({label})"
    title = f"{label}"
    figs = []
    for m in metrics:
        if m["kind"] in ("targeted", "untargeted") and m["pairs"] is not None and np.asarray(m["pairs"]).sum():
            figs.append(Figure(f"{label}-pairs-{m['pixels']}px-{m['kind']}.png",
                               f"Original → adversarial class of the successful {m['kind']} attacks, {m['pixels']} px "
                               "(counts of attacks; every attack of the run, misclassified images included as the "
                               "paper counts them)",
                               figures.pair_heatmap(m["pairs"], classes, f"{title}: {m['pixels']} px {m['kind']}")))
        if m["kind"] == ANY_TARGET and m.get("target_classes_hist"):
            figs.append(Figure(f"{label}-target-classes-{m['pixels']}px.png",
                               f"Number of target classes reached per image, {m['pixels']} px (mean "
                               f"{m['target_classes_mean']:.2f}; every image of the run)",
                               figures.target_class_histogram(m["target_classes_hist"], f"{title}: {m['pixels']} px")))
    gal, note = _gallery(df, cfg, classes, gallery, label, data_path)
    planned = _planned(cfg, len(classes))
    if planned and len(df) < planned:
        note = (f"Incomplete run: {len(df)} of {planned} attacks finished (the tables count complete images only "
                f"for the '{ANY_TARGET}' rates). Re-running the same `onepixel evaluate` command resumes it. ") + note
    if df.attrs.get("corrupt"):
        bad = df.attrs["corrupt"]
        note = (f"{len(bad)} stored attack(s) could not be read and are left out of every number here "
                f"({', '.join(uid for uid, _ in bad[:5])}{', ...' if len(bad) > 5 else ''}; "
                f"`onepixel check {folder}` lists them). ") + note
    budgets = budget_table(df, len(classes))
    exact = all(b["exact"] for b in budgets)
    fewest_header, fewest_rows = fewest_table(fewest_pixels(df, len(classes)))
    wrong, more = _misclassified(robust, classes)
    match = paper_match(cfg)
    section = RunSection(
        name=name, label=label, folder=str(folder), config=cfg, metrics=metrics, robust=robust,
        headlines=[headline_sentence(r) for r in robust], paper=match, paper_line=_paper_line(match, cfg),
        detail=Table(f"{label}-paper-metrics", f"{label}: the paper's metrics", DETAIL_HEADER, detail_rows(metrics)),
        budgets=Table(f"{label}-success-at-budgets", f"{label}: attack success at fixed query budgets, among images "
                      "classified correctly before the attack", BUDGET_HEADER, budget_rows(budgets)),
        budgets_exact=exact, figures=figs, gallery=gal, misclassified=wrong, misclassified_more=more, note=note,
        settings=_settings(cfg, len(classes)),
        fewest=Table(f"{label}-fewest-pixels", f"{label}: how many pixels each image needs", fewest_header,
                     fewest_rows) if fewest_rows else None,
        verification=verification_line(folder, len(df)))
    return section, _curves(df, label, len(classes))


CURVE_CAPTION = ("Attack success rate against the per-attack query budget, among images classified correctly "
                 "before the attack: at budget b, the share of attacks (for '{any}': of images) whose first verified "
                 "success came at a query ≤ b; an attack given b queries finds exactly these.")
UPPER_BOUND_CAPTION = (" Dashed: runs stored before first successes were recorded, drawn at the query where each "
                       "attack stopped (DE runs on to its thresholds: true class < 5 %, target > 90 %), an upper "
                       "bound on the first success, so these curves are lower bounds on success.")


def write_report(runs: list[str | Path], out: str | Path, gallery: int = 8, embed: bool = False,
                 data_path: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` into ``out``, with every figure (PNG, SVG, PDF) and table (CSV,
    LaTeX) in ``out/report_files/``; returns both report paths. ``report.html`` shows the PNG files beside it;
    ``embed=True`` puts them into the HTML instead (one file to send, several times larger). ``data_path``: where
    the runs' images are on this machine, for runs whose stored data folder is not there (the gallery)."""
    out = Path(out)
    folders = [Path(r) for r in runs]
    labels = run_labels(folders)
    built = [_section(f, lab, gallery, data_path) for f, lab in zip(folders, labels)]
    sections = [s for s, _ in built]
    curves = [c for _, cs in built for c in cs]
    overview = []
    if curves:
        caption = CURVE_CAPTION.format(any=ANY_TARGET) + ("" if all(c.exact for c in curves) else UPPER_BOUND_CAPTION)
        overview.append(Figure("success-vs-queries.png", caption,
                               figures.success_curves(curves, "Attack success vs query budget")))
    header, rows = paper_layout([(s.label, s.paper, s.metrics) for s in sections])
    paper_table = Table("paper-layout", "Success rates in the paper's layout", header, rows)
    headline = Table("robust-accuracy", "Robust accuracy per run (images misclassified before the attack count "
                     "against clean accuracy, never as attack successes)", ["run"] + HEADLINE_HEADER,
                     [[s.label] + r for s in sections for r in headline_rows(s.robust)])
    files = out / "report_files"
    files.mkdir(parents=True, exist_ok=True)
    for item in overview + [f for s in sections for f in s.figures + s.gallery] + [headline, paper_table] + [
            t for s in sections for t in s.tables]:
        for name, blob in item.files().items():
            write_bytes(files / name, blob)
    env = jinja2.Environment(loader=jinja2.PackageLoader("onepixel.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]), keep_trailing_newline=True)
    from .. import __version__

    ctx = {"sections": sections, "overview": overview, "paper": paper_table, "headline": headline,
           "version": __version__, "embed": embed, "any_target": ANY_TARGET,
           "isnan": lambda v: isinstance(v, float) and math.isnan(v)}
    html = out / "report.html"
    md = out / "report.md"
    write_text(html, env.get_template("report.html.j2").render(**ctx))
    write_text(md, env.get_template("report.md.j2").render(**ctx))
    return html, md
