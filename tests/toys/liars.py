"""Classifiers whose fast (search) precision disagrees with the reference, as bf16 or delta inference may: the
runner must verify every success in reference precision and never let a false positive hide a true one."""

from __future__ import annotations

import numpy as np
import torch

import onepixel as op
from onepixel.models.base import Classifier

from .black_boxes import VulnerableSet


class LyingFastModel(Classifier):
    """Its fast precision claims every perturbed image is class 1; the reference says class 0 always."""

    has_fast_precision = True
    fixed_batch_shape = False

    def _forward(self, images, reference):
        n = len(images)
        p = torch.tensor([0.9, 0.1]) if reference else torch.tensor([0.01, 0.99])
        return p.expand(n, 2)


class Optimistic(op.CallableClassifier):
    """A model whose fast search precision leans towards class 1 (false positives the reference rejects), like
    a bf16 search that flags changes fp32 does not confirm. Keeps every batch the search asked about."""

    has_fast_precision = True

    def __init__(self, toy) -> None:
        super().__init__(toy.probs)
        self.asked: list[np.ndarray] = []

    def _forward(self, images, reference):
        p = super()._forward(images, reference)
        if reference:
            return p
        self.asked.append(images.cpu().numpy())
        lean = p.clone()
        lean[:, 1] *= 3.0
        return lean / lean.sum(1, keepdim=True)


class FastMisjudges(op.Classifier):
    """``VulnerableSet(changes)`` in reference precision; in fast precision each change in ``fast``, an
    ``(x, y, colour)`` with probabilities, gets those probabilities instead (as a bf16 search may score a change
    near the decision boundary on the wrong side)."""

    has_fast_precision = True
    fixed_batch_shape = False

    def __init__(self, changes, fast) -> None:
        self.changes, self.fast = changes, fast

    def _forward(self, images, reference):
        p = VulnerableSet(self.changes).probs(images.numpy())
        if not reference:
            for (x, y, colour), probs in self.fast:
                p[(images[:, y, x, :].numpy() == np.asarray(colour)).all(-1)] = probs
        return torch.as_tensor(p)
