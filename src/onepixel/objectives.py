"""What counts as adversarial, and how good a candidate is: kept apart from searches and models.

A criterion turns class probabilities into a fitness to *minimise*, says when an attack may stop early,
and decides success from the predicted class alone (the thresholds only make the search stop sooner).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Untargeted:
    """Push the true class out of the top-1: minimise its probability; stop early once it is < ``threshold``
    (or at the first success with ``stop_on_success``). Methods take probs (A, P, K) and labels (A,)."""

    threshold: float = 0.05
    stop_on_success: bool = False

    targeted = False

    def fitness(self, probs: np.ndarray, labels: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """probs (A, P, K), labels (A,) -> fitness (A, P), lower is better."""
        return np.take_along_axis(probs, labels[:, None, None].astype(np.int64), axis=2)[..., 0]

    def is_adversarial(self, probs: np.ndarray, labels: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """True where the predicted class is not the true class."""
        return probs.argmax(-1) != labels[:, None]

    def should_stop(self, probs: np.ndarray, labels: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """True where the attack has done enough: adversarial and true-class probability below the threshold."""
        adv = self.is_adversarial(probs, labels)
        return adv if self.stop_on_success else adv & (self.fitness(probs, labels) < self.threshold)


@dataclass(frozen=True)
class Targeted:
    """Make ``target`` the top-1: maximise its probability; stop early once it is > ``threshold``
    (or at the first success with ``stop_on_success``)."""

    threshold: float = 0.90
    stop_on_success: bool = False

    targeted = True

    def fitness(self, probs: np.ndarray, labels: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """Negative target probability (A, P): lower is better."""
        assert targets is not None
        return -np.take_along_axis(probs, targets[:, None, None].astype(np.int64), axis=2)[..., 0]

    def is_adversarial(self, probs: np.ndarray, labels: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """True where the predicted class is the target."""
        assert targets is not None
        return probs.argmax(-1) == targets[:, None]

    def should_stop(self, probs: np.ndarray, labels: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """True where the target is the top-1 with probability above the threshold."""
        assert targets is not None
        adv = self.is_adversarial(probs, labels, targets)
        return adv if self.stop_on_success else adv & (-self.fitness(probs, labels, targets) > self.threshold)


Criterion = Untargeted | Targeted
