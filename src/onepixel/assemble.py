"""The one place that turns attack settings into a runner: a criterion with its thresholds, a search with its own
settings, and the :class:`~onepixel.runner.Runner` joining them to a model.

Every entry point builds its attack here (:func:`onepixel.attack`, campaigns, the benchmarks), so the paper's
numbers live in one place each: DE's population, generations, strategy and F are
:meth:`DifferentialEvolution.paper() <onepixel.search.de.DifferentialEvolution.paper>`, the early-stop thresholds
(0.05 untargeted, 0.90 targeted) the criteria's defaults.
"""

from __future__ import annotations

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


def search_for(search: Search | str, max_queries: int | None = None,
               de: DifferentialEvolution | None = None) -> Search:
    """A search object as it is; a name through :func:`~onepixel.search.make_search`, planned for ``max_queries``;
    ``"de"`` is ``de`` (default: the paper's DE)."""
    if not isinstance(search, str):
        return search
    if search.lower() == "de":
        return de if de is not None else DifferentialEvolution.paper()
    return make_search(search, budget=max_queries)


def runner_for(model: Classifier, search: Search, *, targeted: bool, pixels: int = 1,
               max_queries: int | None = None, threshold: float | None = None, stop_on_success: bool = False,
               loss: Loss = "probability", memo: bool = True) -> Runner:
    """A runner for ``search`` on ``model``: k = ``pixels``, capped at ``max_queries`` per image, with the
    criterion :func:`criterion_for` gives."""
    return Runner(model, criterion_for(targeted, threshold, stop_on_success, loss), search, pixels, max_queries, memo)
