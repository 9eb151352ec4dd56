"""The one place that turns attack settings into a runner: a criterion with its thresholds, a search with its own
settings, and the :class:`~onepixel.runner.Runner` joining them to a model.

Every entry point builds its attack here (:func:`onepixel.attack`, campaigns, the benchmarks), so the paper's
numbers live in one place each: DE's population, generations, strategy and F are
:meth:`DifferentialEvolution.paper() <onepixel.search.de.DifferentialEvolution.paper>`, the early-stop thresholds
(0.05 untargeted, 0.90 targeted) the criteria's defaults.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .candidates import PixelSpace
from .errors import InputError
from .models.base import Classifier
from .objectives import Criterion, Loss, Targeted, Untargeted
from .runner import Runner
from .search import make_search
from .search.base import Search
from .search.de import DifferentialEvolution


def criterion_for(targeted: bool, threshold: float | None = None, stop_on_success: bool = False,
                  loss: Loss = "probability") -> Criterion:
    """The criterion of an untargeted or targeted attack; ``threshold`` None keeps the criterion's own default."""
    kind = Targeted if targeted else Untargeted
    if threshold is None:
        return kind(stop_on_success=stop_on_success, loss=loss)
    return kind(threshold, stop_on_success, loss)


#: the settings only DE takes, by the keywords :func:`onepixel.attack` and ``evaluate`` accept for it
DE_SETTINGS = ("popsize", "generations", "strategy", "mutation", "crossover")


def search_for(search: Search | str, max_queries: int | None = None,
               de: DifferentialEvolution | None = None) -> Search:
    """A search object as it is; a name through :func:`~onepixel.search.make_search`, planned for ``max_queries``;
    ``"de"`` is ``de`` (default: the paper's DE)."""
    if not isinstance(search, str):
        return search
    if search.lower() == "de":
        return de if de is not None else DifferentialEvolution.paper()
    return make_search(search, budget=max_queries)


def search_with(search: Search | str, max_queries: int | None = None, **de_settings: Any) -> Search:
    """:func:`search_for` with DE's settings as keywords (``None``: not given; the paper's value): they build the
    DE of ``search="de"``; with any other search, or a search object, they are refused (never a silent switch or
    a setting silently ignored)."""
    given = {k: v for k, v in de_settings.items() if v is not None}
    unknown = sorted(set(given) - set(DE_SETTINGS))
    if unknown:
        raise InputError(f"unknown search setting(s) {', '.join(unknown)}; DE takes {', '.join(DE_SETTINGS)}")
    if not given:
        return search_for(search, max_queries)
    named_de = isinstance(search, str) and search.lower() == "de"
    if not named_de:
        what = f"the search is {search!r}" if isinstance(search, str) else f"search is a {type(search).__name__} object"
        raise InputError(f"{', '.join(f'{k}={v!r}' for k, v in given.items())}: DE settings, but {what}; pass "
                         f"search='de' with them, or search=DifferentialEvolution({', '.join(given)}=...)")
    return DifferentialEvolution(**given)


def fresh(search: Search) -> Search:
    """A new search with the same settings and no state (each batch of a campaign starts its own)."""
    return dataclasses.replace(search) if dataclasses.is_dataclass(search) else search


def most_queries(search: Search, pixels: int, shape: tuple[int, ...], max_queries: int | None = None) -> int:
    """The most search queries one attack with ``search`` spends on an image of ``shape`` (H, W, C): the search's
    own length (rs at one pixel: half the corner changes, 256 more and its refinement), capped by ``max_queries``."""
    planned = fresh(search)
    planned.start(PixelSpace(shape[0], shape[1], shape[2], pixels), [])
    most = planned.max_queries()
    return most if max_queries is None else min(most, max_queries)


def runner_for(model: Classifier, search: Search, *, targeted: bool, pixels: int = 1,
               max_queries: int | None = None, threshold: float | None = None, stop_on_success: bool = False,
               loss: Loss = "probability", memo: bool = True) -> Runner:
    """A runner for ``search`` on ``model``: k = ``pixels``, capped at ``max_queries`` per image, with the
    criterion :func:`criterion_for` gives."""
    return Runner(model, criterion_for(targeted, threshold, stop_on_success, loss), search, pixels, max_queries, memo)
