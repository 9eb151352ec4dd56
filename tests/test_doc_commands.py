"""Every command shown in README.md, docs/guide/, docs/extending.md and docs/results.md still works with the
current code.

The pages' fenced code blocks are read in document order. In a ``bash`` block, each line that calls ``onepixel``
is a command and each ``python3 -c "CODE"`` line is code; in a ``python`` block, the whole block is code. Commands and code of one page run in order in one
scratch folder (so a run that one command writes is there for the next) that holds the files the examples name:
``cat.png`` (a CIFAR-10 test image of a cat, one that falls fast). A block preceded by the HTML comment

    <!-- docs-test: parse-only -->

is too slow, needs hardware or files a reader has and the tests do not (a GPU, a model file, photos): its
commands are only parsed against the current CLI (every option and choice must exist) and its Python code only
compiled.
"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pytest

from conftest import CIFAR_DIR, ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs" / "guide").glob("*.md")), ROOT / "docs" / "extending.md",
         ROOT / "docs" / "results.md"]
BLOCK = re.compile(r"(?:<!--\s*docs-test:\s*(?P<mode>[a-z-]+)\s*-->\s*\n)?^```(?P<lang>[a-z]*)[^\n]*\n(?P<body>.*?)^```",
                   re.S | re.M)


#: a CIFAR-10 test cat that AllConv's default search fools in a few dozen queries, so the examples run fast
CAT = 46


@dataclass
class Snippet:
    page: str
    line: int
    lang: str  # "bash" (one command) or "python" (one block)
    text: str
    run: bool  # False: parse / compile only

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def commands(body: str) -> list[tuple[int, str, str]]:
    """The ``onepixel`` command lines of a bash block (continuations joined) as ("bash", command) and its
    ``python3 -c`` lines as ("python", code), with their line offset."""
    out, buf, start = [], "", 0
    for i, line in enumerate(body.splitlines()):
        if not buf:
            start = i
        buf += line.rstrip("\\").rstrip() + " " if line.rstrip().endswith("\\") else line
        if line.rstrip().endswith("\\"):
            continue
        words = shlex.split(buf, comments=True)
        while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value prefixes
            words.pop(0)
        if words and words[0] == "onepixel":
            out.append((start, "bash", shlex.join(words)))
        elif len(words) >= 3 and words[0] in ("python", "python3") and words[1] == "-c":
            out.append((start, "python", words[2]))
        buf = ""
    return out


def snippets(page: Path) -> list[Snippet]:
    text = page.read_text()
    rel = str(page.relative_to(ROOT))
    found = []
    for m in BLOCK.finditer(text):
        line = text[:m.start("body")].count("\n") + 1
        run = m.group("mode") != "parse-only"
        if m.group("lang") == "bash":
            found += [Snippet(rel, line + i, lang, text, run) for i, lang, text in commands(m.group("body"))]
        elif m.group("lang") == "python":
            found.append(Snippet(rel, line, "python", m.group("body"), run))
    return found


def parse_command(cmd: str) -> None:
    """Parse a command with the real CLI, without running it: unknown options, bad choices and types fail."""
    from onepixel.cli import cli

    args = shlex.split(cmd)[1:]
    ctx = cli.make_context("onepixel", list(args))
    name, sub, rest = cli.resolve_command(ctx, ctx.protected_args + ctx.args)
    assert sub is not None, f"no such command: {name}"
    with sub.make_context(name, rest, parent=ctx):
        pass


def make_sandbox(folder: Path) -> None:
    from onepixel.data import load_cifar10
    from onepixel.imageio import write_png

    x, y = load_cifar10("test")
    assert int(y[CAT]) == 3
    write_png(folder / "cat.png", np.asarray(x[CAT]))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_commands_parse(page):
    for s in snippets(page):
        if s.lang == "bash":
            try:
                parse_command(s.text)
            except click.ClickException as e:
                pytest.fail(f"{s.where}: `{s.text}` does not parse: {e.format_message()}")
        else:
            compile(s.text, s.where, "exec")


def run_cli(s: Snippet, folder: Path) -> None:
    """Run a command in this process (the CLI's own entry point, as the ``onepixel`` script calls it)."""
    from onepixel.cli import main

    code = main(shlex.split(s.text)[1:])
    assert code == 0, (f"{s.where}: `{s.text}` exited {code} (a block that cannot run in a test, slow or needing "
                       "files or hardware, is marked <!-- docs-test: parse-only --> above its fence)")


@pytest.fixture
def registries_restored():
    """The worked examples register a search and a model format; later tests must not see them."""
    from onepixel.models.loading import MODEL_FORMATS
    from onepixel.search import SEARCHES

    saved = [(registry, dict(registry)) for registry in (SEARCHES, MODEL_FORMATS)]
    yield
    for registry, before in saved:
        registry.clear()
        registry.update(before)


def page_has_runs(page: Path) -> bool:
    return any(s.run for s in snippets(page))


@pytest.mark.skipif(not CIFAR_DIR.is_dir(), reason=f"{CIFAR_DIR} is absent (the examples read CIFAR-10; no test downloads)")
@pytest.mark.parametrize("page", [p for p in PAGES if page_has_runs(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_page_commands_run(page, tmp_path, monkeypatch, one_torch_thread, registries_restored):
    make_sandbox(tmp_path)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for s in snippets(page):
        if not s.run:
            continue
        start = time.perf_counter()
        if s.lang == "bash":
            run_cli(s, tmp_path)
        else:
            exec(compile(s.text, s.where, "exec"), namespace)
        print(f"{time.perf_counter() - start:6.1f} s  {s.where}  {s.text.splitlines()[0][:90]}")


@pytest.mark.skipif(not CIFAR_DIR.is_dir(), reason=f"{CIFAR_DIR} is absent (the line reads CIFAR-10)")
@pytest.mark.parametrize("page", ["README.md", "docs/guide/getting-started.md"])
def test_a_page_makes_the_image_its_commands_attack_before_the_first_one(page, tmp_path, monkeypatch):
    """A newcomer has no ``cat.png``: the README and the getting-started guide show the line that makes it before
    their first command that reads it, and that line, run in an empty folder, writes the cat the tests attack."""
    from PIL import Image

    from onepixel.data import load_cifar10

    found = snippets(ROOT / page)
    first_use = next(i for i, s in enumerate(found) if s.lang == "bash" and "cat.png" in s.text)
    makers = [s for s in found[:first_use] if s.lang == "python" and "cat.png" in s.text]
    assert makers, f"{page} attacks cat.png without showing how to make it first"
    monkeypatch.setenv("ONEPIXEL_DATA", str(CIFAR_DIR))
    monkeypatch.chdir(tmp_path)
    exec(compile(makers[-1].text, makers[-1].where, "exec"), {"__name__": "__docs__"})
    x, _ = load_cifar10("test")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "cat.png").convert("RGB")), x[CAT])


@pytest.mark.skipif(not CIFAR_DIR.is_dir(), reason=f"{CIFAR_DIR} is absent (the examples read CIFAR-10)")
@pytest.mark.parametrize("page", ["README.md", "docs/guide/getting-started.md"])
def test_the_first_python_example_fools_an_image_the_model_had_right(page, monkeypatch, one_torch_thread):
    """A newcomer's first ``op.attack`` shows an attack that works: some image falls, and every image counted
    fooled was classified correctly before (a success rate of 0.0, or one made of images the model already got
    wrong, reads as a broken tool)."""
    monkeypatch.setenv("ONEPIXEL_DATA", str(CIFAR_DIR))
    first = next(s for s in snippets(ROOT / page) if s.lang == "python" and "op.attack(" in s.text)
    namespace: dict = {"__name__": "__docs__"}
    exec(compile(first.text, first.where, "exec"), namespace)
    res = namespace["res"]
    assert res.success_rate > 0
    assert all(r.predicted_before == r.label for r in res if r.success)
