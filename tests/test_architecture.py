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


#: the most lines a module of the package may have (one job per module)
MODULE_LINES = 400
#: the most lines of code a function may have, its docstring not counted (small named steps)
FUNCTION_LINES = 60


def test_no_module_is_over_the_size_of_one_job():
    big = {str(p.relative_to(PACKAGE)): n for p in sorted(PACKAGE.rglob("*.py"))
           if (n := len(p.read_text().splitlines())) > MODULE_LINES}
    assert not big, f"modules over {MODULE_LINES} lines (split them by job): {big}"


def test_no_function_is_over_sixty_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body[1:] if ast.get_docstring(node) is not None else node.body
                if body and (n := body[-1].end_lineno - body[0].lineno + 1) > FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}: {node.name} ({n} lines)")
    assert not long, f"functions over {FUNCTION_LINES} lines of code (name their steps): {long}"


def test_entry_points_build_their_attack_through_assemble():
    """Only assemble.py builds a Runner or a search by name; the entry points (api, cli, campaign, sweep,
    spaces) ask it, so one setting means the same everywhere."""
    builders = {"Runner", "make_search", "DifferentialEvolution", "RandomSearch", "CornerSearch", "CMAES", "Oracle"}
    allowed = {"assemble.py", "runner.py", "oracle.py", "search", "campaign/config.py", "models"}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(PACKAGE))
        if rel in allowed or rel.split("/")[0] in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                if name in builders:
                    found.append(f"{rel}:{node.lineno} calls {name}")
    assert not found, found


def test_the_command_line_is_one_module_per_command_group():
    cli = PACKAGE / "cli"
    assert not (PACKAGE / "cli.py").exists() and (cli / "__init__.py").is_file()
    for path in sorted(cli.glob("*_command*.py")):
        for module, _ in _imports(path):
            assert not module.startswith(".") or module.lstrip(".") in ("app", "options", "campaign_commands") \
                or module.startswith(".."), f"{path.name} imports {module}: command modules share only app and options"
