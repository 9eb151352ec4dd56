"""``onepixel demo``: the main jobs in about a minute on a CPU, and the next commands with their expected time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from .app import cli
from .campaign_commands import print_headline
from .options import class_names_of, cli_search, duration

#: an AllConv campaign on one H100 (docs/benchmarks.md): what the demo quotes for "on a GPU"
GPU_QUERIES_PER_S = 228_000


@cli.command()
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=Path("onepixel-demo"),
              show_default=True, help="Folder for the run, the report and the figures.")
@click.option("--model", "-m", default="allconv", show_default=True,
              help="The CIFAR-10 model to attack: a zoo name or a model file taking 32x32 images.")
@click.option("--n", "n", default=20, show_default=True, type=click.IntRange(min=1),
              help="Correctly classified CIFAR-10 test images to attack.")
@click.option("--max-queries", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Queries per attack (the default search's full budget is 4,864 at 1 pixel; the images it fools "
                   "mostly fall within a few hundred).")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="CIFAR-10 folder [default: ONEPIXEL_DATA, the cache, else the official download].")
def demo(out: Path, model: str, n: int, max_queries: int, data: Path | None) -> None:
    """The main jobs in about a minute on a CPU: an untargeted and a targeted one-pixel attack on CIFAR-10
    test images, a report, before/after figures, and the next commands with their expected time."""
    import torch

    from ..api import as_classifier
    from ..assemble import most_queries
    from ..campaign import evaluate as run_evaluate
    from ..campaign import summarize
    from ..campaign.rows import apply_changes
    from ..data import CIFAR10_CLASSES, load_cifar10
    from ..report import write_report
    from ..report.tables import print_summary

    # One thread: the demo's batches are small (a second thread gains little), and a thread pool stalls at every
    # barrier when the other core is busy (on a loaded 2-core machine two threads ran ~10x slower than one).
    torch.set_num_threads(1)
    x, y = load_cifar10("test", data)
    clf = as_classifier(model)
    names = class_names_of(clf) or list(CIFAR10_CLASSES)
    click.echo(f"onepixel demo: {model} on {n} correctly classified CIFAR-10 test images, 1 pixel, the default "
               f"search (rs), at most {max_queries:,} queries per attack.\n")
    click.echo("1. Untargeted: change one pixel so that the model no longer answers the true class.")
    run_dir = out / "run"
    df = run_evaluate(model, run_dir, n=n, pixels=[1], mode="untargeted", protocol="strict", search="rs",
                      max_queries=max_queries, data_path=data)
    print_summary(summarize(df), title=f"{model}, 1 pixel, untargeted, {n} images")
    print_headline(df)
    fooled = df[df["success"]].sort_values("queries")
    queries, seconds = int(df["queries"].sum()), float(df["seconds"].sum())
    if fooled.empty:
        click.echo(f"No image fell within {max_queries:,} queries; try --max-queries 4864 or --n 40.")
    else:
        row = fooled.iloc[0]
        adv = apply_changes(x[int(row["image"])], row["changes"])
        demo_example(clf, names, out / "untargeted", x[int(row["image"])], adv, int(row["image"]),
                      int(row["label"]), int(row["predicted_after"]), float(row["predicted_prob_after"]),
                      first_success(row["first_success_query"], row["queries"]), int(row["queries"]), None)

        q, t = targeted_step(clf, names, x, fooled, max_queries, out)
        queries, seconds = queries + q, seconds + t

    html, _ = write_report([run_dir], out, gallery=8)
    click.echo(f"\n3. Report: {html}")
    rate = queries / max(seconds, 1e-9)
    rs = cli_search("rs", None, None, None)
    print_next(rate, most_queries(rs, 1, x.shape[1:]), most_queries(rs, 1, (224, 224, 3)), model)


def targeted_step(clf: Any, names: list[str], x: np.ndarray, fooled: Any, max_queries: int, out: Path) -> tuple[int, float]:
    """The demo's targeted attacks: the first images the untargeted attack fooled, each toward the class it fell
    to (reachable in one pixel); says what it tried and shows a success, on another image than the untargeted
    example (the first of ``fooled``) where one fell. Returns the queries and the seconds spent."""
    from ..api import attack as run_attack

    click.echo("\n2. Targeted: make the model answer a class we choose. Most (image, target) pairs are out of "
               "one pixel's reach,\n   so the demo picks reachable ones: each image the untargeted attack "
               "fooled, toward the class it fell to.")
    pick = fooled.iloc[:4]
    imgs, labels = pick["image"].to_numpy(), pick["label"].to_numpy()
    targets = pick["predicted_after"].to_numpy()
    res = run_attack(clf, x[imgs], labels, targets=targets, max_queries=max_queries, stop_on_success=True)
    hits = [j for j, r in enumerate(res) if r.success]
    hit = next((j for j in hits if j > 0), hits[0] if hits else None)  # the same picture twice shows less
    tried = ", ".join(f"#{i} {names[lab]} -> {names[t]} " + (
        f"fooled at query {first_success(r.first_success_query, r.queries):,}" if r.success else
        f"failed ({r.queries:,} queries)") for i, lab, t, r in zip(imgs, labels, targets, res))
    click.echo(f"   tried {tried}")
    if hit is None:
        click.echo(f"   none succeeded within {max_queries:,} queries; try --max-queries 4864.")
    else:
        r = res[hit]
        demo_example(clf, names, out / "targeted", x[imgs[hit]], r.adversarial, int(imgs[hit]), r.label,
                     r.predicted_after, r.predicted_prob_after, first_success(r.first_success_query, r.queries),
                     r.queries, r.target)
    return sum(r.queries for r in res), max(r.seconds for r in res)


def first_success(query: Any, queries: Any) -> int:
    """The query at which an attack first fooled the model (a run stored before that was recorded: where it
    stopped, an upper bound)."""
    return int(queries) if query is None or query != query else int(query)  # None or NaN: not recorded


def demo_example(clf: Any, names: list[str], stem: Path, image: np.ndarray, adv: np.ndarray, index: int, label: int,
                  after: int, p_after: float, fooled_at: int, queries: int, target: int | None) -> None:
    """Say what one attack did (the query that first fooled the model, and where the search stopped: it
    finishes its round) and write its adversarial PNG and before/after figure (``stem``-adversarial.png,
    ``stem``-figure.png)."""
    from ..figure import before_after, changed_pixels
    from ..imageio import write_png

    before = clf.probs(image[None])[0]
    (px, py), = changed_pixels(image, adv)[:1] or [(0, 0)]
    goal = f"target {names[target]}: " if target is not None else ""
    stopped = f" (the search stopped at {queries:,})" if queries != fooled_at else ""
    article = "an" if names[label][:1].lower() in "aeiou" else "a"
    click.echo(f"   test image #{index}, {article} {names[label]} (p={before[label]:.2f}): {goal}now {names[after]} "
               f"(p={p_after:.2f}), fooled at query {fooled_at:,}{stopped}, pixel x={px} y={py} changed from "
               f"{tuple(int(v) for v in image[py, px])} to {tuple(int(v) for v in adv[py, px])}")
    write_png(stem.with_name(stem.name + "-adversarial.png"), adv)
    fig = before_after(image, adv, stem.with_name(stem.name + "-figure.png"), titles=(
        f"before: {names[label]} p={before[label]:.2f}",
        f"after: {names[after]} p={p_after:.2f}{' (the target)' if target is not None else ''}"))
    click.echo(f"   wrote {fig} and {stem.name}-adversarial.png")


def print_next(rate: float, cifar_budget: int, photo_budget: int, model: str) -> None:
    """The next commands with their time: the most queries each can spend over the rate just measured (an
    upper bound: attacks that succeed stop early)."""
    paper = 500 * 9 * 3 * 40_400  # 500 images x 9 targets x 1/3/5 pixels x the paper's DE budget
    strict = 100 * cifar_budget
    click.echo(f"\nNext steps. Times are upper bounds (every attack spending its whole budget) at the "
               f"{rate:,.0f} queries/s this demo just measured here:")
    click.echo(f"- the paper's protocol and DE, 500 images, 1/3/5 pixels (13,500 attacks, up to {paper / 1e6:,.0f} M "
               f"queries): {duration(paper / rate)} here; on a GPU about {duration(paper / GPU_QUERIES_PER_S)} "
               f"(~{GPU_QUERIES_PER_S:,} queries/s on one H100, docs/benchmarks.md):\n"
               f"    onepixel evaluate --model {model} --n 500 -k 1 -k 3 -k 5 --protocol paper --paper --device cuda "
               f"--batch-images 270 --out runs/paper-{Path(model).stem}")
    click.echo(f"- a strict campaign: 100 correctly classified images, untargeted, the default search (up to "
               f"{strict:,} queries): {duration(strict / rate)} here:\n"
               f"    onepixel evaluate --model {model} --n 100 --protocol strict --mode untargeted "
               f"--out runs/strict-{Path(model).stem}")
    click.echo(f"- your own model on your own photo (one attack, up to {photo_budget:,} queries): "
               f"{duration(photo_budget / rate)} here for a model as fast as this one (a larger model: longer, in "
               f"proportion to its forward pass):\n"
               f"    onepixel attack photo.jpg --model my_model.onnx --labels imagenet")
