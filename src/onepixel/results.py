"""Per-image attack results and their table form."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class AttackResult:
    """The outcome of attacking one image.

    ``queries`` counts the search's model evaluations of perturbed images (in search precision);
    ``verify_queries`` counts re-evaluations in reference precision (success checks and the final report);
    ``model_queries`` is how many of ``queries`` reached the model: a change the search proposed again was
    answered from memory (:mod:`onepixel.memo`), as the model would have answered it.
    ``first_success_query`` is the search query (1-based, counted like ``queries``) at which the attack first
    found a change that succeeds in reference precision, None when it never did; ``queries`` is where it
    stopped, which for DE's thresholds (true class < 5 %, target > 90 %) is often much later. A smaller budget
    of at least ``first_success_query`` queries would have succeeded too.
    Probabilities "after" are always the reference-precision ones.
    """

    index: int
    success: bool
    label: int
    target: int | None
    pixels: list[tuple[int, ...]]  # (x, y, c_1, ..., c_C) per changed pixel; x = column, y = row
    label_prob_before: float
    label_prob_after: float
    predicted_before: int
    predicted_after: int
    predicted_prob_after: float
    target_prob_after: float | None
    queries: int
    verify_queries: int
    generations: int
    seconds: float
    seed: int
    adversarial: np.ndarray = field(repr=False)  # uint8 (H, W, C)
    model_queries: int = -1  # -1: not recorded
    first_success_query: int | None = None

    @property
    def already_adversarial(self) -> bool:
        """Whether the clean image met the attack's goal before any pixel changed: the model did not predict
        ``label`` (untargeted) or predicted ``target`` already (targeted). Such a success is no finding about
        the model; :attr:`AttackResults.success_rate` leaves these images out."""
        if self.target is None:
            return self.predicted_before != self.label
        return self.predicted_before == self.target

    def to_dict(self, with_image: bool = False) -> dict[str, Any]:
        """Plain-Python record (the adversarial image only if asked), with ``already_adversarial``."""
        d = asdict(self)
        d["already_adversarial"] = self.already_adversarial
        d["pixels"] = [list(p) for p in self.pixels]
        if not with_image:
            d.pop("adversarial")
        return d


class AttackResults(list[AttackResult]):
    """A list of :class:`AttackResult` with table helpers."""

    #: how the caller passed the images (:class:`onepixel.interop.InputFormat`), set by :func:`onepixel.attack`
    input_format: Any = None

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per image (without image arrays)."""
        return [r.to_dict() for r in self]

    def to_pandas(self):
        """A pandas DataFrame, one row per image (pandas must be installed)."""
        import pandas as pd

        return pd.DataFrame.from_records(self.to_records())

    @property
    def success_rate(self) -> float:
        """Share of the images the attack fooled, among those it had to fool: an image the model already got
        wrong (or, targeted, already put in the target class) counts neither way (``already_adversarial``).
        NaN when no image is left."""
        fair = [r.success for r in self if not r.already_adversarial]
        return float(np.mean(fair)) if fair else float("nan")

    @property
    def adversarials(self) -> np.ndarray:
        """All adversarial images stacked, uint8 (n, H, W, C)."""
        return np.stack([r.adversarial for r in self])

    def adversarials_as_input(self) -> Any:
        """All adversarial images stacked in the form the images were passed to :func:`onepixel.attack`: the
        same type (numpy or torch, on its device), dtype and layout (NCHW or NHWC); floats as k / 255."""
        from .interop import InputFormat

        return (self.input_format or InputFormat()).restore(self.adversarials)
