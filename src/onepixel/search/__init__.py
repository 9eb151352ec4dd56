"""Search strategies: each proposes candidates (``ask``) and learns from their fitness (``tell``).

Searches never touch the model; the runner owns it (this package imports neither torch nor the models).
Every search keeps one state row per image, so a batch of images is searched at once, and each image draws
from its own random stream so that its result does not depend on which other images share the batch.

:func:`make_search` builds one by name:

| name | class | default budget per image (queries) |
|---|---|---|
| ``de`` | :class:`DifferentialEvolution` | 40,400 (the paper: population 400, 100 generations) |
| ``rs`` | :class:`RandomSearch` | 10,000 (Sparse-RS-style; k = 1: corners, then 512 finer) |
| ``corner`` | :class:`CornerSearch` | H × W × 8 scan (8,192 on CIFAR-10); k > 1: 10,000 |
| ``cma`` | :class:`CMAES` | 10,000 (needs ``pip install 'onepixel[cma]'``) |
| ``oracle`` | :class:`Oracle` | H × W × 8 (every one-pixel corner change; k = 1 only) |
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError
from .base import Search
from .cma import CMAES
from .corner import CornerSearch
from .de import DifferentialEvolution
from .oracle import Oracle
from .random import RandomSearch

SEARCHES: dict[str, type] = {
    "de": DifferentialEvolution,
    "rs": RandomSearch,
    "corner": CornerSearch,
    "cma": CMAES,
    "oracle": Oracle,
}

#: searches whose schedule or length follows a per-image query budget (``budget=`` option)
BUDGETED = ("rs", "corner", "cma")


def make_search(name: str, budget: int | None = None, **options: Any) -> Search:
    """Build a search by name (``de``, ``rs``, ``corner``, ``cma``, ``oracle``) with its options.

    ``budget`` (per-image queries) is passed to the searches that plan around it (rs, corner, cma) and
    ignored by the others, whose length is fixed by their own settings (DE: popsize x (generations + 1);
    oracle: the full scan); the runner's ``max_queries`` caps every search in any case.
    """
    key = name.lower()
    if key not in SEARCHES:
        raise InputError(f"unknown search {name!r}; choose one of {', '.join(SEARCHES)}")
    if budget is not None and key in BUDGETED:
        options = {"budget": int(budget), **options}
    try:
        return SEARCHES[key](**options)
    except TypeError as e:  # an option the search does not have: name it in one line
        raise InputError(f"bad option for search {key!r}: {e}") from None


__all__ = ["BUDGETED", "CMAES", "SEARCHES", "CornerSearch", "DifferentialEvolution", "Oracle", "RandomSearch",
           "Search", "make_search"]
