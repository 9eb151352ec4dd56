import re

import torch

from conftest import CIFAR_DIR, needs_shared
from onepixel.campaign import evaluate
from onepixel.report import write_report
from toys.nets import CentrePixel

pytestmark = needs_shared(CIFAR_DIR)


def test_report_has_every_table_and_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("ONEPIXEL_DATA", str(CIFAR_DIR))
    a, b = tmp_path / "paper", tmp_path / "strict"
    evaluate("resnet20", a, n=4, protocol="paper", popsize=20, generations=4, progress=False)
    evaluate("allconv", b, n=4, protocol="strict", mode="untargeted", popsize=40, generations=6, progress=False)
    html, md = write_report([a, b], tmp_path / "rep", gallery=4)
    text, mdt = html.read_text(), md.read_text()
    for needle in ("Robust accuracy", "clean accuracy", "accuracy under attack", "Success at fixed query budgets",
                   "Success rates in the paper's layout", 'untargeted, any target (paper: "non-targeted")', "targeted",
                   "confidence", "resnet20", "allconv", "95 % CI", "mean queries to the stop", "distortion",
                   "not comparable: DE 20 × 4, not the paper's 400 × 100"):
        assert needle in text and needle in mdt, needle
    assert "(paper " not in mdt  # neither run has the paper's settings
    # every HTML image is a PNG file beside it, as every Markdown image is
    srcs = re.findall(r'<img src="([^"]+)"', text)
    assert srcs and all((tmp_path / "rep" / s).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for s in srcs)
    refs = re.findall(r"\]\((report_files/[^)]+)\)", mdt)
    assert refs and all((tmp_path / "rep" / r).stat().st_size > 1000 for r in refs)
    assert any("success-vs-queries" in r for r in refs)
    assert any("target-classes" in r for r in refs)  # histogram (paper protocol run)
    assert sorted(srcs) == sorted(refs)


def test_demo_in_fast_mode_on_a_toy_model_shows_both_attacks_and_the_next_commands(tmp_path, monkeypatch, capsys):
    from onepixel.cli import main

    monkeypatch.setenv("ONEPIXEL_DATA", str(CIFAR_DIR))
    toy = tmp_path / "toy.pt"
    torch.jit.script(CentrePixel()).save(str(toy))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--model", str(toy), "--n", "3", "--max-queries", "200"]) == 0
    text = capsys.readouterr().out
    html = (out / "report.html").read_text()
    assert "Robust accuracy, 1 px: clean accuracy 100.0 %" in html  # the strict protocol: correctly classified
    assert (out / "report_files" / "success-vs-queries.svg").is_file()
    for name in ("untargeted-figure.png", "untargeted-adversarial.png", "targeted-figure.png", "targeted-adversarial.png"):
        assert (out / name).stat().st_size > 100, name
    assert "1. Untargeted" in text and "2. Targeted" in text and "fooled" in text
    assert re.search(r"target \w+: now \w+", text)  # the targeted example succeeded, and says how it was chosen
    assert "toward the class it fell to" in text
    rate = float(re.search(r"at the ([\d,]+) queries/s this demo just measured", text).group(1).replace(",", ""))
    assert rate > 0
    for command in ("--protocol paper --paper --device cuda", "--protocol strict --mode untargeted", "onepixel attack"):
        assert command in text
    assert re.search(r"up to 545 M queries\): [\d.]+ (s|min|h|days) here; on a GPU about", text)
