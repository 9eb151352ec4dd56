"""The ``onepixel`` command line: parse, call the API, print. User errors become one-line messages."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

import click
import numpy as np

from . import __version__
from .errors import OnepixelError
from .inputs import check_class, check_max_queries, check_outputs, check_seed, closest
from .objectives import LOSSES, Loss


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


#: the searches the CLI offers, with what each is; rs is the default of every command
SEARCHES = {
    "rs": "Sparse-RS-style random search (the default: the most successes per query)",
    "de": "differential evolution (the paper's search)",
    "corner": "CornerSearch scan",
    "cma": "CMA-ES",
    "oracle": "exhaustive scan of every one-pixel corner change (1 pixel only)",
}


class _Group(click.Group):
    """Lists each command with its whole first sentence (click cuts it at ~45 characters)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, cmd.get_short_help_str(limit=10_000)) for name in self.list_commands(ctx)
                if (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def search_options(f: Any) -> Any:
    """The search options ``attack`` and ``evaluate`` share: the same names, defaults and meanings."""
    options = [
        click.option("--search", "search_name", type=click.Choice(list(SEARCHES)), default="rs", show_default=True,
                     help="How candidate changes are searched: " + "; ".join(f"{k}: {v}" for k, v in SEARCHES.items())
                          + "."),
        click.option("--paper", is_flag=True,
                     help="The paper's attack: --search de with population 400, 100 generations, rand/1, F = 0.5 "
                          "and no query cap; refuses any option that changes it."),
        click.option("--max-queries", type=click.IntRange(min=1), default=None,
                     help="Cap on search queries per attack [default: the search's own budget: rs 10,000 (4,864 "
                          "for 1 pixel on 32x32: half the corner colours, 256 more at the best spots, 512 finer "
                          "ones), de "
                          "population x (generations + 1) = 40,400]."),
        click.option("--popsize", type=int, default=None,
                     help="[DE only: with --search de] population per image [default: 400, the paper's]."),
        click.option("--generations", type=int, default=None,
                     help="[DE only: with --search de] generations after the first population [default: 100, the "
                          "paper's]."),
        click.option("--loss", type=click.Choice(LOSSES), default="probability", show_default=True,
                     help="What the search minimises: the paper's class probability, or the margin to the strongest "
                          "rival class (helps targeted attacks where the target's probability is flat)."),
        click.option("--seed", default=0, show_default=True, help="Random seed; the same seed gives the same result."),
        click.option("--device", default="cpu", show_default=True,
                     help="Where the model runs: cpu, cuda or cuda:N (a GPU runs a campaign ~100x faster)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def resolve_search(search_name: str, paper: bool, popsize: int | None, generations: int | None,
                   max_queries: int | None, search_given: bool,
                   loss: str = "probability") -> tuple[str, int | None, int | None]:
    """``(search, popsize, generations)`` from the shared options (DE's: None where not given, the paper's with
    ``--paper``); DE options with another search, or options that change the paper's DE with ``--paper`` (its
    budget, its fitness), are errors (never a silent switch)."""
    from .search.de import DifferentialEvolution

    de_given = [f"--{name} {value}" for name, value in (("popsize", popsize), ("generations", generations))
                if value is not None]
    if paper:
        the_paper = DifferentialEvolution.paper()
        clash = [f"--search {search_name}"] if search_given and search_name != "de" else []
        clash += [f"--{name} {value}" for name, value in (("popsize", popsize), ("generations", generations))
                  if value is not None and value != getattr(the_paper, name)]
        clash += [f"--max-queries {max_queries}"] if max_queries is not None else []
        clash += [f"--loss {loss}"] if loss != "probability" else []
        if clash:
            raise OnepixelError(f"--paper means the paper's DE (population 400, 100 generations, no query cap, the "
                                f"class probability as fitness); "
                                f"drop {', '.join(clash)}")
        return "de", the_paper.popsize, the_paper.generations
    if search_name != "de" and de_given:
        raise OnepixelError(f"{' and '.join(de_given)}: DE options, but the search is {search_name}; add --search de "
                            f"(or --paper for the paper's DE), or drop them")
    return search_name, popsize, generations


def cli_search(search_name: str, popsize: int | None, generations: int | None, max_queries: int | None) -> Any:
    """The search object of the resolved options (DE with its population and generations)."""
    from .assemble import search_with

    return search_with(search_name, max_queries, popsize=popsize, generations=generations)


def _search_given(ctx: click.Context) -> bool:
    return ctx.get_parameter_source("search_name") is not click.core.ParameterSource.DEFAULT


def _names(clf: Any) -> list[str] | None:
    return getattr(clf, "class_names", None) or None


def _name_of(names: list[str] | None, k: int | None) -> str | None:
    return names[k] if names is not None and k is not None and 0 <= k < len(names) else None


def _duration(seconds: float) -> str:
    """A rough human duration: "40 s", "12 min", "3.4 h", "2.1 days"."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="onepixel")
def cli() -> None:
    """Few-pixel black-box adversarial attacks on image classifiers (Su, Vargas & Sakurai's one-pixel attack).

    New here? `onepixel demo` (about a minute on a laptop CPU) attacks CIFAR-10 images both ways, writes a report
    and prints the next commands with their expected time."""


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
@click.option("--label", default=None,
              help="The image's true class (index or name) [default: the model's own prediction on the clean image, "
                   "which the attack then tries to change].")
@search_options
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the adversarial PNG [default: IMAGE-adv.png beside the input, only if the attack "
                   "succeeds; given, it is written either way (a failure: the best attempt)].")
@click.option("--figure", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Before/after figure PNG [default: OUT with -figure.png, written with the PNG]; 'none' to skip.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (no progress bar).")
@click.pass_context
def attack(ctx: click.Context, image: Path, model: str, labels_spec: str | None, preprocess_items: tuple[str, ...],
           explain: bool, space: str, pixels: tuple[int, ...],
           target: str | None, label: str | None, search_name: str, paper: bool, max_queries: int | None,
           popsize: int | None, generations: int | None, seed: int, device: str, loss: str, out: Path | None,
           figure: Path | None, as_json: bool) -> None:
    """Attack one IMAGE file (any size: photos are centre-cropped and resized to the model's input) and write
    the adversarial PNG plus a before/after figure. One attack takes seconds on a CPU for a CIFAR-10 net (at
    most 10,000 queries with the default search)."""
    from .api import as_classifier
    from .assemble import most_queries
    from .data.labels import resolve_labels
    from .imageio import read_image
    from .spaces import attack_photo

    search_name, popsize, generations = resolve_search(search_name, paper, popsize, generations, max_queries,
                                                       _search_given(ctx), loss)
    search = cli_search(search_name, popsize, generations, max_queries)
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
    out_given, figure_given = out is not None, figure is not None  # a failure's files: only when asked for
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
    counts = sorted(set(pixels))  # a count < 1 is refused by the first attack, before any query
    tried = []  # (pixels, queries, success) per count, smallest first, until one fools the model
    for k in counts:
        pa = attack_photo(clf, photo, lab, space=space, target=tgt, pixels=k, seed=seed, search=search,
                          max_queries=max_queries, progress=not as_json, loss=loss)
        tried.append((k, pa.result.queries, pa.result.success))
        if pa.result.success:
            break
    res = pa.result
    # a failure is written only when asked for (--out): a file named -adv that fools nothing misleads
    adv_path = out if res.success or out_given else None
    fig_path = figure if adv_path is not None or figure_given else None
    _write_attack_files(pa, clf, adv_path, fig_path)
    # the most queries one attack could spend here (file space: the crop box is searched, not known here)
    budget = most_queries(search, tried[-1][0], pa.original.shape, max_queries) if space == "input" else None
    record = attack_record(pa, clf, image, search_name, lab is not None, tried, adv_path, fig_path, budget,
                           {"popsize": search.popsize, "generations": search.generations} if search_name == "de" else {},
                           max_queries, several=len(counts) > 1)
    record["model"] = describe_model(clf)
    if as_json:
        click.echo(json.dumps(record, indent=1))
        return
    _echo_attack(record, pa, clf, space)


def _write_attack_files(pa: Any, clf: Any, adv_path: Path | None, fig_path: Path | None) -> None:
    from .figure import before_after
    from .imageio import write_png

    res, names = pa.result, _names(clf)

    def title(when: str, k: int, p: float) -> str:
        name = _name_of(names, k)
        return f"{when}: {k}{f' ({name})' if name else ''} p={p:.3f}"

    if adv_path is not None:
        write_png(adv_path, res.adversarial)
    if fig_path is not None:
        before_after(pa.original, res.adversarial, fig_path, titles=(
            title("before", int(pa.probs_before.argmax()), float(pa.probs_before.max())),
            title("after", res.predicted_after, res.predicted_prob_after)))


def attack_record(pa: Any, clf: Any, image: Path, search: str, label_given: bool, tried: list[tuple[int, int, bool]],
                  adv_path: Path | None, fig_path: Path | None, budget: int | None, de_settings: dict[str, int],
                  max_queries: int | None, several: bool = False) -> dict[str, Any]:
    """The JSON of one ``onepixel attack``: class names beside every class index, each changed pixel as an object
    (``several``: several pixel counts were asked for, tried smallest first as in ``tried``)."""
    res, names = pa.result, _names(clf)
    grey = pa.original.shape[-1] == 1

    def cls(key: str, k: int | None) -> dict[str, Any]:
        return {key: k, f"{key}_name": _name_of(names, k)}

    def top(after: bool) -> list[dict[str, Any]]:
        return [{"class": k, "name": _name_of(names, k), "p": p} for k, p in pa.top(5, after=after)]

    changes = [{"x": int(p[0]), "y": int(p[1]), ("grey" if grey else "rgb"): [int(v) for v in p[2:]],
                "was": [int(v) for v in pa.original[p[1], p[0]]]} for p in res.pixels]
    sweep = {"fewest_pixels": tried[-1][0] if tried[-1][2] else None,
             "sweep": [{"pixels": k, "queries": q, "success": ok} for k, q, ok in tried]} if several else {}
    return {
        "image": str(image), "success": res.success, "goal": "untargeted" if res.target is None else "targeted",
        **cls("label", res.label), "label_source": "given" if label_given else "model prediction",
        **cls("target", res.target), **cls("predicted_before", res.predicted_before),
        **cls("predicted_after", res.predicted_after), "predicted_prob_after": res.predicted_prob_after,
        "label_prob_before": res.label_prob_before, "label_prob_after": res.label_prob_after,
        "target_prob_after": res.target_prob_after,
        "search": search, **({"search_settings": de_settings} if de_settings else {}), "max_queries": max_queries,
        "budget": budget, "pixels": tried[-1][0], "changes": changes,
        "queries": res.queries, "first_success_query": getattr(res, "first_success_query", None),
        "verify_queries": res.verify_queries, "model_queries": res.model_queries, "rounds": res.generations + 1,
        "seconds": res.seconds, "seed": res.seed, "space": pa.space, "changed_pixels": pa.changed_pixels(),
        "image_size": [int(pa.original.shape[1]), int(pa.original.shape[0])],
        "top5_before": top(False), "top5_after": top(True),
        "jpeg": {"quality": pa.jpeg_quality, **cls("predicted", pa.jpeg_predicted), "label_prob": pa.jpeg_label_prob,
                 "survives": pa.jpeg_survives},
        "adversarial_png": str(adv_path) if adv_path else None, "figure": str(fig_path) if fig_path else None, **sweep,
    }


def _echo_attack(rec: dict[str, Any], pa: Any, clf: Any, space: str) -> None:
    """The text form of one attack's record."""
    def c(k: int | None) -> str:
        name = _name_of(_names(clf), k)
        return "-" if k is None else f"{k} ({name})" if name else str(k)

    lab = rec["label"]
    for when, key in (("before", "top5_before"), ("after", "top5_after")):
        click.echo(f"top-5 {when}: " + ", ".join(f"{c(t['class'])} {t['p']:.3f}" for t in rec[key]))
    # the class attacked is the model's own answer unless --label says what the image truly shows
    whose = "true class, given by --label" if rec["label_source"] == "given" else \
        "the model's prediction on the clean image; pass --label if the true class differs"
    click.echo(f"before: {c(rec['predicted_before'])} p={pa.probs_before.max():.3f}  "
               f"(attacked class {c(lab)}: {whose})")
    click.echo(f"after:  {c(rec['predicted_after'])} p={rec['predicted_prob_after']:.3f}  "
               f"(class {c(lab)} p={rec['label_prob_after']:.3f})")
    goal = f"target {c(rec['target'])}" if rec["target"] is not None else "untargeted"
    steps = f"{rec['rounds'] - 1} generations" if rec["search"] == "de" else f"{rec['rounds']} rounds"
    budget = f" of at most {rec['budget']:,}" if rec["budget"] else ""
    # DE stops at the paper's thresholds, often long after the first success: say both
    when = (f": fooled after {rec['first_success_query']:,} queries (stopped at {rec['queries']:,}{budget})"
            if rec["success"] and rec["first_success_query"] is not None else f" after {rec['queries']:,}{budget} queries")
    verdict = "SUCCESS" if rec["success"] else "failed"
    click.echo(f"{verdict} ({goal}, search {rec['search']}){when}, {steps}, {rec['seconds']:.1f} s")
    for ch in rec["changes"]:  # a failure's are its best attempt
        colour = ch.get("rgb", ch.get("grey"))
        click.echo(f"  {'pixel' if rec['success'] else 'best attempt: pixel'} x={ch['x']} y={ch['y']} -> "
                   f"{tuple(colour)}  (was {tuple(ch['was'])})")
    changed = f"{space} space, {rec['image_size'][0]}x{rec['image_size'][1]}: {rec['changed_pixels']} pixel(s) changed"
    if rec["success"]:  # whether a failed attack "survives" JPEG says nothing
        survive = "survives" if rec["jpeg"]["survives"] else "does not survive"
        changed += f"; the attack {survive} a JPEG re-encode at quality {rec['jpeg']['quality']} " \
                   f"(then {c(rec['jpeg']['predicted'])})"
    click.echo(changed)
    if "sweep" in rec:
        steps_done = ", ".join(f"{s['pixels']} px {'fooled it' if s['success'] else 'failed'} ({s['queries']:,} queries)"
                               for s in rec["sweep"])
        fewest = f"fewest pixels that fool it: {rec['fewest_pixels']}" if rec["fewest_pixels"] else \
            f"no count up to {rec['sweep'][-1]['pixels']} pixels fooled it"
        click.echo(f"{fewest} — {steps_done}")
    files = [f for f in (rec["adversarial_png"], rec["figure"]) if f]
    if files:
        click.echo("wrote " + " and ".join(files) + ("" if rec["success"] else " (the best attempt; it does not fool the model)"))
    if not rec["success"] and not rec["adversarial_png"]:
        click.echo("no adversarial image written: the attack failed (pass --out FILE.png to save the best attempt; "
                   "try -k 3, --max-queries or --target for more)")


#: how many attacks a campaign runs when --n is not given: minutes on a CPU
QUICK_ATTACKS = 50


def quick_n(protocol: str, mode: str, dataset: str) -> int:
    """Images for about :data:`QUICK_ATTACKS` attacks (CIFAR-10), or 5 photos: a run of minutes on a CPU."""
    from .campaign.protocol import attacks_per_image

    classes = {"cifar10": 10, "cifar100": 100}.get(dataset)
    if classes is None:  # photos: larger models, slower queries
        return 5
    return max(1, -(-QUICK_ATTACKS // attacks_per_image(protocol, mode, classes)))


@cli.command()
@click.option("--model", "-m", required=True, help="Zoo name (allconv, nin, vgg16, resnet20), a model file (.onnx, .tflite, "
              ".pt TorchScript), or a Hugging Face checkpoint (folder or cached hub id).")
@click.option("--preprocess", "preprocess_items", multiple=True, metavar="KEY=VALUE",
              help="Override the model's declared preprocessing, as for onepixel attack (recorded in the run).")
@click.option("--dataset", type=click.Choice(["cifar10", "cifar100", "imagenet-sample", "photos", "imagenet-val", "folder"]),
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
             generations: int | None, loss: Loss, seed: int, device: str, batch_images: int, data: Path | None, space: str,
             workers: int, ray_address: str | None, ray_actors: int | None, ray_cpus: float, ray_gpus: float,
             out: Path) -> None:
    """Run the paper's (or the strict) evaluation protocol on many images; every attack is stored at once,
    re-running resumes. Without --n a quick run of minutes on a CPU."""
    from .campaign import evaluate as run_evaluate
    from .campaign import summarize
    from .inputs import check_evaluate_options
    from .models.metadata import parse_overrides
    from .report.tables import print_summary

    overrides = parse_overrides(preprocess_items)
    search_name, popsize, generations = resolve_search(search_name, paper, popsize, generations, max_queries,
                                                       _search_given(ctx), loss)
    quick = n is None
    n = quick_n(protocol, mode, dataset) if n is None else n
    # refuse bad settings before the header line, so a refused start prints one line only
    check_evaluate_options(n=n, pixels=pixels, mode=mode, protocol=protocol, seed=seed, popsize=popsize,
                           generations=generations, max_queries=max_queries, search=search_name,
                           batch_images=batch_images, space=space, workers=workers, loss=loss)
    click.echo(f"{model}: {protocol} protocol, {n} images{' (a quick run; --n for more)' if quick else ''}, "
               f"{'/'.join(map(str, sorted(set(pixels))))} pixel(s), search {search_name}"
               f"{' (the paper DE)' if paper else ''}{f', loss {loss}' if loss != 'probability' else ''}; "
               f"results go to {out}")
    df = run_evaluate(model, out, dataset=dataset, split=split, n=n, pixels=list(pixels), mode=mode, protocol=protocol,
                      seed=seed, max_queries=max_queries, search=cli_search(search_name, popsize, generations, max_queries),
                      loss=loss, batch_images=batch_images, data_path=data, space=space,
                      model_options={"device": device, **({"preprocess": overrides} if overrides else {})},
                      workers=workers, ray=_ray_options(ray_address, ray_actors, ray_cpus, ray_gpus))
    print_summary(summarize(df), title=f"{model} — {protocol} protocol, {n} images, search {search_name}")
    _print_headline(df)
    click.echo(f"results: {out}/results.sqlite ({len(df)} attacks); report: onepixel report {out}")
    if quick and len(df):
        per_image = float(df["seconds"].sum()) / max(1, df["image"].nunique())
        click.echo(f"This was a quick run of {n} images (the default without --n). To scale up, give --n and a new "
                   f"--out, e.g. --n 100 (about {_duration(100 * per_image)} at this run's "
                   f"{per_image:.1f} s per image) or the paper's --n 500 (about {_duration(500 * per_image)}); "
                   f"a GPU (--device cuda) is much faster.")


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
@click.option("--device", default="cpu", show_default=True, help="Where the model runs: cpu, cuda or cuda:N.")
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


#: an AllConv campaign on one H100 (docs/benchmarks.md): what the demo quotes for "on a GPU"
GPU_QUERIES_PER_S = 228_000


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

    from .api import as_classifier
    from .api import attack as run_attack
    from .assemble import most_queries
    from .campaign import evaluate as run_evaluate
    from .campaign import summarize
    from .campaign.rows import apply_changes
    from .data import CIFAR10_CLASSES, load_cifar10
    from .report import write_report
    from .report.tables import print_summary

    # One thread: the demo's batches are small (a second thread gains little), and a thread pool stalls at every
    # barrier when the other core is busy (on a loaded 2-core machine two threads ran ~10x slower than one).
    torch.set_num_threads(1)
    x, y = load_cifar10("test", data)
    clf = as_classifier(model)
    names = _names(clf) or list(CIFAR10_CLASSES)
    click.echo(f"onepixel demo: {model} on {n} correctly classified CIFAR-10 test images, 1 pixel, the default "
               f"search (rs), at most {max_queries:,} queries per attack.\n")
    click.echo("1. Untargeted: change one pixel so that the model no longer answers the true class.")
    run_dir = out / "run"
    df = run_evaluate(model, run_dir, n=n, pixels=[1], mode="untargeted", protocol="strict", search="rs",
                      max_queries=max_queries, data_path=data)
    print_summary(summarize(df), title=f"{model}, 1 pixel, untargeted, {n} images")
    _print_headline(df)
    fooled = df[df["success"]].sort_values("queries")
    queries, seconds = int(df["queries"].sum()), float(df["seconds"].sum())
    if fooled.empty:
        click.echo(f"No image fell within {max_queries:,} queries; try --max-queries 4864 or --n 40.")
    else:
        row = fooled.iloc[0]
        adv = apply_changes(x[int(row["image"])], row["changes"])
        _demo_example(clf, names, out / "untargeted", x[int(row["image"])], adv, int(row["image"]),
                      int(row["label"]), int(row["predicted_after"]), float(row["predicted_prob_after"]),
                      int(row["queries"]), None)

        click.echo("\n2. Targeted: make the model answer a class we choose. Most (image, target) pairs are out of "
                   "one pixel's reach,\n   so the demo picks reachable ones: each image the untargeted attack "
                   "fooled, toward the class it fell to.")
        pick = fooled.iloc[:4]
        imgs, labels = pick["image"].to_numpy(), pick["label"].to_numpy()
        targets = pick["predicted_after"].to_numpy()
        res = run_attack(clf, x[imgs], labels, targets=targets, max_queries=max_queries, stop_on_success=True)
        queries += sum(r.queries for r in res)
        seconds += max(r.seconds for r in res)
        hit = next((j for j, r in enumerate(res) if r.success), None)
        tried = ", ".join(f"#{i} {names[lab]} -> {names[t]} {'fooled' if r.success else 'failed'} "
                          f"({r.queries:,} queries)" for i, lab, t, r in zip(imgs, labels, targets, res))
        click.echo(f"   tried {tried}")
        if hit is None:
            click.echo(f"   none succeeded within {max_queries:,} queries; try --max-queries 4864.")
        else:
            r = res[hit]
            _demo_example(clf, names, out / "targeted", x[imgs[hit]], r.adversarial, int(imgs[hit]), r.label,
                          r.predicted_after, r.predicted_prob_after, r.queries, r.target)

    html, _ = write_report([run_dir], out, gallery=8)
    click.echo(f"\n3. Report: {html}")
    rate = queries / max(seconds, 1e-9)
    rs = cli_search("rs", None, None, None)
    _print_next(rate, most_queries(rs, 1, x.shape[1:]), most_queries(rs, 1, (224, 224, 3)), model)


def _demo_example(clf: Any, names: list[str], stem: Path, image: np.ndarray, adv: np.ndarray, index: int, label: int,
                  after: int, p_after: float, queries: int, target: int | None) -> None:
    """Say what one attack did and write its adversarial PNG and before/after figure (``stem``-adversarial.png,
    ``stem``-figure.png)."""
    from .figure import before_after, changed_pixels
    from .imageio import write_png

    before = clf.probs(image[None])[0]
    (px, py), = changed_pixels(image, adv)[:1] or [(0, 0)]
    goal = f"target {names[target]}: " if target is not None else ""
    click.echo(f"   test image #{index}, a {names[label]} (p={before[label]:.2f}): {goal}now {names[after]} "
               f"(p={p_after:.2f}) after {queries:,} queries, pixel x={px} y={py} changed from "
               f"{tuple(int(v) for v in image[py, px])} to {tuple(int(v) for v in adv[py, px])}")
    write_png(stem.with_name(stem.name + "-adversarial.png"), adv)
    fig = before_after(image, adv, stem.with_name(stem.name + "-figure.png"), titles=(
        f"before: {names[label]} p={before[label]:.2f}", f"after: {names[after]} p={p_after:.2f}"))
    click.echo(f"   wrote {fig} and {stem.name}-adversarial.png")


def _print_next(rate: float, cifar_budget: int, photo_budget: int, model: str) -> None:
    """The next commands with their time: the most queries each can spend over the rate just measured (an
    upper bound: attacks that succeed stop early)."""
    paper = 500 * 9 * 3 * 40_400  # 500 images x 9 targets x 1/3/5 pixels x the paper's DE budget
    strict = 100 * cifar_budget
    click.echo(f"\nNext steps. Times are upper bounds (every attack spending its whole budget) at the "
               f"{rate:,.0f} queries/s this demo just measured here:")
    click.echo(f"- the paper's protocol and DE, 500 images, 1/3/5 pixels (13,500 attacks, up to {paper / 1e6:,.0f} M "
               f"queries): {_duration(paper / rate)} here; on a GPU about {_duration(paper / GPU_QUERIES_PER_S)} "
               f"(~{GPU_QUERIES_PER_S:,} queries/s on one H100, docs/benchmarks.md):\n"
               f"    onepixel evaluate --model {model} --n 500 -k 1 -k 3 -k 5 --protocol paper --paper --device cuda "
               f"--batch-images 270 --out runs/paper-{Path(model).stem}")
    click.echo(f"- a strict campaign: 100 correctly classified images, untargeted, the default search (up to "
               f"{strict:,} queries): {_duration(strict / rate)} here:\n"
               f"    onepixel evaluate --model {model} --n 100 --protocol strict --mode untargeted "
               f"--out runs/strict-{Path(model).stem}")
    click.echo(f"- your own model on your own photo (one attack, up to {photo_budget:,} queries): "
               f"{_duration(photo_budget / rate)} here for a model as fast as this one (a larger model: longer, in "
               f"proportion to its forward pass):\n"
               f"    onepixel attack photo.jpg --model my_model.onnx --labels imagenet")


@cli.command()
def models() -> None:
    """List the shipped zoo models and their measured CIFAR-10 test accuracy."""
    from rich.table import Table

    from . import zoo
    from .report.tables import console

    table = Table(title="onepixel zoo (CIFAR-10, 32x32)")
    for col in ("name", "architecture", "params", "test accuracy", "paper's net", "sha256"):
        table.add_column(col, justify="right" if col in ("params", "test accuracy", "paper's net") else "left")
    for e in zoo.entries().values():
        paper = f"{e.paper_accuracy:.1%}" if e.paper_accuracy else "-"
        table.add_row(e.name, e.arch, f"{e.params / 1e6:.2f} M", f"{e.test_accuracy:.2%}", paper, e.sha256[:12])
    console(table).print(table)


@cli.command()
@click.argument("model", type=click.Choice(["allconv", "nin", "vgg16", "resnet20"]))
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run folder (checkpoints, log.json, weights) [default: runs/train-MODEL]. Re-running resumes.")
@click.option("--epochs", default=60, show_default=True, help="Passes over the 50,000 training images.")
@click.option("--batch-size", default=256, show_default=True, help="Training images per step.")
@click.option("--lr", default=None, type=float, help="Peak learning rate [default: 0.2, VGG16 0.1].")
@click.option("--seed", default=0, show_default=True, help="Random seed of the initial weights and the data order.")
@click.option("--device", default="cpu", show_default=True, help="Where to train: cpu, cuda or cuda:N.")
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
