"""``onepixel attack``: the adversarial PNG and figure, the text and JSON records, photos and their errors."""

import json
import re

import numpy as np
import pytest
from PIL import Image

from cli_helpers import run
from conftest import SHARED, needs_shared
from onepixel.cli import main

V1 = SHARED / "models" / "imagenet" / "mobilenet_v1_0.25_128_quant.tflite"
SAMPLE = SHARED / "data" / "imagenet-sample"
needs_v1 = needs_shared(V1)
needs_sample = needs_shared(SAMPLE / "labels.csv")


@pytest.fixture
def sample():
    """The ImageNet sample's photos are there (skips otherwise)."""
    if not (SAMPLE / "labels.csv").exists():
        pytest.skip(f"{SAMPLE} is absent (the read-only ../shared folder of the build machines)")


def test_attack_a_torchscript_model_and_write_the_png(scripted, tmp_path, capsys):
    model, img = scripted
    out_png = tmp_path / "adv.png"
    code, out, err = run(["attack", str(img), "--model", str(model), "--search", "de", "--popsize", "100",
                          "--generations", "20", "--out", str(out_png), "--json"], capsys)
    assert code == 0, err
    rec = json.loads(out)
    assert rec["success"] and rec["predicted_after"] == 1 and (rec["changes"][0]["x"], rec["changes"][0]["y"]) == (5, 2)
    adv = np.asarray(Image.open(out_png))
    changed = np.argwhere((adv != 128).any(-1))
    assert changed.tolist() == [[2, 5]]


def test_attack_prints_before_after_and_pixels(scripted, tmp_path, capsys):
    model, img = scripted
    code, out, _ = run(["attack", str(img), "-m", str(model), "--search", "de", "--popsize", "100", "--generations",
                        "20", "-o", str(tmp_path / "a.png")], capsys)
    assert code == 0
    assert "before:" in out and "after:" in out and "pixel x=5 y=2" in out and "wrote" in out
    found = re.search(r"SUCCESS \(untargeted, search de\): fooled at query ([\d,]+) \(stopped at ([\d,]+) of at "
                      r"most 2,100\), \d+ generations", out)  # DE: tuned population, stops at the paper's threshold
    assert found and int(found[1].replace(",", "")) <= int(found[2].replace(",", ""))
    assert "JPEG re-encode at quality 95" in out
    code, out, _ = run(["attack", str(img), "-m", str(model), "--search", "rs", "--max-queries", "3",
                        "-o", str(tmp_path / "b.png")], capsys)
    assert code == 0 and re.search(r"search rs\)(: fooled at query \d \(stopped at 3 of at most 3\)| after 3 of at "
                                   r"most 3 queries), (1 round|\d+ rounds),", out)
    assert ("SUCCESS" in out) == ("JPEG" in out)  # a failed attack says nothing about surviving JPEG


def test_attack_with_several_counts_reports_the_fewest_that_fool(scripted, tmp_path, capsys):
    model, img = scripted
    code, out, _ = run(["attack", str(img), "-m", str(model), "-k", "3", "-k", "1", "--search", "de", "--popsize",
                        "100", "--generations", "20", "-o", str(tmp_path / "a.png"), "--json"], capsys)
    rec = json.loads(out)
    assert code == 0 and rec["fewest_pixels"] == 1 and rec["sweep"] == [{"pixels": 1, "queries": rec["queries"],
                                                                          "success": True}]
    code, out, _ = run(["attack", str(img), "-m", str(model), "-k", "1", "-k", "2", "--search", "rs",
                        "--max-queries", "2", "-o", str(tmp_path / "b.png")], capsys)
    steps = re.findall(r"(\d) px (fooled it|failed) \((\d+) queries\)", out)
    assert code == 0 and steps and steps[0][0] == "1" and all(s[2] == "2" for s in steps)
    assert all(s[1] == "failed" for s in steps[:-1])  # counts stop at the first success
    assert ("fewest pixels that fool it: " + steps[-1][0] in out) == (steps[-1][1] == "fooled it")
    assert ("no count up to 2 pixels fooled it" in out) == (len(steps) == 2 and steps[-1][1] == "failed")


