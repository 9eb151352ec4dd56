"""The command line as a whole: help, version, one-line errors, the search options attack and evaluate share."""

import json
import os
import subprocess
import sys

import click
import pytest

from cli_helpers import run
from conftest import ROOT
from onepixel import __version__
from onepixel.cli import main
from onepixel.errors import OnepixelError


def test_help_and_version(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "attack" in out and "evaluate" in out
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and __version__ in out


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
        (["evaluate", "--model", "allconv", "--out", "{tmp}/r", "--search", "de", "--sweep", "1"],
         "--sweep 1.0: an rs option, but the search is de"),
        (["attack", "{img}", "--model", "{model}", "--paper", "--sweep", "1"], "an rs option, but the search is de"),
        (["attack", "{img}", "--model", "{model}", "--sweep", "0"], "--sweep"),
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


def test_cli_search_choice_and_paper_flag(tiny_attack_args):
    from onepixel.cli import main

    assert main([*tiny_attack_args, "--search", "rs", "--max-queries", "40"]) == 0
    assert main([*tiny_attack_args, "--paper", "--search", "rs"]) == 2


def test_cli_loss_option(tiny_attack_args, capsys):
    args = tiny_attack_args
    assert main([*args, "--loss", "margin", "--target", "1", "--max-queries", "40"]) == 0
    assert json.loads(capsys.readouterr().out)["queries"] <= 40
    assert main([*args, "--paper", "--loss", "margin"]) == 2
    err = capsys.readouterr().err
    assert "--paper means the paper's DE" in err and "drop --loss margin" in err and "Traceback" not in err


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
    assert "the paper's net: test accuracy" in out  # the paper's column says what its number is
    assert "85.6%" in rows[0]  # the paper's AllConv (Su et al., Table I)


def test_plain_onepixel_shows_the_help_and_python_m_onepixel_runs_the_cli(capsys):
    """`onepixel` alone is a request for help, not an error; `python -m onepixel` works where the script is not
    on the PATH."""
    code, out, err = run([], capsys)
    assert code == 0 and err == "" and out.startswith("Usage: onepixel") and "onepixel demo" in out
    done = subprocess.run([sys.executable, "-m", "onepixel", "--version"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0 and done.stdout.startswith("onepixel, version"), done.stderr
