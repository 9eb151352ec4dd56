"""``onepixel attack``: one image file, its adversarial PNG, a before/after figure, and the record as text or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import OnepixelError
from ..inputs import check_max_queries, check_outputs, check_seed
from .app import cli
from .options import class_name, class_names_of, cli_search, parse_class, resolve_search, search_given, search_options


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
           popsize: int | None, generations: int | None, sweep: float | None, seed: int, device: str, loss: str, out: Path | None,
           figure: Path | None, as_json: bool) -> None:
    """Attack one IMAGE file (any size: photos are centre-cropped and resized to the model's input) and write
    the adversarial PNG plus a before/after figure. One attack takes seconds on a CPU for a CIFAR-10 net (at
    most 10,000 queries with the default search)."""
    from ..api import as_classifier
    from ..assemble import most_queries
    from ..data.labels import resolve_labels
    from ..imageio import read_image
    from ..spaces import attack_photo

    search_name, popsize, generations = resolve_search(search_name, paper, popsize, generations, max_queries,
                                                       search_given(ctx), loss)
    search = cli_search(search_name, popsize, generations, max_queries, sweep, pixels)
    check_seed(seed, "--seed")
    check_max_queries(max_queries, "--max-queries")
    from ..models.metadata import describe_model, explain_lines, parse_overrides

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
    lab = parse_class(clf, label, "label")
    tgt = parse_class(clf, target, "target")
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
    write_attack_files(pa, clf, adv_path, fig_path)
    # the most queries one attack could spend here (file space: the crop box is searched, not known here)
    budget = most_queries(search, tried[-1][0], pa.original.shape, max_queries) if space == "input" else None
    record = attack_record(pa, clf, image, search_name, lab is not None, tried, adv_path, fig_path, budget,
                           {"popsize": search.popsize, "generations": search.generations} if search_name == "de" else {},
                           max_queries, several=len(counts) > 1)
    record["model"] = describe_model(clf)
    if as_json:
        click.echo(json.dumps(record, indent=1))
        return
    echo_attack(record, pa, clf, space)


def write_attack_files(pa: Any, clf: Any, adv_path: Path | None, fig_path: Path | None) -> None:
    from ..figure import before_after
    from ..imageio import write_png

    res, names = pa.result, class_names_of(clf)

    def title(when: str, k: int, p: float) -> str:
        name = class_name(names, k)
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
    res, names = pa.result, class_names_of(clf)
    grey = pa.original.shape[-1] == 1

    def cls(key: str, k: int | None) -> dict[str, Any]:
        return {key: k, f"{key}_name": class_name(names, k)}

    def top(after: bool) -> list[dict[str, Any]]:
        return [{"class": k, "name": class_name(names, k), "p": p} for k, p in pa.top(5, after=after)]

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


def echo_attack(rec: dict[str, Any], pa: Any, clf: Any, space: str) -> None:
    """The text form of one attack's record."""
    def c(k: int | None) -> str:
        name = class_name(class_names_of(clf), k)
        return "-" if k is None else f"{k} ({name})" if name else str(k)

    lab = rec["label"]
    for when, key in (("before", "top5_before"), ("after", "top5_after")):
        click.echo(f"top-5 {when}: " + ", ".join(f"{c(t['class'])} {t['p']:.3f}" for t in rec[key]))
    # the class attacked is the model's own answer unless --label says what the image truly shows
    whose = "true class, given by --label" if rec["label_source"] == "given" else \
        "the model's prediction on the clean image; pass --label if the true class differs"
    click.echo(f"before: {c(rec['predicted_before'])} p={pa.probs_before.max():.3f}  "
               f"(attacked class {c(lab)}: {whose})")
    target = f", target {c(rec['target'])} p={rec['target_prob_after']:.3f}" if rec["target"] is not None else ""
    click.echo(f"after:  {c(rec['predicted_after'])} p={rec['predicted_prob_after']:.3f}  "
               f"(class {c(lab)} p={rec['label_prob_after']:.3f}{target})")
    if rec["target"] is None and rec["predicted_before"] != lab:  # only a given --label can differ
        click.echo(f"note: the model already misclassifies the clean image ({c(rec['predicted_before'])}, not the "
                   f"--label class {c(lab)}): it was fooled before any pixel changed")
    goal = f"target {c(rec['target'])}" if rec["target"] is not None else "untargeted"
    steps = plural(rec["rounds"] - 1, "generation") if rec["search"] == "de" else plural(rec["rounds"], "round")
    budget = f" of at most {rec['budget']:,}" if rec["budget"] else ""
    # DE stops at the paper's thresholds, often long after the first success: say both
    when = (f": fooled at query {rec['first_success_query']:,} (stopped at {rec['queries']:,}{budget})"
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
        # more pixels or queries give the search more room; a targeted one may also need the margin loss
        more = "-k 3, a larger --max-queries or --loss margin" if rec["target"] is not None else \
            "-k 3 or a larger --max-queries"
        click.echo(f"no adversarial image written: the attack failed (pass --out FILE.png to save the best attempt; "
                   f"for a better chance try {more})")


def plural(n: int, noun: str) -> str:
    """``1 round``, ``3 rounds``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
