"""The package's one-way structure, checked on the source: what each layer may import."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "onepixel"


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module as written, imported names) of every import in ``path``, relative ones with their dots."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append(("." * node.level + (node.module or ""), [a.name for a in node.names]))
    return out


def test_searches_import_neither_torch_nor_the_models():
    for path in sorted((PACKAGE / "search").glob("*.py")):
        for module, _ in _imports(path):
            assert not module.split(".")[0] == "torch", f"{path.name} imports {module}: searches never touch the model"
            assert "models" not in module.split("."), f"{path.name} imports {module}: searches never touch the model"
            assert module.lstrip(".") not in ("runner", "oracle", "objectives") or not module.startswith(".."), \
                f"{path.name} imports {module}: searches see fitness values only"


def test_no_private_name_crosses_a_module_border():
    """``from .x import _name`` would tie a module to another's internals: a shared name is made public. The
    package's own modules, the benchmarks and the scripts all import public names only."""
    crossing = []
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py"), *(ROOT / "scripts").rglob("*.py")]
    assert len(files) > len(list(PACKAGE.rglob("*.py")))  # the benchmarks and scripts were found
    for path in sorted(files):
        for module, names in _imports(path):
            if module.startswith(".") or module.startswith("onepixel"):
                crossing += [f"{path.relative_to(ROOT)}: {module} {n}" for n in names
                             if n.startswith("_") and not n.startswith("__")]
    assert not crossing, crossing


def test_model_adapters_do_not_import_the_zoo():
    """The zoo is built on the adapters; it registers its names with models.loading, never the other way."""
    for path in sorted((PACKAGE / "models").glob("*.py")):
        for module, names in _imports(path):
            assert "zoo" not in module.split(".") and "zoo" not in names, f"{path.name} imports {module} {names}"
