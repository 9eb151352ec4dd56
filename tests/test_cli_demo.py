"""``onepixel demo``: both attacks, the report, the figures and the next commands with their times."""

import contextlib
import io
import re
from pathlib import Path

import pytest
import torch

from conftest import CIFAR_DIR, needs_shared
from onepixel.cli import main
from test_doc_commands import parse_command
from toys.nets import CentrePixel

pytestmark = needs_shared(CIFAR_DIR)


@pytest.fixture(scope="module")
def toy_demo(tmp_path_factory) -> tuple[Path, str]:
    """The demo in a fast mode on a toy model (3 images, 200 queries per attack), run once: its folder and
    printed text."""
    tmp = tmp_path_factory.mktemp("demo")
    toy = tmp / "toy.pt"
    torch.jit.script(CentrePixel()).save(str(toy))
    out, printed = tmp / "demo", io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed):
        mp.setenv("ONEPIXEL_DATA", str(CIFAR_DIR))
        assert main(["demo", "--out", str(out), "--model", str(toy), "--n", "3", "--max-queries", "200"]) == 0
    return out, printed.getvalue()


def test_demo_in_fast_mode_on_a_toy_model_shows_both_attacks_and_the_next_commands(toy_demo):
    out, text = toy_demo
    html = (out / "report.html").read_text()
    assert "Robust accuracy, 1 px: clean accuracy 100.0 %" in html  # the strict protocol: correctly classified
    assert (out / "report_files" / "success-vs-queries.svg").is_file()
    for name in ("untargeted-figure.png", "untargeted-adversarial.png", "targeted-figure.png", "targeted-adversarial.png"):
        assert (out / name).stat().st_size > 100, name
    assert "1. Untargeted" in text and "2. Targeted" in text and "fooled" in text
    assert re.search(r"target \w+: now \w+", text)  # the targeted example succeeded, and says how it was chosen
    assert "toward the class it fell to" in text
    assert "confidence: mean probability of the class the fooled images fell to" in text  # the table's legend
    rate = float(re.search(r"at the ([\d,]+) queries/s this demo just measured", text).group(1).replace(",", ""))
    assert rate > 0
    for command in ("--protocol paper --paper --device cuda", "--protocol strict --mode untargeted", "onepixel attack"):
        assert command in text
    assert re.search(r"up to 545 M queries\): [\d.]+ (s|min|h|days) here; on a GPU about", text)
    printed = [line.strip() for line in text.splitlines() if line.startswith("    onepixel ")]
    assert len(printed) == 3
    for command in printed:  # the next commands parse against the current command line (options and choices)
        parse_command(command)


def test_demo_says_at_which_query_each_example_first_fooled_the_model(toy_demo):
    """The example lines give the query of the first success, as stored, not where the search stopped (a search
    finishes its round: the demo's first AllConv example fooled at query 2 and stopped at 8)."""
    from onepixel.campaign import load_results

    out, text = toy_demo
    df = load_results(out / "run")
    first = df[df["success"]].sort_values("queries").iloc[0]
    line = re.search(rf"test image #{int(first['image'])}, .*", text).group(0)
    assert f"fooled at query {int(first['first_success_query']):,}" in line
    assert "after" not in line.split("fooled at")[0]  # no queries-to-the-stop passed off as the success's
    for m in re.finditer(r"-> \w+ fooled at query ([\d,]+)", text):  # the targeted tries: each at its first success
        assert int(m.group(1).replace(",", "")) <= 200


def test_the_targeted_example_is_another_image_than_the_untargeted_one_where_one_fell(tmp_path, capsys):
    """AllConv's demo: its first untargeted success (#7820, a dog that fell to cat) also falls to the targeted
    attack toward cat, and so does #6877 (airplane -> ship); the targeted example shows #6877, not the same dog
    again."""
    import pandas as pd

    from onepixel import zoo
    from onepixel.cli.demo_command import targeted_step
    from onepixel.data import CIFAR10_CLASSES, load_cifar10

    x, _ = load_cifar10("test", CIFAR_DIR)
    fooled = pd.DataFrame({"image": [7820, 6877], "label": [5, 0], "predicted_after": [3, 8]})
    queries, _ = targeted_step(zoo.load("allconv"), list(CIFAR10_CLASSES), x, fooled, 200, tmp_path)
    text = capsys.readouterr().out
    assert "#7820 dog -> cat fooled" in text and "#6877 airplane -> ship fooled" in text and queries <= 400
    assert "test image #6877, an airplane" in text and "test image #7820" not in text
    assert (tmp_path / "targeted-figure.png").is_file()
