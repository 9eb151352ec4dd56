"""The exhaustive one-pixel oracle: try every location x every grid colour on a model, judged change by change.

:func:`one_pixel_oracle` queries a :class:`~onepixel.models.Classifier` directly and returns, per image, the
full map of which changes fool the model, judged in *reference* precision (exact), with every change's
fitness. This is the measuring stick: "could any tested one-pixel change fool this image?". The same scan as
an ask/tell search (which never sees the model) is :class:`onepixel.search.Oracle`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .candidates import PixelSpace, apply
from .errors import InputError
from .models.base import Classifier
from .objectives import Criterion, Targeted, Untargeted
from .search.colours import colour_grid
from .search.oracle import scan_candidates


@dataclass
class OracleResult:
    """What the oracle found for n images (H x W locations, M grid colours).

    Attributes:
        fooled: (n,) whether any tested change fools the model (reference precision).
        count: (n,) how many tested changes fool it.
        fooling: (n, H, W, M) which changes fool it.
        fitness: (n, H, W, M) each change's criterion fitness (lower is better), in the precision it was
            scored in (search precision where ``precision="search"``, except re-checked changes).
        colours: (M, C) the colour grid.
        queries: (n,) model evaluations per image (search-precision scan plus reference re-checks).
    """

    fooled: np.ndarray
    count: np.ndarray
    fooling: np.ndarray
    fitness: np.ndarray
    colours: np.ndarray
    queries: np.ndarray
    probs: np.ndarray | None = None


def decision_margin(probs: np.ndarray, labels: np.ndarray, targets: np.ndarray | None) -> np.ndarray:
    """How far each row is past the decision boundary (> 0: adversarial), from probs (n, K)."""
    k = np.arange(probs.shape[1])
    goal = labels if targets is None else targets
    own = probs[np.arange(len(probs)), goal]
    rest = np.where(k[None, :] == goal[:, None], -np.inf, probs).max(1)
    return rest - own if targets is None else own - rest


def one_pixel_oracle(
    model: Classifier,
    images: np.ndarray,
    labels: np.ndarray,
    targets: np.ndarray | None = None,
    *,
    levels: int = 2,
    precision: str = "reference",
    recheck: float = 0.1,
    chunk: int = 4096,
    keep_probs: bool = False,
) -> OracleResult:
    """Try every one-pixel change (location x grid colour) on each image and report which fool the model.

    Args:
        model: the classifier.
        images: uint8 (n, H, W, C); labels: (n,) true classes; targets: (n,) target classes or None.
        levels: colour values per channel (2: the RGB-cube corners).
        precision: ``"reference"`` scores every change in reference precision (exact, slower);
            ``"search"`` scores all in the fast precision, then re-checks in reference precision every
            change whose fast margin to the decision boundary is above ``-recheck`` (probability units),
            so every reported success is verified; a miss would need a fast-precision error > ``recheck``.
        chunk: perturbed images built and scored at a time.
        keep_probs: also return the (n, H, W, M, K) float32 probabilities that were scored.
    """
    if precision not in ("reference", "search"):
        raise InputError(f"precision must be 'reference' or 'search' (got {precision!r})")
    images = np.ascontiguousarray(images)
    n, h, w, c = images.shape
    labels = np.asarray(labels, dtype=np.int64)
    targets = None if targets is None else np.asarray(targets, dtype=np.int64)
    crit: Criterion = Untargeted() if targets is None else Targeted()
    colours = colour_grid(c, levels)
    changes = _every_change(PixelSpace(h, w, c, 1), colours)
    per = len(changes[0])
    bases = torch.from_numpy(images).to(model.device)
    fast = precision == "search" and model.has_fast_precision
    probs = None
    fitness = np.empty((n, per))
    fooling = np.zeros((n, per), dtype=bool)
    queries = np.zeros(n, dtype=np.int64)
    for i in range(n):
        # One image at a time keeps memory flat; each model call still sees ``chunk`` candidates.
        tg1 = None if targets is None else targets[i:i + 1]
        p, queries[i] = _score_image(model, bases, i, changes, labels[i:i + 1], tg1, fast, recheck, chunk)
        if keep_probs:
            probs = np.empty((n, per, p.shape[1]), dtype=np.float32) if probs is None else probs
            probs[i] = p
        fitness[i] = crit.fitness(p[None], labels[i:i + 1], tg1)[0]
        fooling[i] = crit.is_adversarial(p[None], labels[i:i + 1], tg1)[0]
    shape = (n, h, w, len(colours))
    return OracleResult(
        fooled=np.asarray(fooling.any(1)), count=fooling.sum(1), fooling=fooling.reshape(shape), fitness=fitness.reshape(shape),
        colours=colours, queries=queries, probs=None if probs is None else probs.reshape(*shape, -1))


def _every_change(space: PixelSpace, colours: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, colour) of every one-pixel change of ``space`` to a grid colour, in the search's scan order."""
    cands = scan_candidates(space, colours, 0, space.height * space.width * len(colours))
    return cands[:, 0].astype(np.int64), cands[:, 1].astype(np.int64), cands[:, 2:].astype(np.uint8)


def _score_image(model: Classifier, bases: torch.Tensor, i: int, changes: tuple[np.ndarray, np.ndarray, np.ndarray],
                 label: np.ndarray, target: np.ndarray | None, fast: bool, recheck: float,
                 chunk: int) -> tuple[np.ndarray, int]:
    """Probabilities of image ``i`` under every change, scored ``chunk`` at a time, and the queries spent. With
    ``fast``, every change within ``recheck`` of the decision boundary is scored again in reference precision."""
    x, y, col = changes
    per = len(x)
    p = np.concatenate([score_one_pixel(model, bases, i, x[s:s + chunk], y[s:s + chunk], col[s:s + chunk], not fast)
                        for s in range(0, per, chunk)])
    queries = per
    if fast:
        near = np.nonzero(decision_margin(p, label.repeat(per), None if target is None else target.repeat(per))
                          > -recheck)[0]
        if near.size:
            p[near] = score_one_pixel(model, bases, i, x[near], y[near], col[near], True)
            queries += near.size
    return p, queries


def score_one_pixel(model: Classifier, bases: torch.Tensor, i: int, x: np.ndarray, y: np.ndarray, col: np.ndarray,
                    reference: bool) -> np.ndarray:
    """Probabilities of image ``i`` with each single pixel (x[j], y[j]) set to col[j]."""
    dev = bases.device
    which = torch.full((len(x),), i, dtype=torch.long, device=dev)
    imgs = apply(bases, which, torch.as_tensor(x, device=dev)[:, None], torch.as_tensor(y, device=dev)[:, None],
                 torch.as_tensor(col, device=dev)[:, None, :])
    return model.probs(imgs, reference=reference)
