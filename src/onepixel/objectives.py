"""What counts as adversarial, and how good a candidate is: kept apart from searches and models.

A criterion turns class probabilities into a fitness to *minimise*, says when an attack may stop early,
and decides success from the predicted class alone (the thresholds only make the search stop sooner).

Two losses: ``"probability"`` is the paper's (the true class's probability, or minus the target's) and the
default; ``"margin"`` is the gap to the strongest rival class (negative exactly when the candidate is
adversarial), as in Carlini & Wagner and Sparse-RS. The paper's targeted fitness is flat where a change moves
probability between two other classes without raising the target's: on ResNet-20 test image #56 the only
fooling colours at the fooling pixel sit in a pocket where ``-p_target`` stays at 0.41-0.42 while the
margin still points the way (docs/guide/models.md). Success and early stopping do not depend on the loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol, get_args

import numpy as np

from .errors import InputError

#: what a search minimises: the paper's class probability, or the margin to the strongest rival class
Loss = Literal["probability", "margin"]
LOSSES: tuple[str, ...] = get_args(Loss)


class Criterion(Protocol):
    """What counts as adversarial, the fitness a search minimises, and when an attack may stop.

    Methods take probabilities (A, P, K) of P candidates for each of A attacks, the true ``labels`` (A,) and,
    for a targeted criterion, the ``targets`` (A,); they return (A, P) arrays.
    """

    targeted: ClassVar[bool]

    def fitness(self, probs: np.ndarray, labels: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """Lower is better."""
        ...

    def is_adversarial(self, probs: np.ndarray, labels: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """The success rule (:func:`is_success`) on the predicted classes."""
        ...

    def should_stop(self, probs: np.ndarray, labels: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """Adversarial, and past the criterion's threshold (or at the first success with ``stop_on_success``)."""
        ...


def is_success(predicted: np.ndarray, labels: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
    """The success rule on predicted classes, everywhere a verdict is made (search, verification, reports):
    untargeted, any class but the label; targeted, the target. ``targets`` None: all untargeted; else a target
    per row, where a negative one marks an untargeted row (a stored run mixes both). Broadcasts like numpy."""
    if targets is None:
        return np.asarray(predicted != labels)
    return np.where(np.asarray(targets) >= 0, predicted == targets, predicted != labels)


def _prob(probs: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """probs (A, P, K), one class per attack (A,) -> that class's probability (A, P)."""
    return np.take_along_axis(probs, cls[:, None, None].astype(np.int64), axis=2)[..., 0]


def _rival(probs: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """The highest probability among the classes other than ``cls`` (A, P)."""
    others = probs.copy()
    np.put_along_axis(others, cls[:, None, None].astype(np.int64), -np.inf, axis=2)
    return others.max(-1)


def _check_loss(loss: str) -> None:
    if loss not in LOSSES:
        raise InputError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}")


@dataclass(frozen=True)
class Untargeted:
    """Push the true class out of the top-1: minimise its probability (or its margin over the strongest rival,
    ``loss="margin"``); stop early once it is < ``threshold`` (or at the first success with
    ``stop_on_success``). Methods take probs (A, P, K) and labels (A,)."""

    threshold: float = 0.05
    stop_on_success: bool = False
    loss: Loss = "probability"

    targeted: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _check_loss(self.loss)

    def fitness(self, probs: np.ndarray, labels: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """probs (A, P, K), labels (A,) -> fitness (A, P), lower is better: p_true, or p_true - max rival."""
        p = _prob(probs, labels)
        return p if self.loss == "probability" else p - _rival(probs, labels)

    def is_adversarial(self, probs: np.ndarray, labels: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """True where the predicted class is not the true class."""
        return is_success(probs.argmax(-1), labels[:, None])

    def should_stop(self, probs: np.ndarray, labels: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """True where the attack has done enough: adversarial and true-class probability below the threshold."""
        adv = self.is_adversarial(probs, labels)
        return adv if self.stop_on_success else adv & (_prob(probs, labels) < self.threshold)


@dataclass(frozen=True)
class Targeted:
    """Make ``target`` the top-1: maximise its probability (or its margin over the strongest other class,
    ``loss="margin"``); stop early once it is > ``threshold`` (or at the first success with
    ``stop_on_success``)."""

    threshold: float = 0.90
    stop_on_success: bool = False
    loss: Loss = "probability"

    targeted: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _check_loss(self.loss)

    def fitness(self, probs: np.ndarray, labels: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """(A, P), lower is better: -p_target, or max rival - p_target."""
        assert targets is not None
        p = _prob(probs, targets)
        return -p if self.loss == "probability" else _rival(probs, targets) - p

    def is_adversarial(self, probs: np.ndarray, labels: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """True where the predicted class is the target."""
        assert targets is not None
        return is_success(probs.argmax(-1), labels[:, None], targets[:, None])

    def should_stop(self, probs: np.ndarray, labels: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
        """True where the target is the top-1 with probability above the threshold."""
        assert targets is not None
        adv = self.is_adversarial(probs, labels, targets)
        return adv if self.stop_on_success else adv & (_prob(probs, targets) > self.threshold)

