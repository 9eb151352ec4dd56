"""What the commands share: the search options of ``attack`` and ``evaluate`` (the same names, defaults and
meanings) and how class names and durations are read and written."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import click

from ..errors import InputError, OnepixelError
from ..inputs import check_class, closest
from ..objectives import LOSSES


def parse_class(clf, value: str | None, what: str) -> int | None:
    if value is None:
        return None
    names = [n.lower() for n in (getattr(clf, "class_names", None) or [])]
    if value.lower() in names:
        return names.index(value.lower())
    try:
        index = int(value)
    except ValueError:
        hint = closest(value, names) if names else ""
        raise OnepixelError(f"{what} {value!r} is neither a class index nor a class name{hint}") from None
    return check_class(index, getattr(clf, "num_classes", None) or (len(names) or None), what)


#: the searches the CLI offers, with what each is; rs is the default of every command
SEARCHES = {
    "rs": "Sparse-RS-style random search (the default: the most successes per query)",
    "de": "differential evolution (the paper's search)",
    "corner": "CornerSearch scan",
    "cma": "CMA-ES",
    "oracle": "exhaustive scan of every one-pixel corner change (1 pixel only)",
}


def search_options(f: Any) -> Any:
    """The search options ``attack`` and ``evaluate`` share: the same names, defaults and meanings."""
    options = [
        click.option("--search", "search_name", type=click.Choice(list(SEARCHES)), default="rs", show_default=True,
                     help="How candidate changes are searched: " + "; ".join(f"{k}: {v}" for k, v in SEARCHES.items())
                          + "."),
        click.option("--paper", is_flag=True,
                     help="The paper's attack: --search de with population 400, 100 generations, rand/1, F = 0.5 "
                          "and no query cap; refuses any option that changes it."),
        click.option("--max-queries", type=click.IntRange(min=1), default=None,
                     help="Cap on search queries per attack [default: the search's own budget: rs 10,000 (4,864 "
                          "for 1 pixel on 32x32: half the corner colours, 256 more at the best spots, 512 finer "
                          "ones), de "
                          "population x (generations + 1) = 40,400]."),
        click.option("--popsize", type=int, default=None,
                     help="[DE only: with --search de] population per image [default: 400, the paper's]."),
        click.option("--generations", type=int, default=None,
                     help="[DE only: with --search de] generations after the first population [default: 100, the "
                          "paper's]."),
        click.option("--sweep", type=click.FloatRange(min=0.0, max=1.0, min_open=True), default=None,
                     help="[rs only] At 1 pixel, the share of the corner changes walked before the completion and "
                          "refinement [default: 0.5]; 1 walks every one, as rs did before, which resumes runs "
                          "stored by it."),
        click.option("--loss", type=click.Choice(LOSSES), default="probability", show_default=True,
                     help="What the search minimises: the paper's class probability, or the margin to the strongest "
                          "rival class (helps targeted attacks where the target's probability is flat)."),
        click.option("--seed", default=0, show_default=True, help="Random seed; the same seed gives the same result."),
        click.option("--device", default="cpu", show_default=True, callback=check_device,
                     help="Where the model runs: cpu, cuda or cuda:N (a GPU runs a campaign ~100x faster)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def check_device(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A --device that torch can read (cpu, cuda, cuda:N, mps, ...): a typo is a one-line usage error here, not
    a traceback from deep in the model adapter."""
    from ..models.pytorch import as_device

    try:
        as_device(value)
    except InputError as e:
        raise click.BadParameter(str(e)) from None
    return value


def resolve_search(search_name: str, paper: bool, popsize: int | None, generations: int | None,
                   max_queries: int | None, search_given: bool,
                   loss: str = "probability") -> tuple[str, int | None, int | None]:
    """``(search, popsize, generations)`` from the shared options (DE's: None where not given, the paper's with
    ``--paper``); DE options with another search, or options that change the paper's DE with ``--paper`` (its
    budget, its fitness), are errors (never a silent switch)."""
    from ..search.de import DifferentialEvolution

    de_given = [f"--{name} {value}" for name, value in (("popsize", popsize), ("generations", generations))
                if value is not None]
    if paper:
        the_paper = DifferentialEvolution.paper()
        clash = [f"--search {search_name}"] if search_given and search_name != "de" else []
        clash += [f"--{name} {value}" for name, value in (("popsize", popsize), ("generations", generations))
                  if value is not None and value != getattr(the_paper, name)]
        clash += [f"--max-queries {max_queries}"] if max_queries is not None else []
        clash += [f"--loss {loss}"] if loss != "probability" else []
        if clash:
            raise OnepixelError(f"--paper means the paper's DE (population 400, 100 generations, no query cap, the "
                                f"class probability as fitness); "
                                f"drop {', '.join(clash)}")
        return "de", the_paper.popsize, the_paper.generations
    if search_name != "de" and de_given:
        raise OnepixelError(f"{' and '.join(de_given)}: DE options, but the search is {search_name}; add --search de "
                            f"(or --paper for the paper's DE), or drop them")
    return search_name, popsize, generations


def cli_search(search_name: str, popsize: int | None, generations: int | None, max_queries: int | None,
               sweep: float | None = None, pixels: Sequence[int] = ()) -> Any:
    """The search object of the resolved options (DE with its population and generations, rs with its sweep);
    the oracle with a pixel count other than 1 (``pixels``: the -k counts) is refused here, before a progress
    bar opens."""
    from ..assemble import search_with
    from ..search import RandomSearch
    from ..search.oracle import Oracle

    search = search_with(search_name, max_queries, popsize=popsize, generations=generations)
    more = sorted({k for k in pixels if k != 1})
    if isinstance(search, Oracle) and more:
        raise OnepixelError(f"-k {more[0]}: the oracle scans one-pixel changes only; use -k 1 or another --search")
    if sweep is None:
        return search
    if not isinstance(search, RandomSearch):
        raise OnepixelError(f"--sweep {sweep}: an rs option, but the search is {search_name}; drop --sweep, or use "
                            "--search rs without --paper")
    return dataclasses.replace(search, sweep=sweep)


def search_given(ctx: click.Context) -> bool:
    return ctx.get_parameter_source("search_name") is not click.core.ParameterSource.DEFAULT


def class_names_of(clf: Any) -> list[str] | None:
    return getattr(clf, "class_names", None) or None


def class_name(names: list[str] | None, k: int | None) -> str | None:
    return names[k] if names is not None and k is not None and 0 <= k < len(names) else None


def duration(seconds: float) -> str:
    """A rough human duration: "40 s", "12 min", "3.4 h", "2.1 days"."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
