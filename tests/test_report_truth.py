"""Reports that say what happened: first-success curves, robust accuracy, honest paper comparisons, files for
papers. Toy black boxes on a folder of small photos, so every expected number is known here."""

import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

import onepixel as op
from onepixel.campaign import evaluate, load_results
from onepixel.campaign.evaluate import model_input_view
from onepixel.campaign.metrics import ANY_TARGET, budget_table, robust_accuracy, success_curve
from onepixel.data.datasets import load_dataset
from onepixel.imageio import write_png
from onepixel.report import write_report
from onepixel.report.paper import paper_match
from toys.black_boxes import SmoothSpot

POP, GENS = 20, 30


def _photos(folder, greys: list[int], labels: list[int], size: int = 12, red: list[int] | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["filename,class_index"]
    for i, (g, lab) in enumerate(zip(greys, labels)):
        img = np.full((size, size, 3), g, np.uint8)
        if red is not None and i in red:
            img[..., 0] = 255  # a reddish photo: the toy below calls it class 2
        write_png(folder / f"p{i}.png", img)
        lines.append(f"p{i}.png,{lab}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return folder


def _toy(fn, classes: int = 3, size: int = 12) -> op.CallableClassifier:
    clf = op.CallableClassifier(fn, num_classes=classes)
    clf.input_size = (size, size)  # photos are cropped and resized to it (the paper's input space)
    return clf


def _first_fooling_query(fn, image: np.ndarray, label: int, seed: int) -> tuple[int, int]:
    """Replay one attack with a black box that keeps every batch: the 1-based query of the first image it calls
    another class, and the query the attack stopped at."""
    seen: list[np.ndarray] = []

    def logged(images):
        seen.append(images.copy())
        return fn(images)

    r = op.attack(op.CallableClassifier(logged), image[None], [label], search="de", popsize=POP, generations=GENS,
                  seed=[seed], memo=False)[0]
    asked = np.concatenate(seen[1:])[: r.queries]
    return int(np.nonzero(fn(asked).argmax(1) != label)[0][0]) + 1, r.queries


def test_the_store_and_the_curve_hold_the_first_success_not_the_stop(tmp_path):
    toy = SmoothSpot()
    photos = _photos(tmp_path / "photos", [128, 124, 132, 128], [0, 0, 0, 0])
    clf = _toy(toy.probs)
    df = evaluate(clf, tmp_path / "run", dataset="photos", data_path=photos, n=4, protocol="strict",
                  mode="untargeted", search="de", popsize=POP, generations=GENS, batch_images=4, progress=False)
    images = model_input_view(load_dataset("photos", "test", photos), clf).images
    assert df["success"].all() and len(df) == 3  # the strict protocol keeps the 3 photos the toy gets right
    later = 0
    for _, row in df.iterrows():
        first, stop = _first_fooling_query(toy.probs, images[int(row["image"])], 0, int(row["seed"]))
        assert row["first_success_query"] == first and row["queries"] == stop
        assert first > POP  # found after the first generation
        later += stop > first
    assert later >= 2  # DE went on to its 5 % threshold after the first success
    (table,) = budget_table(df, 3)
    firsts = np.sort(df["first_success_query"].to_numpy(int))
    assert table["exact"] and table["budget"] == POP * (GENS + 1) and list(table["first"]) == list(df["first_success_query"])
    assert table["at"][100] == np.mean(firsts <= 100) and table["at"][400] == np.mean(firsts <= 400)
    assert table["at"][1_000] is None  # beyond the run's 620 queries: not measured, not extrapolated
    budgets, rate = success_curve(table["first"], table["n"], table["budget"])
    assert list(budgets[1:-1]) == list(firsts) and list(rate[1:-1]) == [1 / 3, 2 / 3, 1]
    assert budgets[-1] == 620 and rate[0] == 0


def _spot_or_red(images: np.ndarray) -> np.ndarray:
    """3 classes: class 0; a reddish photo is class 2 (misclassified: its label is 0); setting pixel (3, 3) to
    pure green makes class 1, to pure blue class 2."""
    images = images.astype(int)
    out = np.tile([0.8, 0.12, 0.08], (len(images), 1))
    out[images[..., 0].mean((1, 2)) > 200] = [0.1, 0.2, 0.7]
    px = images[:, 3, 3]
    out[(px[:, 1] > 200) & (px[:, 0] < 60) & (px[:, 2] < 60)] = [0.04, 0.92, 0.04]
    out[(px[:, 2] > 200) & (px[:, 0] < 60) & (px[:, 1] < 60)] = [0.04, 0.04, 0.92]
    return out


@pytest.fixture(scope="module")
def paper_toy_run(tmp_path_factory):
    """A paper-protocol toy campaign: 4 photos, the reddish one (image 1) misclassified before the attack."""
    tmp = tmp_path_factory.mktemp("toy")
    photos = _photos(tmp / "photos", [128, 128, 100, 150], [0, 0, 0, 0], red=[1])
    run = tmp / "a" / "run"
    evaluate(_toy(_spot_or_red), run, dataset="photos", data_path=photos, n=4, protocol="paper", search="de",
             popsize=40, generations=10, progress=False)
    return tmp, run


def test_an_image_misclassified_before_the_attack_is_counted_apart_and_never_shown(paper_toy_run):
    tmp, run = paper_toy_run
    df = load_results(run)
    wrong = df[df["image"] == 1]
    assert (wrong["predicted_before"] == 2).all() and wrong["success"].any()  # its "attack toward 2" succeeds at once
    (r,) = robust_accuracy(df, 3)
    assert r["kind"] == ANY_TARGET and (r["images"], r["correct"]) == (4, 3)
    assert r["clean_accuracy"] == 0.75 and [m["image"] for m in r["misclassified"]] == [1]
    fooled = df[df["image"] != 1].groupby("image")["success"].any()
    assert r["fooled"] == fooled.sum() and r["robust_accuracy"] == (3 - fooled.sum()) / 4
    assert r["attack_success"] == fooled.sum() / 3
    html, md = write_report([run], tmp / "rep", gallery=8)
    shown = sorted((tmp / "rep" / "report_files").glob("*-example-*.png"))
    assert shown and not any("-example-1-" in p.name for p in shown)
    text = md.read_text()
    assert "Already misclassified before the attack" in text and "image 1: true class 0" in text
    assert "clean accuracy 75.0 %" in text and "accuracy under attack" in text
    # captions: clean prediction and probability -> adversarial prediction and probability, pixel and colour
    assert re.search(r"0 \(80\.0 %\) → [12] \(92\.0 %\); changed x=3, y=3 → \(\d+, \d+, \d+\)", text)


def test_runs_with_other_settings_than_the_papers_get_no_paper_figure(paper_toy_run):
    tmp, run = paper_toy_run
    _, md = write_report([run], tmp / "rep2", gallery=0)
    text = md.read_text()
    assert "(paper " not in text and "not comparable: DE 40 × 10, not the paper's 400 × 100" in text
    base = {"dataset": "cifar10/test", "model": "allconv", "protocol": "paper", "mode": "both", "search": "de",
            "popsize": 400, "generations": 100, "strategy": "rand1", "mutation": 0.5, "crossover": None,
            "max_queries": None}
    assert paper_match(base).table == "Table IV" and paper_match(base).figure(ANY_TARGET, "rate", 1) == 0.6871
    assert paper_match(base).figure(ANY_TARGET, "rate", 3) == 0.8653  # Table V
    assert paper_match({**base, "mode": "both", "protocol": "strict"}).table == "Table VIII"
    for change, why in (({"max_queries": 500}, "capped at 500"), ({"generations": 15}, "400 × 15"),
                        ({"model": "resnet20"}, "network resnet20"), ({"search": "rs"}, "search rs"),
                        ({"protocol": "strict", "mode": "untargeted"}, "any of its 9 targeted attacks"),
                        ({"dataset": "imagenet-sample", "model": "/m/mobilenet_v2_1.0_224_quant.tflite"},
                         "mobilenet_v2_1.0_224_quant.tflite; the paper's ImageNet figure is for BVLC AlexNet")):
        m = paper_match({**base, **change})
        assert m.table is None and why in m.reason and m.figure(ANY_TARGET, "rate", 1) is None


def test_figures_and_tables_for_papers_exist_and_parse(paper_toy_run, tmp_path):
    tmp, run = paper_toy_run
    other = tmp / "b" / "run"  # another run folder of the same name: its files must not collide
    import shutil

    shutil.copytree(run, other)
    html, md = write_report([run, other], tmp_path / "rep", gallery=2)
    files = tmp_path / "rep" / "report_files"
    assert (files / "a-run-success-at-budgets.csv").is_file() and (files / "b-run-success-at-budgets.csv").is_file()
    assert len(list(files.glob("a-run-example-*.png"))) == len(list(files.glob("b-run-example-*.png"))) >= 1
    for csv in files.glob("*.csv"):
        table = pd.read_csv(csv)
        assert len(table.columns) >= 3 and len(table) >= 1
    budgets = pd.read_csv(files / "a-run-success-at-budgets.csv")
    assert list(budgets["kind"]) == [ANY_TARGET, "targeted"] and "success at 400" in budgets.columns
    for tex in files.glob("*.tex"):
        t = tex.read_text()
        assert t.count(r"\begin{tabular}") == 1 and t.count(r"\end{table}") == 1 and "%" not in t.replace(r"\%", "")
    pngs = list(files.glob("*.png"))
    assert pngs
    for png in pngs:
        assert ET.parse(png.with_suffix(".svg")).getroot().tag.endswith("svg")
        assert png.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    text = html.read_text()
    assert '<meta name="viewport"' in text and 'class="scroll"' in text
    assert "base64" not in text  # linked, not embedded: report.html stays small
    linked = re.findall(r'src="(report_files/[^"]+)"', text)
    assert linked and all((tmp_path / "rep" / p).is_file() for p in linked)
    # legends name runs, never file paths
    assert str(tmp) not in (files / "success-vs-queries.svg").read_text()
    embedded, _ = write_report([run], tmp_path / "one", gallery=1, embed=True)
    assert embedded.read_text().count("data:image/png;base64,") == len(re.findall(r"<img ", embedded.read_text()))
