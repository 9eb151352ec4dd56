import json
import re
import subprocess
import sys

import click
import numpy as np
import pytest
import torch
from PIL import Image

from onepixel import __version__
from onepixel.cli import main
from onepixel.errors import OnepixelError
from toys.nets import PlantedRed


@pytest.fixture
def scripted(tmp_path):
    path = tmp_path / "planted.pt"
    torch.jit.script(PlantedRed()).save(str(path))
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
    found = re.search(r"SUCCESS \(untargeted, search de\): fooled after ([\d,]+) queries \(stopped at ([\d,]+) of at "
                      r"most 2,100\), \d+ generations", out)  # DE: tuned population, stops at the paper's threshold
    assert found and int(found[1].replace(",", "")) <= int(found[2].replace(",", ""))
    assert "JPEG re-encode at quality 95" in out
    code, out, _ = run(["attack", str(img), "-m", str(model), "--search", "rs", "--max-queries", "3",
                        "-o", str(tmp_path / "b.png")], capsys)
    assert code == 0 and re.search(r"search rs\)(: fooled after \d queries \(stopped at 3 of at most 3\)| after 3 of at "
                                   r"most 3 queries), \d+ rounds", out)
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
        (["attack", "{img}", "--model", "{model}", "--popsize", "50"], "--popsize 50: DE options, but the search is rs"),
        (["evaluate", "--model", "allconv", "--out", "{tmp}/r", "--search", "cma", "--generations", "5"],
         "--generations 5: DE options, but the search is cma; add --search de"),
        (["attack", "{img}", "--model", "{model}", "--paper", "--popsize", "50"], "drop --popsize 50"),
        (["evaluate", "--model", "allconv", "--out", "{tmp}/r", "--paper", "--max-queries", "9"], "drop --max-queries 9"),
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


def _options(command):
    return {p.name: p for p in command.params}


def test_attack_and_evaluate_share_the_search_options():
    """The same names, defaults, choices and help for the search options of both commands; DE-only ones say so."""
    from onepixel.cli import attack, evaluate

    a, e = _options(attack), _options(evaluate)
    for name in ("search_name", "paper", "max_queries", "popsize", "generations", "loss", "seed", "device"):
        assert a[name].default == e[name].default and a[name].help == e[name].help and a[name].opts == e[name].opts
    assert a["search_name"].default == "rs" and list(a["search_name"].type.choices) == list(e["search_name"].type.choices)
    assert a["popsize"].help.startswith("[DE only") and a["generations"].help.startswith("[DE only")


def test_every_option_has_help_and_the_command_list_is_not_cut(capsys):
    from onepixel.cli import cli

    for name, command in cli.commands.items():
        missing = [p.name for p in command.params if isinstance(p, click.Option) and not p.help and p.name != "help"]
        assert not missing, f"{name}: {missing}"
    code, out, _ = run(["--help"], capsys)
    for name, command in cli.commands.items():
        first = command.help.split("\n\n")[0].split(". ")[0]
        assert " ".join(first.split()) in " ".join(out.split()), name  # the whole first sentence, not "..."
    assert "..." not in out.split("\n", 1)[1]  # (the usage line ends in "[ARGS]...")
    for name, command in cli.commands.items():  # each command's own help: every option with its whole text
        code, out, _ = run([name, "--help"], capsys)
        flat = " ".join(out.split())
        assert code == 0, name
        for p in command.params:
            if isinstance(p, click.Option) and p.name != "help":
                assert p.opts[0] in out and " ".join(p.help.split())[:60] in flat, (name, p.name)


def test_paper_means_the_papers_de_in_both_commands(scripted, tmp_path, capsys, monkeypatch):
    from onepixel.cli import resolve_search

    assert resolve_search("rs", True, None, None, None, search_given=False) == ("de", 400, 100)
    assert resolve_search("de", True, 400, 100, None, search_given=True) == ("de", 400, 100)
    assert resolve_search("rs", False, None, None, 500, search_given=False) == ("rs", None, None)
    assert resolve_search("de", False, 40, None, None, search_given=True) == ("de", 40, None)
    captured = {}

    def fake_evaluate(model, out, **kw):
        captured.update(kw)
        raise OnepixelError("stop here: what evaluate was asked for is recorded")

    monkeypatch.setattr("onepixel.campaign.evaluate", fake_evaluate)
    from onepixel.search import DifferentialEvolution, RandomSearch

    for argv, want in ((["--paper"], (DifferentialEvolution.paper(), None)), ([], (RandomSearch(), None)),
                       (["--search", "de", "--popsize", "40"], (DifferentialEvolution(popsize=40), None)),
                       (["--max-queries", "500"], (RandomSearch(budget=500), 500))):
        assert main(["evaluate", "-m", "allconv", "--out", str(tmp_path / "r"), *argv]) == 2
        assert (captured["search"], captured["max_queries"]) == want
        assert captured["n"] == 6  # without --n: a quick run, 6 images x 9 targeted attacks


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


def test_tables_in_a_log_are_not_wrapped_mid_word(capsys):
    """stdout not a terminal (a log): a table is printed as wide as it needs, every cell on one line."""
    from rich.table import Table

    from onepixel.report.tables import console

    long = " ".join(f"word{i}" for i in range(45))  # ~300 characters in one cell
    table = Table(title="a log")
    table.add_column("name")
    table.add_column("what")
    table.add_row("allconv", long)
    console(table).print(table)
    out = capsys.readouterr().out
    assert any(long in line and "allconv" in line for line in out.splitlines()), out
    code, out, _ = run(["models"], capsys)
    rows = [line for line in out.splitlines() if "allconv" in line]
    assert code == 0 and len(rows) == 1 and "%" in rows[0]  # name, accuracy and hash on one line
