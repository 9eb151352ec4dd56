"""What one run of :class:`~onepixel.runner.Runner` works on: its fixed inputs (:class:`Batch`), where each image
stands (:class:`BatchState`) and one search round's candidates and scores (:class:`Round`). The runner's steps
read and write these; nothing here queries a model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from .candidates import PixelSpace
from .results import AttackResult


@dataclass
class Batch:
    """What one run attacks, fixed for the run: the images (uint8, and as a tensor on the model's device), their
    labels, targets and seeds, their clean reference-precision probabilities and the candidate space."""

    images: np.ndarray
    bases: torch.Tensor
    labels: np.ndarray
    targets: np.ndarray | None
    seeds: list[int]
    clean: np.ndarray
    space: PixelSpace

    def targets_of(self, rows: np.ndarray) -> np.ndarray | None:
        return self.targets[rows] if self.targets is not None else None


@dataclass
class BatchState:
    """Where each image of a run stands, one entry per image, and which images are still searched (``active``).

    The best candidate so far (``best_*``, in search precision) is what a failure reports; the best verified
    success (``adv_*``, in reference precision) is what a success reports.
    """

    queries: np.ndarray  #: search queries spent
    verify_queries: np.ndarray  #: reference-precision queries spent verifying
    model_queries: np.ndarray  #: search queries that reached the model (the rest were answered from memory)
    rounds: np.ndarray  #: search rounds run
    first_success: np.ndarray  #: search query of the first verified success; -1: none
    best_fit: np.ndarray
    best_cand: np.ndarray
    best_prob: np.ndarray  #: the true class's (untargeted) or target's (targeted) probability at the best candidate
    adv_fit: np.ndarray
    adv_cand: np.ndarray
    adv_probs: np.ndarray
    done: np.ndarray  #: the criterion says stop
    seconds: np.ndarray  #: from the start of the run to the image's end
    active: np.ndarray
    started: float  #: ``time.perf_counter()`` at the start of the search
    results: dict[int, AttackResult]  #: of the finished images

    @classmethod
    def start(cls, n: int, dim: int, classes: int) -> BatchState:
        return cls(queries=np.zeros(n, dtype=np.int64), verify_queries=np.zeros(n, dtype=np.int64),
                   model_queries=np.zeros(n, dtype=np.int64), rounds=np.zeros(n, dtype=np.int64),
                   first_success=np.full(n, -1, dtype=np.int64), best_fit=np.full(n, np.inf),
                   best_cand=np.zeros((n, dim)), best_prob=np.full(n, np.nan), adv_fit=np.full(n, np.inf),
                   adv_cand=np.zeros((n, dim)), adv_probs=np.zeros((n, classes)), done=np.zeros(n, dtype=bool),
                   seconds=np.zeros(n), active=np.arange(n), started=time.perf_counter(), results={})


@dataclass
class Round:
    """One search round of the active images: their candidates, search-precision probabilities and fitness."""

    active: np.ndarray  #: the images asked, one per row
    labels: np.ndarray
    targets: np.ndarray | None
    trials: np.ndarray  #: (rows, candidates, dim)
    evaluated: np.ndarray  #: (rows, candidates): within the image's round size and budget
    probs: np.ndarray  #: (rows, candidates, classes)
    fitness: np.ndarray  #: (rows, candidates); inf where not evaluated
    start: np.ndarray  #: queries before the round: candidate j of row i is query ``start[i] + j + 1`` of its image

    def targets_of(self, rows: np.ndarray) -> np.ndarray | None:
        return self.targets[rows] if self.targets is not None else None
