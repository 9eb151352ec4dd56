"""``onepixel evaluate`` and ``onepixel verify``: campaigns on many images, and re-checking a stored one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..campaign.protocol import QUICK_ATTACKS, quick_images
from ..data.datasets import DATASETS
from ..errors import OnepixelError
from ..objectives import Loss
from .app import cli
from .options import check_device, cli_search, duration, resolve_search, search_given, search_options


@cli.command()
@click.option("--model", "-m", required=True, help="Zoo name (allconv, nin, vgg16, resnet20), a model file (.onnx, .tflite, "
              ".pt TorchScript), or a Hugging Face checkpoint (folder or cached hub id).")
@click.option("--preprocess", "preprocess_items", multiple=True, metavar="KEY=VALUE",
              help="Override the model's declared preprocessing, as for onepixel attack (recorded in the run).")
@click.option("--dataset", type=click.Choice(list(DATASETS)),
              default="cifar10", show_default=True,
              help="cifar10, cifar100 (official archive or its folder; --data or cache), or photos in a folder (--data): "
                   "imagenet-sample / photos (labels.csv), imagenet-val (synset folders, or flat val photos with the "
                   "devkit ground truth + meta.mat or LOC_val_solution.csv), folder (any class-folder tree).")
@click.option("--split", default="test", show_default=True,
              help="Split the images are sampled from (CIFAR: test or train).")
@click.option("--n", "n", type=click.IntRange(min=1), default=None,
              help=f"Images to attack, sampled reproducibly from --seed [default: a quick run of minutes on a CPU: "
                   f"about {QUICK_ATTACKS} attacks (6 images with the paper protocol's 9 targeted attacks each, "
                   f"{QUICK_ATTACKS} with one untargeted attack each), 5 photos; the paper used 500].")
@click.option("--pixels", "-k", multiple=True, type=int, default=(1,), show_default=True,
              help="Pixels to change; repeat for several counts: -k 1 -k 3 -k 5 (a campaign attacks every image "
                   "with each count; onepixel attack stops at the first count that fools its image).")
@click.option("--mode", type=click.Choice(["untargeted", "targeted", "both"]), default="both", show_default=True,
              help="Strict protocol: true untargeted attacks, targeted ones toward every other class, or both "
                   "(the paper protocol always runs the targeted ones).")
@click.option("--protocol", type=click.Choice(["paper", "strict"]), default="paper", show_default=True,
              help="paper: random images (misclassified ones included), one targeted attack toward each other "
                   "class, non-targeted success = any of them; strict: correctly classified images only.")
@search_options
@click.option("--batch-images", default=64, show_default=True, help="Attacks run together in one batch (a GPU: 270).")
@click.option("--data", type=click.Path(path_type=Path), default=None, help="Dataset folder [default: ONEPIXEL_DATA, cache, download].")
@click.option("--space", type=click.Choice(["input", "file"]), default="input", show_default=True,
              help="Photo datasets: attack the model input (paper) or the full-resolution photo.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Processes sharing the run (CPU: one per core is fastest; results do not change).")
@click.option("--ray", "ray_address", is_flag=False, flag_value="", default=None, metavar="[ADDRESS]",
              help="Run on Ray actors: join the cluster at ADDRESS (or RAY_ADDRESS), else start a local Ray instance.")
@click.option("--ray-actors", type=click.IntRange(min=1), default=None,
              help="Ray actors [default: as many as the cluster's CPUs (GPUs) hold].")
@click.option("--ray-cpus", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="CPUs (and threads) per Ray actor.")
@click.option("--ray-gpus", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="GPUs per Ray actor (0.5: two actors per GPU); > 0 runs the model on the actor's GPU.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder; re-running resumes.")
@click.pass_context
def evaluate(ctx: click.Context, model: str, preprocess_items: tuple[str, ...], dataset: str, split: str, n: int | None, pixels: tuple[int, ...], mode: str,
             protocol: str, search_name: str, paper: bool, max_queries: int | None, popsize: int | None,
             generations: int | None, sweep: float | None, loss: Loss, seed: int, device: str, batch_images: int, data: Path | None, space: str,
             workers: int, ray_address: str | None, ray_actors: int | None, ray_cpus: float, ray_gpus: float,
             out: Path) -> None:
    """Run the paper's (or the strict) evaluation protocol on many images; every attack is stored at once,
    re-running resumes. Without --n a quick run of minutes on a CPU."""
    from ..campaign import evaluate as run_evaluate
    from ..campaign import summarize
    from ..inputs import check_evaluate_options
    from ..models.metadata import parse_overrides
    from ..report.tables import print_summary

    overrides = parse_overrides(preprocess_items)
    search_name, popsize, generations = resolve_search(search_name, paper, popsize, generations, max_queries,
                                                       search_given(ctx), loss)
    quick = n is None
    n = quick_images(protocol, mode, dataset) if n is None else n
    # refuse bad settings before the header line, so a refused start prints one line only
    check_evaluate_options(n=n, pixels=pixels, mode=mode, protocol=protocol, seed=seed, popsize=popsize,
                           generations=generations, max_queries=max_queries, search=search_name,
                           batch_images=batch_images, space=space, workers=workers, loss=loss)
    search = cli_search(search_name, popsize, generations, max_queries, sweep, pixels)
    click.echo(f"{model}: {protocol} protocol, {n} images{' (a quick run; --n for more)' if quick else ''}, "
               f"{'/'.join(map(str, sorted(set(pixels))))} pixel(s), search {search_name}"
               f"{' (the paper DE)' if paper else ''}{f', loss {loss}' if loss != 'probability' else ''}; "
               f"results go to {out}")
    df = run_evaluate(model, out, dataset=dataset, split=split, n=n, pixels=list(pixels), mode=mode, protocol=protocol,
                      seed=seed, max_queries=max_queries, search=search,
                      loss=loss, batch_images=batch_images, data_path=data, space=space,
                      model_options={"device": device, **({"preprocess": overrides} if overrides else {})},
                      workers=workers, ray=ray_options(ray_address, ray_actors, ray_cpus, ray_gpus))
    print_summary(summarize(df), title=f"{model} — {protocol} protocol, {n} images, search {search_name}")
    print_headline(df)
    click.echo(f"results: {out}/results.sqlite ({len(df)} attacks); report: onepixel report {out}")
    if quick and len(df):
        per_image = float(df["seconds"].sum()) / max(1, df["image"].nunique())
        click.echo(f"This was a quick run of {n} images (the default without --n). To scale up, give --n and a new "
                   f"--out, e.g. --n 100 (about {duration(100 * per_image)} at this run's "
                   f"{per_image:.1f} s per image) or the paper's --n 500 (about {duration(500 * per_image)}); "
                   f"a GPU (--device cuda) is much faster.")


def ray_options(address: str | None, actors: int | None, cpus: float, gpus: float) -> Any:
    """``--ray`` and its settings for ``evaluate`` (None: no Ray; the --ray-* settings alone are refused)."""
    if address is None:
        given = [name for name, value, default in (("--ray-actors", actors, None), ("--ray-cpus", cpus, 1.0),
                                                   ("--ray-gpus", gpus, 0.0)) if value != default]
        if given:
            raise OnepixelError(f"{', '.join(given)} only apply on Ray: add --ray (or drop them)")
        return None
    from ..campaign.ray_backend import RayOptions

    return RayOptions(address=address or None, actors=actors, cpus=cpus, gpus=gpus)


def print_headline(df) -> None:
    """The run's robust accuracy per pixel count, in words (the report's headline)."""
    from ..campaign.metrics import robust_accuracy
    from ..report.tables import headline_sentence

    classes = df.attrs.get("config", {}).get("classes") or []
    for r in robust_accuracy(df, len(classes) or 10):
        click.echo("robust accuracy, " + headline_sentence(r))


@cli.command()
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.option("--model", "-m", default=None, help="The run's model, where it moved [default: as stored; sha256-checked].")
@click.option("--data", type=click.Path(path_type=Path), default=None, help="Dataset folder [default: as stored, ONEPIXEL_DATA, cache].")
@click.option("--device", default="cpu", show_default=True, callback=check_device,
              help="Where the model runs: cpu, cuda or cuda:N.")
@click.option("--jpeg", type=click.IntRange(1, 100), default=None, metavar="QUALITY",
              help="Also save each success as a JPEG at QUALITY (e.g. 95) and count those that still fool the model.")
def verify(run: Path, model: str | None, data: Path | None, device: str, jpeg: int | None) -> None:
    """Re-classify every stored attack here, in reference precision; exit 1 if any verdict differs."""
    from ..campaign import verify_run

    v = verify_run(run, model=model, data_path=data, device=device, jpeg=jpeg)
    click.echo(f"{run}: {v.attacks} attacks; successes stored {v.stored_successes}, here {v.successes_here}; "
               f"{len(v.disagreements)} differ in class or verdict; largest probability difference "
               f"{v.max_prob_diff_successes:.1e} (successes), {v.max_prob_diff_failures:.1e} (failures)")
    if v.jpeg_survivors is not None:
        click.echo(f"JPEG at quality {v.jpeg_quality}: {v.jpeg_survivors} of {v.successes_here} successes still fool "
                   f"the model ({v.jpeg_survivors_correct} of the {v.correct_successes} on images it classified "
                   f"correctly before the attack); the JPEG alone, without the attack, already does so for "
                   f"{v.jpeg_clean_fooled} of the {v.successes_here} clean images")
    if v.unreadable:
        click.echo(f"skipped {len(v.unreadable)} unreadable stored attack(s): "
                   + "; ".join(f"{uid} ({why})" for uid, why in v.unreadable[:5])
                   + (" ..." if len(v.unreadable) > 5 else "") + f" (see: onepixel check {run})")
    for d in v.disagreements:
        click.echo(f"  {d['uid']}: stored class {d['stored_class']} (success {d['stored_success']}), "
                   f"here class {d['class_here']} (success {d['success_here']})")
    v.save(run)  # reports quote the last verification (after printing it: a full disk loses nothing shown)
    if not v.agrees:
        raise SystemExit(1)
