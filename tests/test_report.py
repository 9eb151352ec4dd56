import re

from conftest import CIFAR_DIR, needs_shared
from onepixel.campaign import evaluate
from onepixel.report import write_report

pytestmark = needs_shared(CIFAR_DIR)


def test_report_has_every_table_and_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("ONEPIXEL_DATA", str(CIFAR_DIR))
    a, b = tmp_path / "paper", tmp_path / "strict"
    evaluate("resnet20", a, n=4, protocol="paper", search="de", popsize=20, generations=4, progress=False)
    evaluate("allconv", b, n=4, protocol="strict", mode="untargeted", search="de", popsize=40, generations=6, progress=False)
    html, md = write_report([a, b], tmp_path / "rep", gallery=4)
    text, mdt = html.read_text(), md.read_text()
    for needle in ("Robust accuracy", "clean accuracy", "accuracy under attack", "Success at fixed query budgets",
                   "Success rates in the paper's layout", 'untargeted, any target (paper: "non-targeted")', "targeted",
                   "confidence", "resnet20", "allconv", "95 % CI", "mean queries to the stop", "distortion",
                   "not comparable: DE 20 × 4, not the paper's 400 × 100"):
        assert needle in text and needle in mdt, needle
    assert "(paper " not in mdt  # neither run has the paper's settings
    for term in ("confidence", "s / image", "distortion / channel"):  # every column that is not plain says what it is
        assert f"<em>{term}</em>: " in text and f"*{term}*: " in mdt, term
    # every HTML image is a PNG file beside it, as every Markdown image is
    srcs = re.findall(r'<img src="([^"]+)"', text)
    assert srcs and all((tmp_path / "rep" / s).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for s in srcs)
    refs = re.findall(r"\]\((report_files/[^)]+)\)", mdt)
    assert refs and all((tmp_path / "rep" / r).stat().st_size > 1000 for r in refs)
    assert any("success-vs-queries" in r for r in refs)
    assert any("target-classes" in r for r in refs)  # histogram (paper protocol run)
    assert sorted(srcs) == sorted(refs)


def test_the_terminal_summary_fits_80_columns_without_breaking_a_number(monkeypatch):
    from rich.console import Console

    import onepixel.report.tables as tables

    out = Console(width=80, record=True, no_color=True)
    monkeypatch.setattr(tables, "console", lambda table=None: out)
    rows = [dict(pixels=1, kind="untargeted, any target", successes=8, n=40, rate=0.2, ci_low=0.08, ci_high=0.42,
                 confidence=0.713, mean_queries=3412.5, seconds_per_image=1.3)]
    tables.print_summary(rows, title="allconv — paper protocol, 6 images, search rs")
    lines = out.export_text().splitlines()
    table = [line for line in lines if not line.startswith("confidence:")]  # the legend wraps as prose
    assert max(len(line) for line in table) <= 80
    assert any("8/40" in line and "20.0 % (8–42 %)" in line and "3,412" in line and "1.3" in line for line in table)
