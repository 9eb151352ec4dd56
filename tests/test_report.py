import base64
import re

from conftest import CIFAR_DIR, needs_shared
from onepixel.campaign import evaluate
from onepixel.report import write_report

pytestmark = needs_shared(CIFAR_DIR)


def test_report_has_every_table_and_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("ONEPIXEL_DATA", str(CIFAR_DIR))
    a, b = tmp_path / "paper", tmp_path / "strict"
    evaluate("resnet20", a, n=4, protocol="paper", popsize=20, generations=4, progress=False)
    evaluate("allconv", b, n=4, protocol="strict", mode="untargeted", popsize=40, generations=6, progress=False)
    html, md = write_report([a, b], tmp_path / "rep", gallery=4)
    text, mdt = html.read_text(), md.read_text()
    for needle in ("Success rates in the paper's layout", "non-targeted", "targeted", "confidence",
                   "resnet20", "allconv", "95 % CI", "mean queries", "distortion"):
        assert needle in text and needle in mdt, needle
    # every HTML image is an embedded, decodable PNG; every Markdown image exists and is non-empty
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert uris and all(base64.b64decode(u)[:8] == b"\x89PNG\r\n\x1a\n" for u in uris)
    assert "src=\"http" not in text and "src=\"report_files" not in text
    refs = re.findall(r"\]\((report_files/[^)]+)\)", mdt)
    assert refs and all((tmp_path / "rep" / r).stat().st_size > 1000 for r in refs)
    assert any("success-vs-queries" in r for r in refs)
    assert any("target-classes" in r for r in refs)  # histogram (paper protocol run)
    assert len(uris) == len(refs)


def test_demo_runs_end_to_end(tmp_path, monkeypatch):
    from onepixel.cli import main

    monkeypatch.setenv("ONEPIXEL_DATA", str(CIFAR_DIR))
    assert main(["demo", "--out", str(tmp_path / "demo"), "--n", "2", "--generations", "1"]) == 0
    assert (tmp_path / "demo" / "report.html").stat().st_size > 10_000
    assert (tmp_path / "demo" / "targeted-adversarial.png").is_file()
