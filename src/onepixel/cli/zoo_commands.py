"""``onepixel models`` and ``onepixel train``: the shipped CIFAR-10 nets and how they are trained."""

from __future__ import annotations

from pathlib import Path

import click

from .app import cli
from .options import check_device


@cli.command()
def models() -> None:
    """List the shipped zoo models and their measured CIFAR-10 test accuracy."""
    from rich.table import Table

    from .. import zoo
    from ..report.tables import console

    table = Table(title="onepixel zoo (CIFAR-10, 32x32)")
    paper_col = "the paper's net: test accuracy"  # the paper's own copy of the architecture, for comparison
    for col in ("name", "architecture", "params", "test accuracy", paper_col, "sha256"):
        table.add_column(col, justify="right" if col in ("params", "test accuracy", paper_col) else "left")
    for e in zoo.entries().values():
        paper = f"{e.paper_accuracy:.1%}" if e.paper_accuracy else "-"
        table.add_row(e.name, e.arch, f"{e.params / 1e6:.2f} M", f"{e.test_accuracy:.2%}", paper, e.sha256[:12])
    console(table).print(table)


@cli.command()
@click.argument("model", type=click.Choice(["allconv", "nin", "vgg16", "resnet20"]))
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run folder (checkpoints, log.json, weights) [default: runs/train-MODEL]. Re-running resumes.")
@click.option("--epochs", default=60, show_default=True, type=click.IntRange(min=1),
              help="Passes over the 50,000 training images.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1), help="Training images per step.")
@click.option("--lr", default=None, type=click.FloatRange(min=0, min_open=True),
              help="Peak learning rate [default: 0.2, VGG16 0.1].")
@click.option("--seed", default=0, show_default=True, help="Random seed of the initial weights and the data order.")
@click.option("--device", default="cpu", show_default=True, callback=check_device,
              help="Where to train: cpu, cuda or cuda:N.")
@click.option("--data", type=click.Path(path_type=Path), default=None, help="CIFAR-10 folder [default: ONEPIXEL_DATA, cache, download].")
def train(model: str, out: Path | None, epochs: int, batch_size: int, lr: float | None, seed: int, device: str, data: Path | None) -> None:
    """Train a zoo architecture on CIFAR-10 (resumable; see docs/guide/zoo.md for the recipe)."""
    from ..data import load_cifar10
    from ..zoo.train import TrainConfig
    from ..zoo.train import train as run_train

    out = out or Path("runs") / f"train-{model}"
    cfg = TrainConfig(arch=model, epochs=epochs, batch_size=batch_size, seed=seed, device=device,
                      lr=lr if lr is not None else (0.1 if model == "vgg16" else 0.2))
    tr, te = load_cifar10("train", data), load_cifar10("test", data)
    log = run_train(cfg, tr, te, out, progress=True, verbose=True)
    last = log["epochs"][-1]
    click.echo(f"{model}: test accuracy {last.get('test_acc', float('nan')):.2%} after {len(log['epochs'])} epochs; "
               f"weights: {out / (model + '.safetensors')}")