def test_attack_json_schema(scripted, tmp_path, capsys):
    """Changes as objects, class names beside indices, the search that ran and its budget; where the label came from."""
    model, img = scripted
    names = tmp_path / "names.txt"
    names.write_text("grey\nred\nother\n")
    code, out, err = run(["attack", str(img), "-m", str(model), "--labels", str(names), "--max-queries", "400",
                          "--json", "-o", str(tmp_path / "a.png")], capsys)
    assert code == 0, err
    rec = json.loads(out)
    assert set(rec) >= {"success", "goal", "label", "label_name", "label_source", "target", "target_name",
                        "predicted_before", "predicted_before_name", "predicted_after", "predicted_after_name",
                        "search", "budget", "max_queries", "pixels", "changes", "queries", "first_success_query",
                        "top5_before", "top5_after", "jpeg", "adversarial_png", "figure"}
    assert rec["success"] and rec["goal"] == "untargeted" and rec["search"] == "rs" and rec["max_queries"] == 400
    assert rec["label"] == 0 and rec["label_name"] == "grey" and rec["label_source"] == "model prediction"
    assert rec["predicted_after"] == 1 and rec["predicted_after_name"] == "red" and rec["pixels"] == 1
    assert rec["changes"] == [{"x": 5, "y": 2, "rgb": rec["changes"][0]["rgb"], "was": [128, 128, 128]}]
    assert rec["top5_before"][0] == {"class": 0, "name": "grey", "p": rec["top5_before"][0]["p"]}
    assert 0 < rec["queries"] <= rec["budget"] == 400
    code, out, err = run(["attack", str(img), "-m", str(model), "--labels", str(names), "--label", "grey",
                          "--target", "red", "--json",
                        "--search", "de", "--popsize", "50", "--generations", "10", "--figure", "none",
                        "-o", str(tmp_path / "b.png")], capsys)
    assert code == 0, err
    rec = json.loads(out)
    assert rec["label_source"] == "given" and rec["target_name"] == "red" and rec["goal"] == "targeted"
    assert rec["search"] == "de" and rec["search_settings"] == {"popsize": 50, "generations": 10}
    assert rec["budget"] == 50 * 11


def test_a_failed_attack_writes_no_image_unless_asked_and_never_says_true_class(scripted, tmp_path, capsys):
    model, img = scripted
    code, out, _ = run(["attack", str(img), "-m", str(model), "--max-queries", "2"], capsys)
    assert code == 0 and "failed" in out and "no adversarial image written" in out
    assert not (tmp_path / "grey-adv.png").exists() and not (tmp_path / "grey-adv-figure.png").exists()
    assert "true:" not in out and "true class 0" not in out  # the label is the model's own prediction here
    assert "attacked class 0: the model's prediction on the clean image" in out
    code, out, _ = run(["attack", str(img), "-m", str(model), "--max-queries", "2", "-o", str(tmp_path / "b.png")], capsys)
    assert code == 0 and (tmp_path / "b.png").is_file() and "the best attempt" in out
    code, out, _ = run(["attack", str(img), "-m", str(model), "--label", "0", "--max-queries", "400"], capsys)
    assert "true class, given by --label" in out and (tmp_path / "grey-adv.png").is_file()


