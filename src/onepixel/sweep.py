"""The fewest pixels that fool each image: attack with 1 pixel, then only the survivors with more.

"How many pixels does it take to fool my model?" per image: :func:`fewest_pixels` attacks every image with the
smallest pixel count, the images that resisted with the next count, and so on, and reports for each image the
first count that fooled it (or that none did). Counts are tried in increasing order, so an image is never
attacked with more pixels than it needs among the counts given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InputError
from .inputs import as_batch, as_seeds, as_targets
from .results import AttackResult


@dataclass(frozen=True)
class PixelSweep:
    """One image's sweep.

    Attributes:
        pixels: the fewest pixel count that fooled the model, or None if no count given did.
        result: that successful attack; if none succeeded, the attack with the largest count.
        attempts: ``(pixel count, queries, success)`` of each attack made on this image, in order.
    """

    pixels: int | None
    result: AttackResult
    attempts: list[tuple[int, int, bool]] = field(default_factory=list)

    @property
    def queries(self) -> int:
        """Search queries of all the attempts together."""
        return sum(q for _, q, _ in self.attempts)


def fewest_pixels(model: Any, images: Any, labels: Any, *, pixels: Sequence[int] = (1, 2, 3, 5), targets: Any = None,
                  seed: int | Sequence[int] = 0, **attack_options: Any) -> list[PixelSweep]:
    """Attack each image with increasing pixel counts until it is fooled.

    Args:
        model: as for :func:`onepixel.attack`.
        images: as for :func:`onepixel.attack` (one image with a scalar label works too).
        labels: as for :func:`onepixel.attack`.
        targets: as for :func:`onepixel.attack`.
        pixels: the pixel counts to try, in any order (tried smallest first; duplicates ignored).
        seed: an int (image i uses ``seed + i`` at every count) or one seed per image, so an image's sweep does
            not depend on the other images.
        attack_options: passed to :func:`onepixel.attack` (search, max_queries, popsize, ...); the query
            budget applies to each count separately.

    Returns:
        One :class:`PixelSweep` per image, in input order.
    """
    from .api import as_classifier, attack

    counts = sorted({int(k) for k in pixels})
    if not counts or counts[0] < 1:
        raise InputError(f"pixels must be pixel counts >= 1 (got {list(pixels)})")
    imgs, labs, _ = as_batch(images, labels)
    tg = as_targets(targets, labs)
    seeds = np.array(as_seeds(seed, len(imgs)))
    clf = as_classifier(model, **attack_options.pop("model_options", None) or {})
    best: dict[int, AttackResult] = {}
    attempts: dict[int, list[tuple[int, int, bool]]] = {i: [] for i in range(len(imgs))}
    fooled_at: dict[int, int] = {}
    left = np.arange(len(imgs))
    for k in counts:
        if not len(left):
            break
        res = attack(clf, imgs[left], labs[left], pixels=k, targets=None if tg is None else tg[left],
                     seed=seeds[left].tolist(), **attack_options)
        for i, r in zip(left.tolist(), res):
            attempts[i].append((k, r.queries, r.success))
            best[i] = r
            if r.success:
                fooled_at[i] = k
        left = left[[not r.success for r in res]]
    return [PixelSweep(fooled_at.get(i), best[i], attempts[i]) for i in range(len(imgs))]
