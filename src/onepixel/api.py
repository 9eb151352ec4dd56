"""The public entry point: :func:`attack`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from .assemble import runner_for, search_with
from .errors import InputError
from .inputs import as_batch, as_seeds, as_targets, check_input_size, check_max_queries, check_pixels
from .models.base import Classifier
from .models.callable import CallableClassifier
from .objectives import Loss
from .results import AttackResults
from .runner import Runner, RunProgress
from .search.base import Search

#: the search :func:`attack` uses when none is named (see docs/results.md)
DEFAULT_SEARCH = "rs"


def as_classifier(model: Any, **options: Any) -> Classifier:
    """Turn what the user has into a :class:`Classifier`.

    Accepts a Classifier, an ``nn.Module`` (expects pixels scaled to [0, 1], returns logits, unless
    ``options`` say otherwise), a zoo name such as ``"allconv"``, a model file (.pt TorchScript), or a
    plain callable from a uint8 NHWC numpy batch to probabilities.
    """
    if isinstance(model, Classifier):
        return model
    try:
        if isinstance(model, nn.Module):
            from .models.metadata import torch_classifier  # reads timm / torchvision metadata where it is there

            return torch_classifier(model, **options)
        if isinstance(model, str):
            from .models.loading import load_model

            return load_model(model, **options)
        if callable(model):
            return CallableClassifier(model, **options)
    except TypeError as e:  # an option the adapter does not take: name it instead of Python's signature error
        if "argument" not in str(e):
            raise
        raise InputError(f"model_options: {e.args[0].split('() ', 1)[-1]} (options go to the model adapter, "
                         "e.g. device, batch_size, output)") from None
    raise InputError(f"cannot use a {type(model).__name__} as a model; pass an nn.Module, a Classifier, a callable, a zoo name or a file")


def attack(
    model: Any,
    images: Any,
    labels: Any,
    *,
    pixels: int = 1,
    targets: Any = None,
    seed: int | Sequence[int] = 0,
    search: Search | str | None = None,
    popsize: int | None = None,
    generations: int | None = None,
    strategy: str | None = None,
    mutation: float | tuple[float, float] | None = None,
    crossover: float | None = None,
    max_queries: int | None = None,
    threshold: float | None = None,
    stop_on_success: bool = False,
    loss: Loss = "probability",
    progress: bool | None = None,
    model_options: dict | None = None,
    memo: bool = True,
    preprocess: Any = None,
) -> AttackResults:
    """Few-pixel black-box attack (Su, Vargas & Sakurai's one-pixel attack and stronger successors).

    The default search is ``"rs"``, the Sparse-RS-style random search, which beat the paper's DE at every
    budget for 1, 3 and 5 pixels (docs/results.md); the paper's DE is ``search="de"``, and DE with other
    settings is ``search="de"`` with the DE keywords below or ``search=DifferentialEvolution(popsize=...)``.
    DE keywords with another search are refused (they would change nothing).

    Args:
        model: a :class:`~onepixel.models.Classifier`, ``nn.Module``, zoo name, model file or callable.
        images: uint8 (N, H, W, C) with C = 3 or 1, or one (H, W, C) image with a scalar label; float tensors
            or arrays in [0, 1], NCHW or NHWC, are rounded to 8 bits (:mod:`onepixel.interop`; the results'
            :meth:`~onepixel.results.AttackResults.adversarials_as_input` hands them back in that form).
            Images of another size than the model's input are cropped and resized with the model's own
            geometry where its metadata declares one.
        labels: true class of each image.
        pixels: pixels changed per image (k).
        targets: None for untargeted; else a target class (or one per image) to reach.
        seed: an int (image i uses ``seed + i``) or one seed per image. Results per image do not depend
            on which other images are attacked with it.
        search: a search object, or a name for :func:`~onepixel.search.make_search` (``"rs"``, ``"de"``,
            ``"corner"``, ``"cma"``, ``"oracle"``; rs/corner/cma plan for ``max_queries``, else 10,000 queries
            per image). Default (None): ``"rs"`` (:data:`DEFAULT_SEARCH`).
        popsize: with ``search="de"``: DE population [default: the paper's 400].
        generations: with ``search="de"``: DE generations [default: the paper's 100].
        strategy: with ``search="de"``: ``"rand1"`` (the paper's), ``"best1"`` or ``"current-to-best1"``.
        mutation: with ``search="de"``: DE's F (paper: 0.5), or a ``(low, high)`` range to dither it per
            generation.
        crossover: with ``search="de"``: DE's crossover rate (paper: None, no crossover).
        max_queries: per-image cap on search queries.
        threshold: early-stop probability (default 0.05 untargeted, 0.90 targeted).
        stop_on_success: stop each image at its first verified success instead of at the threshold.
        loss: what the search minimises: ``"probability"`` (the paper's: the true class's probability, or minus
            the target's) or ``"margin"`` (the gap to the strongest rival class; it keeps pointing the way where
            a targeted change only moves probability between other classes). Success does not depend on it.
        progress: show a progress bar (queries spent against the budget; for one image also the best
            probability so far). Default (None): shown in a terminal or a notebook, quiet otherwise.
        model_options: options for building the classifier (e.g. ``{"device": "cuda"}``).
        preprocess: how pixels reach an ``nn.Module``: a :class:`~onepixel.models.Preprocess`, a torchvision
            weights enum or its ``transforms()``, a timm ``pretrained_cfg``, a Hugging Face image processor
            (:mod:`onepixel.models.metadata`). Default: what the module declares (timm's ``pretrained_cfg``),
            else pixels scaled to [0, 1].
        memo: answer a change the search proposes again from memory instead of querying the model
            (:mod:`onepixel.memo`; results are identical for a deterministic model, and DE's repeats are most
            of its late queries). Turn it off for a randomised model (a stochastic defence).

    Returns:
        :class:`AttackResults`, one :class:`AttackResult` per image, in input order.
    """
    max_queries = check_max_queries(max_queries)
    strategy_ = search_with(DEFAULT_SEARCH if search is None else search, max_queries, popsize=popsize,
                            generations=generations, strategy=strategy, mutation=mutation, crossover=crossover)
    clf, imgs, labs, tg, seeds, fmt = _prepared(model, images, labels, targets, pixels, seed, model_options,
                                                preprocess)
    runner = runner_for(clf, strategy_, targeted=tg is not None, pixels=int(pixels), max_queries=max_queries,
                        threshold=threshold, stop_on_success=stop_on_success, loss=loss, memo=memo)
    return _tagged(_run(runner, clf, imgs, labs, tg, seeds, progress), fmt)


def _prepared(model: Any, images: Any, labels: Any, targets: Any, pixels: int, seed: int | Sequence[int],
              model_options: dict | None, preprocess: Any) -> tuple[Classifier, np.ndarray, np.ndarray,
                                                                    np.ndarray | None, list[int], Any]:
    """The classifier and the checked inputs of :func:`attack`: images as uint8 at the model's input size
    (and the caller's format, to hand adversarials back in), labels, targets and one seed per image."""
    from .interop import as_uint8, fit_to_model

    images, fmt = as_uint8(images)
    imgs, labs, _ = as_batch(images, labels)
    tg = as_targets(targets, labs)
    check_pixels(pixels, imgs.shape)
    seeds = as_seeds(seed, len(imgs))
    if model_options is not None and not isinstance(model_options, dict):
        raise InputError(f"model_options must be a dict of adapter options (got {type(model_options).__name__})")
    options = dict(model_options or {}) | ({} if preprocess is None else {"preprocess": preprocess})
    clf = as_classifier(model, **options)
    imgs = fit_to_model(clf, imgs)
    check_input_size(clf, imgs)
    return clf, imgs, labs, tg, seeds, fmt


def _run(runner: Runner, clf: Classifier, imgs: np.ndarray, labs: np.ndarray, tg: np.ndarray | None,
         seeds: list[int], progress: bool | None) -> AttackResults:
    """Run the attack, with a progress bar where one is wanted (default: in a terminal or a notebook)."""
    from .progress import QueryForecast, interactive, query_bar

    if not (interactive() if progress is None else progress):
        return runner.run(imgs, labs, tg, seeds)
    forecast = QueryForecast()
    with query_bar("attack") as bar:
        return runner.run(imgs, labs, tg, seeds, progress=lambda p: _show_progress(bar, p, clf, labs, tg, forecast))


def _show_progress(bar: Any, p: RunProgress, clf: Classifier, labels: np.ndarray, targets: np.ndarray | None,
                   forecast: Any) -> None:
    """Queries against the budget; one image: the probability the search is pushing at its best candidate so
    far (the true class's, down; or the target's, up); a batch: images finished and fooled."""
    from .progress import show_queries

    if p.images == 1:
        goal = int(labels[0] if targets is None else targets[0])
        names = getattr(clf, "class_names", None)
        name = names[goal] if names and 0 <= goal < len(names) else f"class {goal}"
        best = "-" if np.isnan(p.best_prob[0]) else f"{p.best_prob[0]:.3f}"
        status = f"best p({name}{'' if targets is None else ', target'}) {best}"
    else:
        status = f"images {p.finished}/{p.images}, {p.successes} fooled"
    show_queries(bar, p.queries, forecast.expected_total(p.image_queries, p.running, p.budget), p.max_queries, status)


def _tagged(results: AttackResults, fmt: Any) -> AttackResults:
    results.input_format = fmt  # so adversarials_as_input() can answer in the caller's type and layout
    return results
