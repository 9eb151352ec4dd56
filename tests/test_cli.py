import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from onepixel import __version__
from onepixel.cli import main


class Planted(nn.Module):
    """Class 0 unless the pixel at (x=5, y=2) turns red enough (r - g - b > 0.3 on a 0..1 scale), then
    class 1; every other pixel is ignored. Input scaled to [0, 1] (the default preprocessing)."""

    def forward(self, x):
        p = x[:, :, 2, 5]
        redness = p[:, 0] - p[:, 1] - p[:, 2]
        logits = torch.zeros(x.shape[0], 3)
        logits[:, 1] = 12.0 * (redness - 0.3)
        return logits


@pytest.fixture
def scripted(tmp_path):
    path = tmp_path / "planted.pt"
    torch.jit.script(Planted()).save(str(path))
    img = tmp_path / "grey.png"
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(img)
    return path, img


def run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_and_version(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "attack" in out and "evaluate" in out
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and __version__ in out


def test_attack_a_torchscript_model_and_write_the_png(scripted, tmp_path, capsys):
    model, img = scripted
    out_png = tmp_path / "adv.png"
    code, out, err = run(["attack", str(img), "--model", str(model), "--popsize", "100", "--generations", "20",
                          "--out", str(out_png), "--json"], capsys)
    assert code == 0, err
    rec = json.loads(out)
    assert rec["success"] and rec["predicted_after"] == 1 and rec["pixels"][0][:2] == [5, 2]
    adv = np.asarray(Image.open(out_png))
    changed = np.argwhere((adv != 128).any(-1))
    assert changed.tolist() == [[2, 5]]


def test_attack_prints_before_after_and_pixels(scripted, tmp_path, capsys):
    model, img = scripted
    code, out, _ = run(["attack", str(img), "-m", str(model), "--popsize", "100", "--generations", "20",
                        "-o", str(tmp_path / "a.png")], capsys)
    assert code == 0
    assert "before:" in out and "after:" in out and "pixel x=5 y=2" in out and "wrote" in out
    found = re.search(r"SUCCESS \(untargeted\): fooled after ([\d,]+) queries \(stopped at ([\d,]+)\), \d+ generations",
                      out)  # DE: tuned population
    assert found and int(found[1].replace(",", "")) <= int(found[2].replace(",", ""))
    assert "JPEG re-encode at quality 95" in out
    code, out, _ = run(["attack", str(img), "-m", str(model), "--search", "rs", "--max-queries", "3",
                        "-o", str(tmp_path / "b.png")], capsys)
    assert code == 0 and re.search(r"(after|stopped at) 3 queries\)?, \d+ rounds", out)
    assert ("SUCCESS" in out) == ("JPEG" in out)  # a failed attack says nothing about surviving JPEG


def test_attack_with_several_counts_reports_the_fewest_that_fool(scripted, tmp_path, capsys):
    model, img = scripted
    code, out, _ = run(["attack", str(img), "-m", str(model), "-k", "3", "-k", "1", "--popsize", "100",
                        "--generations", "20", "-o", str(tmp_path / "a.png"), "--json"], capsys)
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


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["attack", "missing.png", "--model", "allconv"], "image file not found"),
        (["attack", "{img}", "--model", "nosuchmodel"], "no zoo model or file"),
        (["attack", "{img}", "--model", "{model}", "--target", "zebra"], "neither a class index nor a class name"),
        (["attack", "{img}", "--model", "{model}", "--target", "0"], "equals the true label"),
        (["attack", "{img}", "--model", "{model}", "--pixels", "0"], "pixels must be"),
        (["attack", "{txt}", "--model", "allconv"], "not an image file"),
        (["evaluate", "--model", "allconv", "--out", "{tmp}/r", "--dataset", "mnist"], "'mnist' is not one of"),
        (["attack", "{img}", "--model", "{model}", "--pixels", "many"], "is not a valid integer"),
        (["report", "{tmp}"], "not a run folder"),
        (["evaluate", "--model", "allconv", "--out", "{tmp}/r", "--paper", "--search", "rs"], "drop --search rs"),
        (["attack", "{img}", "--model", "{model}", "--out", "{tmp}/adv"], "must be a .png file"),
    ],
)
def test_user_errors_are_one_line_without_traceback(scripted, tmp_path, argv, needle):
    model, img = scripted
    txt = tmp_path / "notes.png"
    txt.write_text("not an image")
    argv = [a.format(img=img, model=model, txt=txt, tmp=tmp_path) for a in argv]
    r = subprocess.run([sys.executable, "-m", "onepixel.cli", *argv], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