def test_cli_reports_a_bad_photo_in_one_line(tmp_path, capsys):

    (tmp_path / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(20))
    assert main(["attack", str(tmp_path / "cut.jpg"), "--model", "allconv"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


@needs_v1
def test_cli_attack_on_a_photo_prints_top5_and_writes_png_and_figure(tmp_path, capsys, sample):
    from PIL import Image


    photo = SAMPLE / "n02105855_Shetland_sheepdog.JPEG"
    out = tmp_path / "adv.png"
    args = ["attack", str(photo), "--model", str(V1), "--labels", "imagenet", "--space", "file", "-k", "5",
            "--search", "de", "--popsize", "40", "--generations", "4", "--out", str(out)]
    assert main(args + ["--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["space"] == "file" and rec["image_size"] == [500, 375] and rec["changed_pixels"] == 5
    assert rec["label"] == 230 and len(rec["top5_before"]) == 5 and rec["top5_before"][0]["class"] == 230
    assert set(rec["jpeg"]) == {"quality", "predicted", "predicted_name", "label_prob", "survives"} and rec["jpeg"]["quality"] == 95
    assert out.is_file() and Image.open(out).size == (500, 375)
    figure = tmp_path / "adv-figure.png"
    assert rec["figure"] == str(figure) and Image.open(figure).format == "PNG"

    assert main(args[:6] + ["--space", "input", "-k", "1", "--search", "de", "--popsize", "20", "--generations", "1",
                            "--out", str(out), "--figure", "none"]) == 0
    text = capsys.readouterr().out
    assert "top-5 before: 230 (Shetland sheepdog)" in text and "top-5 after:" in text
    assert "input space, 128x128: 1 pixel(s) changed" in text
    assert ("JPEG re-encode at quality 95" in text) == ("SUCCESS" in text)  # JPEG survival only of a success
    assert Image.open(out).size == (128, 128)


@needs_v1
def test_cli_labels_file_and_errors(tmp_path, capsys):

    photo = SAMPLE / "n02105855_Shetland_sheepdog.JPEG"
    (tmp_path / "few.txt").write_text("a\nb\n")
    assert main(["attack", str(photo), "--model", str(V1), "--labels", str(tmp_path / "few.txt")]) == 2
    assert "2 classes but the model has 1000" in capsys.readouterr().err
    (tmp_path / "page.onnx").write_text("<html></html>")
    assert main(["attack", str(photo), "--model", str(tmp_path / "page.onnx")]) == 2
    assert "not an ONNX protobuf" in capsys.readouterr().err


@needs_v1
@needs_sample
def test_the_cli_shows_no_tflite_info_lines(tmp_path):
    """The runtime's own "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." (C++, once per process, so a
    fresh process) does not reach the user's terminal; the attack's own output does."""
    import subprocess
    import sys

    photo = sorted(SAMPLE.glob("*.JPEG"))[0]
    r = subprocess.run([sys.executable, "-m", "onepixel.cli", "attack", str(photo), "--model", str(V1),
                        "--max-queries", "20", "--out", str(tmp_path / "a.png"), "--figure", "none"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "INFO" not in r.stderr and "INFO" not in r.stdout and "XNNPACK" not in r.stderr
    assert "queries" in r.stdout


def test_a_targeted_attack_shows_the_targets_probability_and_a_failure_suggests_what_helps(scripted, tmp_path, capsys):
    """The text names the target's probability after the attack (not only the attacked class's); a failed attack
    suggests more pixels or queries (and, targeted, the margin loss), never --target, which makes it harder."""
    model, img = scripted
    code, out, _ = run(["attack", str(img), "-m", str(model), "--target", "2", "--max-queries", "8"], capsys)
    rec_code, rec_out, _ = run(["attack", str(img), "-m", str(model), "--target", "2", "--max-queries", "8",
                                "--json"], capsys)
    rec = json.loads(rec_out)
    assert code == rec_code == 0 and not rec["success"]  # class 2 is out of the planted net's reach
    assert f"target 2 p={rec['target_prob_after']:.3f})" in out.split("\nafter:", 1)[1].splitlines()[0]
    assert "try -k 3, a larger --max-queries or --loss margin" in out and "--target for" not in out
    code, out, _ = run(["attack", str(img), "-m", str(model), "--max-queries", "2"], capsys)
    assert "failed" in out and "try -k 3 or a larger --max-queries)" in out and ", target" not in out


def test_an_image_the_model_already_misclassifies_is_said_so(scripted, tmp_path, capsys):
    """--label names a class the model does not answer on the clean image: the 'success' needed no pixel, and
    the text says so instead of passing it off as an attack's."""
    model, img = scripted
    code, out, _ = run(["attack", str(img), "-m", str(model), "--label", "1"], capsys)
    assert code == 0
    assert "already misclassifies the clean image (0, not the --label class 1)" in out
    code, out, _ = run(["attack", str(img), "-m", str(model), "--label", "0", "--max-queries", "400"], capsys)
    assert code == 0 and "already misclassifies" not in out


def test_the_oracle_with_more_than_one_pixel_is_one_line_before_any_work(scripted, tmp_path, capsys):
    """The oracle scans one-pixel changes: -k 2 is refused before a progress bar opens (attack) or the header line
    is printed (evaluate): one line on stderr, nothing else."""
    model, img = scripted
    code, out, err = run(["attack", str(img), "-m", str(model), "--search", "oracle", "-k", "1", "-k", "2"], capsys)
    assert code == 2 and out == "" and err.strip().splitlines() == [
        "error: -k 2: the oracle scans one-pixel changes only; use -k 1 or another --search"]
    code, out, err = run(["evaluate", "-m", str(model), "--search", "oracle", "-k", "3", "--n", "1",
                          "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "-k 3: the oracle" in err
