"""The ``onepixel`` command line: parse, call the API, print. User errors become one-line messages."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import OnepixelError
from .inputs import check_class, check_max_queries, check_outputs, check_seed, closest
from .objectives import LOSSES


def _class_name(clf, k: int | None) -> str:
    names = getattr(clf, "class_names", None)
    if k is None:
        return "-"
    return f"{k} ({names[k]})" if names and 0 <= k < len(names) else str(k)


def _parse_class(clf, value: str | None, what: str) -> int | None:
    if value is None:
        return None
    names = [n.lower() for n in (getattr(clf, "class_names", None) or [])]
    if value.lower() in names:
        return names.index(value.lower())
    try:
        index = int(value)
    except ValueError:
        hint = closest(value, names) if names else ""
        raise OnepixelError(f"{what} {value!r} is neither a class index nor a class name{hint}") from None
    return check_class(index, getattr(clf, "num_classes", None) or (len(names) or None), what)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="onepixel")
def cli() -> None:
    """Few-pixel black-box adversarial attacks on image classifiers (Su, Vargas & Sakurai's one-pixel attack)."""


@cli.command()
@click.argument("image", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", "-m", required=True, help="Zoo name (allconv, nin, vgg16, resnet20), a model file (.onnx, .tflite, "
              ".pt TorchScript), or a Hugging Face checkpoint: a folder or a hub id in the local cache.")
@click.option("--labels", "labels_spec", default=None, help="Class names: 'imagenet' or a file with one name per line "
              "(replaces the model's own, e.g. a checkpoint's id2label).")
@click.option("--preprocess", "preprocess_items", multiple=True, metavar="KEY=VALUE",
              help="Override the model's declared preprocessing (Hugging Face, TorchScript): size=224, resize=256 "
                   "(shorter side before the centre crop; none: warp without crop), crop=0.875, "
                   "interpolation=bicubic, scale=1/255, mean=0.5,0.5,0.5, std=0.5,0.5,0.5. Repeat for several.")
@click.option("--explain", is_flag=True, help="Print how the model reads pixels (input size, preprocessing, class "
              "names and where each came from) and stop without attacking.")
@click.option("--space", type=click.Choice(["input", "file"]), default="input", show_default=True,
              help="input: change pixels of the cropped/resized model input (the paper); file: change pixels of the "
                   "full-resolution photo, the resize being part of the black box.")
@click.option("--pixels", "-k", multiple=True, type=int, default=(1,), show_default=True,
              help="Pixels to change. Repeat to find the fewest that fool the model (-k 1 -k 2 -k 3 -k 5: "
                   "each count is tried, smallest first, until one succeeds).")
@click.option("--target", "-t", default=None, help="Target class (index or name); untargeted if omitted.")
@click.option("--label", default=None, help="True class (index or name); default: the model's prediction on the clean image.")
@click.option("--seed", default=0, show_default=True)
@click.option("--popsize", default=400, show_default=True, help="DE population (paper: 400).")
@click.option("--generations", default=100, show_default=True, help="DE generations (paper: 100).")
@click.option("--search", "search_name", type=click.Choice(["de", "rs", "corner", "cma"]), default=None,
              help="Search: de (differential evolution), rs (Sparse-RS-style random search), corner (CornerSearch "
                   "scan), cma (CMA-ES); rs/corner/cma plan for --max-queries, else 10,000 [default: rs, or de when "
                   "--popsize/--generations differ from the paper's].")
@click.option("--paper", is_flag=True, help="DE with the paper's settings: population 400, 100 generations, rand/1, F = 0.5.")
@click.option("--max-queries", type=int, default=None, help="Cap on model queries.")
@click.option("--loss", type=click.Choice(LOSSES), default="probability", show_default=True,
              help="What the search minimises: the paper's class probability, or the margin to the strongest rival "
                   "class (helps targeted attacks where the target's probability is flat).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the adversarial PNG [default: IMAGE-adv.png beside the input].")
@click.option("--figure", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Before/after figure PNG [default: OUT with -figure.png]; 'none' to skip.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def attack(image: Path, model: str, labels_spec: str | None, preprocess_items: tuple[str, ...], explain: bool, space: str, pixels: tuple[int, ...], target: str | None,
           label: str | None, seed: int, popsize: int, generations: int, search_name: str | None, paper: bool,
           max_queries: int | None, loss: str, device: str, out: Path | None, figure: Path | None,
           as_json: bool) -> None:
    """Attack one IMAGE file (any size: photos are centre-cropped and resized to the model's input) and write
    the adversarial PNG plus a before/after figure."""
    from .api import as_classifier, default_search
    from .data.labels import resolve_labels
    from .figure import before_after
    from .imageio import read_image, write_png
    from .spaces import attack_photo

    if paper and search_name not in (None, "de"):
        raise OnepixelError(f"--paper means DE with the paper's settings; drop --search {search_name} or use --search de")
    if paper and loss != "probability":
        raise OnepixelError("--paper means the paper's fitness (class probability); drop --loss margin or --paper")
    if paper and max_queries is not None:
        raise OnepixelError(f"--paper means the paper's DE with no query cap; drop --max-queries {max_queries} or --paper")
    check_seed(seed, "--seed")
    check_max_queries(max_queries, "--max-queries")
    from .models.metadata import describe_model, explain_lines, parse_overrides

    overrides = parse_overrides(preprocess_items)
    clf = as_classifier(model, device=device, **({"preprocess": overrides} if overrides else {}))
    if labels_spec is not None:
        clf.class_names = list(resolve_labels(labels_spec, clf.num_classes))
        clf.class_names_source = f"--labels {labels_spec}"  # type: ignore[attr-defined]
    if explain:
        click.echo("\n".join(explain_lines(clf)))
        return
    if out is not None and out.suffix.lower() != ".png":  # checked before the attack spends its queries
        raise OnepixelError(f"--out {out} must be a .png file (the adversarial image is saved losslessly as PNG)")
    out = out or image.with_name(image.stem + "-adv.png")
    skip_figure = figure is not None and str(figure).lower() == "none"
    figure = None if skip_figure else figure or out.with_name(out.stem + "-figure.png")
    # before any work: never overwrite an input, and find an unwritable output before the attack, not after
    check_outputs({"--out": out, "--figure": figure}, [image, Path(model), labels_spec and Path(labels_spec)])
    photo = read_image(image)
    if clf.num_classes is None and (label or target) and space == "input" and clf.input_size is None:
        clf.probs(photo[None])  # a model that takes the photo as it is: one call tells its classes, to check them
    lab = _parse_class(clf, label, "label")
    tgt = _parse_class(clf, target, "target")
    if paper:
        popsize, generations, search_name = 400, 100, "de"
    chosen: dict[str, Any] = {"loss": loss} | ({} if search_name is None else {"search": search_name})
    counts = sorted(set(pixels))  # a count < 1 is refused by the first attack, before any query
    tried = []  # (pixels, queries, success) per count, smallest first, until one fools the model
    for k in counts:
        pa = attack_photo(clf, photo, lab, space=space, target=tgt, pixels=k, seed=seed, popsize=popsize,
                          generations=generations, max_queries=max_queries, progress=not as_json, **chosen)
        tried.append((k, pa.result.queries, pa.result.success))
        if pa.result.success:
            break
    res, img, clean = pa.result, pa.original, pa.probs_before
    lab = res.label
    write_png(out, res.adversarial)
    if figure is not None:
        before_after(img, res.adversarial, figure, titles=(
            f"before: {_class_name(clf, res.predicted_before)} p={clean.max():.3f}",
            f"after: {_class_name(clf, res.predicted_after)} p={res.predicted_prob_after:.3f}"))
    if as_json:
        sweep = {"fewest_pixels": tried[-1][0] if tried[-1][2] else None,
                 "sweep": [{"pixels": k, "queries": q, "success": ok} for k, q, ok in tried]} if len(counts) > 1 else {}
        click.echo(json.dumps({**pa.to_dict(), "image": str(image), "adversarial_png": str(out),
                               "figure": str(figure) if figure else None, **sweep, "model": describe_model(clf)},
                              indent=1))
        return
    for when, top in (("before", pa.top(5)), ("after", pa.top(5, after=True))):
        click.echo(f"top-5 {when}: " + ", ".join(f"{_class_name(clf, k)} {p:.3f}" for k, p in top))
    click.echo(f"before: {_class_name(clf, int(clean.argmax()))} p={clean.max():.3f}  (true: {_class_name(clf, lab)} p={res.label_prob_before:.3f})")
    click.echo(f"after:  {_class_name(clf, res.predicted_after)} p={res.predicted_prob_after:.3f}  (true: p={res.label_prob_after:.3f})")
    verdict = "SUCCESS" if res.success else "failed"
    goal = f"target {_class_name(clf, tgt)}" if tgt is not None else "untargeted"
    de = (search_name or default_search(popsize, generations)) == "de"
    rounds = f"{res.generations} generations" if de else f"{res.generations} rounds"
    # DE stops at the paper's thresholds, often long after the first success: say both
    when = (f": fooled after {res.first_success_query:,} queries (stopped at {res.queries:,})"
            if res.success and res.first_success_query is not None else f" after {res.queries:,} queries")
    click.echo(f"{verdict} ({goal}){when}, {rounds}, {res.seconds:.1f} s")
    for p in res.pixels:
        click.echo(f"  pixel x={p[0]} y={p[1]} -> {tuple(p[2:])}  (was {tuple(int(v) for v in img[p[1], p[0]])})")
    changed = f"{space} space, {img.shape[1]}x{img.shape[0]}: {pa.changed_pixels()} pixel(s) changed"
    if res.success:  # whether a failed attack "survives" JPEG says nothing
        survive = "survives" if pa.jpeg_survives else "does not survive"
        changed += (f"; the attack {survive} a JPEG re-encode at quality {pa.jpeg_quality} "
                    f"(then {_class_name(clf, pa.jpeg_predicted)})")
    click.echo(changed)
    if len(counts) > 1:
        steps = ", ".join(f"{k} px {'fooled it' if ok else 'failed'} ({q:,} queries)" for k, q, ok in tried)
        fewest = f"fewest pixels that fool it: {tried[-1][0]}" if tried[-1][2] else \
            f"no count up to {counts[-1]} pixels fooled it"
        click.echo(f"{fewest} — {steps}")
    click.echo(f"wrote {out}" + (f" and {figure}" if figure else ""))


@cli.command()
@click.option("--model", "-m", required=True, help="Zoo name, model file, or Hugging Face checkpoint (folder or cached hub id).")
@click.option("--preprocess", "preprocess_items", multiple=True, metavar="KEY=VALUE",
              help="Override the model's declared preprocessing, as for onepixel attack (recorded in the run).")
@click.option("--dataset", type=click.Choice(["cifar10", "cifar100", "imagenet-sample", "photos", "imagenet-val", "folder"]),
              default="cifar10", show_default=True,
              help="cifar10, cifar100 (official archive or its folder; --data or cache), or photos in a folder (--data): "
                   "imagenet-sample / photos (labels.csv), imagenet-val (synset folders, or flat val photos with the "
                   "devkit ground truth + meta.mat or LOC_val_solution.csv), folder (any class-folder tree).")
@click.option("--split", default="test", show_default=True)
@click.option("--n", "n", default=500, show_default=True, help="Images to sample (reproducibly from --seed).")
@click.option("--pixels", "-k", multiple=True, type=int, default=(1,), show_default=True, help="Pixel counts; repeat: -k 1 -k 3 -k 5.")
@click.option("--mode", type=click.Choice(["untargeted", "targeted", "both"]), default="both", show_default=True)
@click.option("--protocol", type=click.Choice(["paper", "strict"]), default="paper", show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--popsize", default=400, show_default=True, help="DE population (paper: 400).")
@click.option("--generations", default=100, show_default=True, help="DE generations (paper: 100).")
@click.option("--max-queries", type=int, default=None, help="Per-attack cap on queries.")
@click.option("--search", "search_name", type=click.Choice(["de", "rs", "corner", "cma", "oracle"]), default="de",
              show_default=True, help="Search strategy; de with the defaults is the paper's.")
@click.option("--paper", is_flag=True, help="Insist on the paper's DE (population 400, 100 generations, rand/1, "
                                             "F = 0.5, no query cap): refuses any option that changes it.")
@click.option("--batch-images", default=64, show_default=True, help="Attacks run together in one batch.")
@click.option("--device", default="cpu", show_default=True)
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
def evaluate(model: str, preprocess_items: tuple[str, ...], dataset: str, split: str, n: int, pixels: tuple[int, ...], mode: str, protocol: str, seed: int,
             popsize: int, generations: int, max_queries: int | None, search_name: str, paper: bool, batch_images: int,
             device: str, data: Path | None, space: str, workers: int, ray_address: str | None,
             ray_actors: int | None, ray_cpus: float, ray_gpus: float, out: Path) -> None:
    """Run the paper's (or the strict) evaluation protocol; every attack is stored at once, re-running resumes."""
    from .campaign import evaluate as run_evaluate
    from .campaign import summarize
    from .models.metadata import parse_overrides
    from .report.tables import print_summary

    overrides = parse_overrides(preprocess_items)

    if paper:
        changed = [f"--{name} {value}" for name, value, default in (
            ("search", search_name, "de"), ("popsize", popsize, 400), ("generations", generations, 100),
            ("max-queries", max_queries, None)) if value != default]
        if changed:
            raise OnepixelError(f"--paper means the paper's DE; drop {', '.join(changed)}")

    df = run_evaluate(model, out, dataset=dataset, split=split, n=n, pixels=list(pixels), mode=mode, protocol=protocol,
                      seed=seed, popsize=popsize, generations=generations, max_queries=max_queries,
                      search=search_name, batch_images=batch_images, data_path=data, space=space,
                      model_options={"device": device, **({"preprocess": overrides} if overrides else {})},
                      workers=workers, ray=_ray_options(ray_address, ray_actors, ray_cpus, ray_gpus))
    print_summary(summarize(df), title=f"{model} — {protocol} protocol, {n} images")
    _print_headline(df)
    click.echo(f"results: {out}/results.sqlite ({len(df)} attacks); report: onepixel report {out}")


def _ray_options(address: str | None, actors: int | None, cpus: float, gpus: float) -> Any:
    """``--ray`` and its settings for ``evaluate`` (None: no Ray; the --ray-* settings alone are refused)."""
    if address is None:
        given = [name for name, value, default in (("--ray-actors", actors, None), ("--ray-cpus", cpus, 1.0),
                                                   ("--ray-gpus", gpus, 0.0)) if value != default]
        if given:
            raise OnepixelError(f"{', '.join(given)} only apply on Ray: add --ray (or drop them)")
        return None
    from .campaign.ray_backend import RayOptions

    return RayOptions(address=address or None, actors=actors, cpus=cpus, gpus=gpus)


def _print_headline(df) -> None:
    """The run's robust accuracy per pixel count, in words (the report's headline)."""
    from .campaign.metrics import robust_accuracy
    from .report.tables import headline_sentence

    classes = df.attrs.get("config", {}).get("classes") or []
    for r in robust_accuracy(df, len(classes) or 10):
        click.echo("robust accuracy, " + headline_sentence(r))


@cli.command()
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.option("--model", "-m", default=None, help="The run's model, where it moved [default: as stored; sha256-checked].")
@click.option("--data", type=click.Path(path_type=Path), default=None, help="Dataset folder [default: as stored, ONEPIXEL_DATA, cache].")
@click.option("--device", default="cpu", show_default=True)
@click.option("--jpeg", type=click.IntRange(1, 100), default=None, metavar="QUALITY",
              help="Also save each success as a JPEG at QUALITY (e.g. 95) and count those that still fool the model.")
def verify(run: Path, model: str | None, data: Path | None, device: str, jpeg: int | None) -> None:
    """Re-classify every stored attack here, in reference precision; exit 1 if any verdict differs."""
    from .campaign import verify_run

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


@cli.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Report folder [default: the first run folder].")
@click.option("--gallery", default=8, show_default=True, help="Adversarial examples shown per run.")
@click.option("--embed", is_flag=True, help="Put the figures into report.html (one file to send) instead of linking "
                                            "the PNG files in report_files/.")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="Where the runs' images are here, for runs whose stored data folder is elsewhere (the gallery).")
def report(runs: tuple[Path, ...], out: Path | None, gallery: int, embed: bool, data: Path | None) -> None:
    """Write report.html and report.md for one or more run folders, with every figure (PNG, SVG, PDF) and table
    (CSV, LaTeX) in report_files/."""
    from .campaign.store import check_run
    from .inputs import check_writable_folder
    from .report import write_report

    check_writable_folder(out or runs[0], "--out" if out else "the report folder (first run; or give --out)")
    html, md = write_report(list(runs), out or runs[0], gallery=gallery, embed=embed, data_path=data)
    for r in runs:
        bad = check_run(r)
        if bad:
            click.echo(f"{r}: skipped {len(bad)} unreadable stored attack(s), e.g. {bad[0][0]} ({bad[0][1]}); "
                       f"see: onepixel check {r}")
    click.echo(f"wrote {html}\nwrote {md}\nfigures (PNG, SVG, PDF) and tables (CSV, LaTeX): {html.parent / 'report_files'}")


@cli.command()
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.option("--repair", is_flag=True, help="Move the unreadable attacks out of the store (into a backup copy "
                                             "beside it) so that re-running evaluate attacks them again.")
def check(run: Path, repair: bool) -> None:
    """Check a run folder's store: list the stored attacks that cannot be read; exit 1 if there are any."""
    from .campaign.store import check_run, repair_run

    bad = check_run(run)
    if not bad:
        click.echo(f"{run}: every stored attack is readable")
        return
    for uid, why in bad:
        click.echo(f"  {uid}: {why}")
    if repair:
        backup = repair_run(run, [uid for uid, _ in bad])
        click.echo(f"{run}: removed {len(bad)} unreadable attack(s) (a copy of the store before is {backup}); "
                   "re-run the same `onepixel evaluate` command to attack them again")
        return
    click.echo(f"{run}: {len(bad)} unreadable stored attack(s); `onepixel check {run} --repair` sets them aside")
    raise SystemExit(1)


@cli.command()
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=Path("onepixel-demo"), show_default=True)
@click.option("--n", "n", default=20, show_default=True, help="Test images to attack.")
@click.option("--generations", default=15, show_default=True, help="DE generations (paper: 100); 15 keeps the demo near two minutes on 2 CPU cores.")
@click.option("--data", type=click.Path(path_type=Path), default=None, help="CIFAR-10 folder [default: ONEPIXEL_DATA, cache, download].")
def demo(out: Path, n: int, generations: int, data: Path | None) -> None:
    """The main job in one command: attack CIFAR-10 test images with the shipped AllConv and write a report."""
    from . import zoo
    from .api import attack as run_attack
    from .campaign import evaluate as run_evaluate
    from .campaign import summarize
    from .data import load_cifar10
    from .imageio import write_png
    from .report import write_report
    from .report.tables import print_summary

    x, y = load_cifar10("test", data)  # cache, ONEPIXEL_DATA or the official download
    click.echo(f"CIFAR-10 test set: {len(x):,} images. Attacking {n} correctly classified ones with AllConv "
               f"(1 pixel, untargeted, DE population 400 x {generations} generations)...")
    run_dir = out / "run"
    df = run_evaluate("allconv", run_dir, n=n, pixels=[1], mode="untargeted", protocol="strict",
                      generations=generations, data_path=data)
    print_summary(summarize(df), title=f"AllConv, 1 pixel, strict protocol, {n} images")
    _print_headline(df)
    clf = zoo.load("allconv")
    img, lab = x[int(df["image"].iloc[0])], int(df["label"].iloc[0])
    target = (lab + 1) % 10
    res = run_attack(clf, img, lab, targets=target, generations=generations, seed=0)[0]
    names = clf.class_names or [str(c) for c in range(10)]
    verdict = "succeeded" if res.success else "did not succeed within this budget"
    click.echo(f"targeted example: {names[lab]} -> {names[target]} {verdict}: now {names[res.predicted_after]} "
               f"({res.predicted_prob_after:.1%}), pixel {res.pixels[0]}, {res.queries:,} queries")
    write_png(out / "targeted-original.png", img)
    write_png(out / "targeted-adversarial.png", res.adversarial)
    html, _ = write_report([run_dir], out, gallery=8)
    click.echo(f"report: {html.resolve()}")
    click.echo("full paper protocol (500 images, all targets, paper budget; hours on a CPU, minutes on a GPU):\n"
               "  onepixel evaluate --model allconv --n 500 -k 1 -k 3 -k 5 --protocol paper --out runs/paper-allconv")


@cli.command()
def models() -> None:
    """List the shipped zoo models and their measured CIFAR-10 test accuracy."""
    from rich.console import Console
    from rich.table import Table

    from . import zoo

    table = Table(title="onepixel zoo (CIFAR-10, 32x32)")
    for col in ("name", "architecture", "params", "test accuracy", "paper's net", "sha256"):
        table.add_column(col, justify="right" if col in ("params", "test accuracy", "paper's net") else "left")
    for e in zoo.entries().values():
        paper = f"{e.paper_accuracy:.1%}" if e.paper_accuracy else "-"
        table.add_row(e.name, e.arch, f"{e.params / 1e6:.2f} M", f"{e.test_accuracy:.2%}", paper, e.sha256[:12])
    Console().print(table)


@cli.command()
@click.argument("model", type=click.Choice(["allconv", "nin", "vgg16", "resnet20"]))
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run folder (checkpoints, log.json, weights) [default: runs/train-MODEL]. Re-running resumes.")
@click.option("--epochs", default=60, show_default=True)
@click.option("--batch-size", default=256, show_default=True)
@click.option("--lr", default=None, type=float, help="Peak learning rate [default: 0.2, VGG16 0.1].")
@click.option("--seed", default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--data", type=click.Path(path_type=Path), default=None, help="CIFAR-10 folder [default: ONEPIXEL_DATA, cache, download].")
def train(model: str, out: Path | None, epochs: int, batch_size: int, lr: float | None, seed: int, device: str, data: Path | None) -> None:
    """Train a zoo architecture on CIFAR-10 (resumable; see docs/guide/zoo.md for the recipe)."""
    from .data import load_cifar10
    from .zoo.train import TrainConfig
    from .zoo.train import train as run_train

    out = out or Path("runs") / f"train-{model}"
    cfg = TrainConfig(arch=model, epochs=epochs, batch_size=batch_size, seed=seed, device=device,
                      lr=lr if lr is not None else (0.1 if model == "vgg16" else 0.2))
    tr, te = load_cifar10("train", data), load_cifar10("test", data)
    log = run_train(cfg, tr, te, out, progress=True, verbose=True)
    last = log["epochs"][-1]
    click.echo(f"{model}: test accuracy {last.get('test_acc', float('nan')):.2%} after {len(log['epochs'])} epochs; "
               f"weights: {out / (model + '.safetensors')}")


def _show_note(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """onepixel's notes about the input (what was dropped from an image) as one line, other warnings as usual."""
    from .imageio import DroppedWarning

    if issubclass(category, DroppedWarning):
        click.echo(f"note: {message}", err=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the CLI and turns user errors into one line on stderr (exit 2), no traceback."""
    warnings.showwarning = _show_note
    try:
        cli.main(args=argv, prog_name="onepixel", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.UsageError as e:  # one line, like every other user error
        hint = f" (see: onepixel {e.ctx.info_name} --help)" if e.ctx is not None and e.ctx.info_name != "onepixel" else ""
        click.echo(f"error: {e.format_message()}{hint}", err=True)
        return 2
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except (OnepixelError, OSError) as e:
        msg = str(e) if isinstance(e, OnepixelError) else f"{e.strerror or e}: {e.filename}" if getattr(e, "filename", None) else str(e)
        click.echo(f"error: {msg}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except SystemExit as e:  # a command's own verdict (verify, check: exit 1)
        return e.code if isinstance(e.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
