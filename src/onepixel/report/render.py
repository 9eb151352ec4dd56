"""Collect runs, draw their figures and fill the HTML / Markdown templates."""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from ..campaign.metrics import fewest_pixels, summarize
from ..campaign.protocol import attacks_per_image, imagenet_rule
from ..campaign.store import apply_changes, load_results
from ..campaign.verify import verification_line
from . import figures
from .tables import DETAIL_HEADER, detail_rows, fewest_table, markdown_table, paper_layout


@dataclass
class Figure:
    """A figure saved beside report.md and embedded into report.html."""

    file: str
    caption: str
    png: bytes = field(repr=False)

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode()


@dataclass
class RunSection:
    name: str
    folder: str
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    detail_md: str
    detail_rows: list[list[str]]
    figures: list[Figure]
    gallery: list[Figure]
    note: str = ""
    settings: str = ""
    fewest_header: list[str] = field(default_factory=list)
    fewest_rows: list[list[str]] = field(default_factory=list)
    verification: str = ""

    @property
    def fewest_md(self) -> str:
        return markdown_table(self.fewest_header, self.fewest_rows) if self.fewest_rows else ""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def _curves(df, label: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for (k, mode), g in df.groupby(["pixels", "mode"]):
        q = np.sort(g.loc[g["success"], "queries"].to_numpy())
        if len(g) == 0:
            continue
        budgets = np.concatenate([[1], q, [max(1, int(g["queries"].max()))]])
        rate = np.concatenate([[0], np.arange(1, len(q) + 1) / len(g), [len(q) / len(g)]])
        out.append((f"{label}, {k} px, {mode}", budgets, rate))
    return out


def _gallery(df, cfg: dict[str, Any], classes: list[str], n: int, slug: str) -> tuple[list[Figure], str]:
    if n <= 0 or not df["success"].any():
        return [], "" if n <= 0 else "No successful attack to show."
    from ..campaign.evaluate import PHOTO_DATASETS, Dataset, load_dataset

    name, _, split = cfg.get("dataset", "").partition("/")
    try:
        data = load_dataset(name, split or "test", cfg.get("data_path"))
        if name in PHOTO_DATASETS and cfg.get("space") == "input" and cfg.get("input_size"):
            from ..photo import PhotoPreprocess

            pre = PhotoPreprocess.imagenet(tuple(cfg["input_size"]))
            data = Dataset(data.name, np.stack([pre(p) for p in data.images]), data.labels, data.classes)
    except Exception as e:  # the report still has every table without the dataset
        return [], f"Gallery skipped: the dataset could not be loaded ({e})."
    wins = df[df["success"]].sort_values("predicted_prob_after", ascending=False)
    # One example per original class first, so the gallery is varied.
    picked = wins.drop_duplicates("label").head(n)
    if len(picked) < n:
        picked = wins.loc[wins.index.isin(picked.index) | wins.index.isin(wins.index[: n])].head(n)
    out = []
    cname = (lambda k: classes[k] if 0 <= k < len(classes) else str(k)) if classes else str
    for _, r in picked.iterrows():
        orig = np.asarray(data.images[int(r["image"])])
        adv = apply_changes(orig, r["changes"], check=False)
        before = f"{cname(int(r['label']))} ({100 * r['label_prob_before']:.1f} %)"
        after = f"{cname(int(r['predicted_after']))} ({100 * r['predicted_prob_after']:.1f} %)"
        px = ", ".join(f"({c[0]},{c[1]})→{tuple(c[2:2 + (len(c) - 2) // 2])}" for c in r["changes"])
        png = figures.example(orig, adv, "original: " + before, "adversarial: " + after)
        out.append(Figure(f"{slug}-example-{int(r['image'])}-{r['uid'].split(':')[-1]}.png",
                          f"image {int(r['image'])}, {r['pixels']} px {r['mode']}: {before} → {after}; changed {px}", png))
    return out, ""


def _model_name(cfg: dict[str, Any]) -> str:
    """A zoo name as it is, a model file by its file name (the full path is in the settings line)."""
    return Path(str(cfg.get("model", "?"))).name


def _paper_key(cfg: dict[str, Any]) -> str:
    """Which of the paper's results a run sits beside: its net for CIFAR-10, the ImageNet experiment for photos."""
    return "imagenet" if cfg.get("dataset") == "imagenet-sample" else str(cfg.get("model", "")).lower()


def _attack_space(cfg: dict[str, Any]) -> str | None:
    """Which space a photo run attacked ("input" or "file"); None for datasets without the choice."""
    from ..campaign.evaluate import PHOTO_DATASETS

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
        parts.append(f"mode {cfg.get('mode', '?')}")
    search = cfg.get("search", "de")
    if search == "de":
        parts.append(f"DE population {cfg.get('popsize')} × {cfg.get('generations')} generations")
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


def _section(folder: Path, gallery: int) -> RunSection:
    df = load_results(folder)
    cfg = df.attrs["config"]
    classes = cfg.get("classes") or [str(i) for i in range(10)]
    metrics = summarize(df, len(classes))
    # photo runs name their attack space: input- and file-space runs of one model sit side by side
    space = _attack_space(cfg)
    name = f"{_model_name(cfg)} — {cfg.get('protocol', '?')} protocol{f', {space} space' if space else ''} ({folder.name})"
    slug = _slug(folder.name)
    figs = []
    for m in metrics:
        if m["kind"] in ("targeted", "untargeted") and m["pairs"] is not None and np.asarray(m["pairs"]).sum():
            figs.append(Figure(f"{slug}-pairs-{m['pixels']}px-{m['kind']}.png",
                               f"Original → adversarial class of successful {m['kind']} attacks, {m['pixels']} px",
                               figures.pair_heatmap(m["pairs"], classes, f"{cfg.get('model')}: {m['pixels']} px {m['kind']}")))
        if m["kind"] == "non-targeted" and m.get("target_classes_hist"):
            figs.append(Figure(f"{slug}-target-classes-{m['pixels']}px.png",
                               f"Number of target classes reached per image, {m['pixels']} px (mean {m['target_classes_mean']:.2f})",
                               figures.target_class_histogram(m["target_classes_hist"], f"{cfg.get('model')}: {m['pixels']} px")))
    gal, note = _gallery(df, cfg, classes, gallery, slug)
    planned = _planned(cfg, len(classes))
    if planned and len(df) < planned:
        note = (f"Incomplete run: {len(df)} of {planned} attacks finished (the tables count complete images only "
                f"for non-targeted rates). Re-running the same `onepixel evaluate` command resumes it. ") + note
    rows = detail_rows(metrics)
    fewest_header, fewest_rows = fewest_table(fewest_pixels(df, len(classes)))
    return RunSection(name, str(folder), cfg, metrics, markdown_table(DETAIL_HEADER, rows), rows, figs, gal, note,
                      _settings(cfg, len(classes)), fewest_header, fewest_rows, verification_line(folder, len(df)))


def write_report(runs: list[str | Path], out: str | Path, gallery: int = 8) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` (with ``report_files/``) into ``out``; returns both paths."""
    out = Path(out)
    sections = [_section(Path(r), gallery) for r in runs]
    curves = []
    for s, r in zip(sections, runs):
        curves += _curves(load_results(r), s.config.get("model", Path(r).name))
    overview = [Figure("success-vs-queries.png", "Success rate against the per-attack query budget",
                       figures.success_curves(curves, "Success vs queries"))] if curves else []
    header, rows = paper_layout([(s.name, _paper_key(s.config), s.metrics) for s in sections])
    files = out / "report_files"
    files.mkdir(parents=True, exist_ok=True)
    for fig in overview + [f for s in sections for f in s.figures + s.gallery]:
        (files / fig.file).write_bytes(fig.png)
    env = jinja2.Environment(loader=jinja2.PackageLoader("onepixel.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]), keep_trailing_newline=True)
    from .. import __version__

    ctx = {"sections": sections, "overview": overview, "paper_header": header, "paper_rows": rows,
           "paper_md": markdown_table(header, rows), "detail_header": DETAIL_HEADER, "version": __version__,
           "isnan": lambda v: isinstance(v, float) and math.isnan(v)}
    html = out / "report.html"
    md = out / "report.md"
    html.write_text(env.get_template("report.html.j2").render(**ctx))
    md.write_text(env.get_template("report.md.j2").render(**ctx))
    return html, md
