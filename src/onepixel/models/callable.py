"""Adapter for any Python function from a numpy uint8 NHWC batch to scores: the plain black box."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .base import Classifier, to_probabilities


class CallableClassifier(Classifier):
    """Wrap ``fn(images: np.ndarray uint8 (n, H, W, C)) -> array (n, classes)``.

    Args:
        fn: the black box; it sees only images and returns scores.
        output: ``"probs"`` if ``fn`` returns probabilities, ``"logits"`` to apply a softmax.
        batch_size: images per call of ``fn``.
        num_classes: declare it to check every call's output width (else taken from the first call).
    """

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], output: str = "probs", batch_size: int = 256,
                 num_classes: int | None = None) -> None:
        self.fn = fn
        self.output = output
        self.batch_size = batch_size
        self.num_classes = num_classes
        # A plain function is usually row-independent; padding would only waste its calls.
        self.fixed_batch_shape = False
        to_probabilities(torch.zeros(1, 1), output)  # validates ``output`` early

    def _forward(self, images: torch.Tensor, reference: bool) -> torch.Tensor:
        scores = np.asarray(self.fn(images.cpu().numpy()))
        if scores.ndim != 2:
            return torch.as_tensor(scores)  # the shape check names the problem
        return to_probabilities(torch.as_tensor(scores, dtype=torch.float64), self.output)
