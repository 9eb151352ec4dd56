"""Shared helpers of the deployed-model adapters (TFLite, ONNX): output kinds and the ImageNet background class."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ModelError

OUTPUTS = ("auto", "probs", "logits")


def check_output_option(output: str) -> None:
    if output not in OUTPUTS:
        raise ModelError(f"output must be one of {', '.join(OUTPUTS)} (got {output!r})")


def looks_like_probabilities(scores: np.ndarray, tolerance: float = 0.05, lost: float = 0.35) -> bool:
    """True when every value is in [0, 1] and every row sums to 1 (softmax outputs).

    A quantised softmax loses mass to rounding: the many tiny probabilities round to 0, so uint8 MobileNet
    rows sum to 0.77..1.0 on the ImageNet sample. Rows may therefore fall short of 1 by up to ``lost`` and
    exceed it by ``tolerance``; logits practically never stay inside [0, 1] with such sums.
    """
    s = np.asarray(scores, dtype=np.float64)
    if not s.size or (s < 0).any() or (s > 1 + tolerance).any():
        return False
    sums = s.sum(-1)
    return bool(np.all((sums >= 1 - lost) & (sums <= 1 + tolerance)))


def finish(scores: np.ndarray, output: str, drop_background: bool) -> torch.Tensor:
    """Drop the background column if asked, then turn logits into probabilities.

    The background score of a 1001-class model is dropped without renormalising the rest: the remaining
    1000 values are the model's own probabilities of the ImageNet classes (they sum to 1 minus the small
    background mass), which is what thresholds such as "true class < 5 %" are measured against.
    """
    s = torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float64))
    if drop_background:
        s = s[:, 1:]
    if output == "logits":
        return torch.softmax(s, dim=-1)
    return s


def background_offset(outputs: int, background: bool | str) -> bool:
    """Whether to drop output 0: ``"auto"`` drops it for the 1001 outputs of classic ImageNet TF models."""
    if background == "auto":
        return outputs == 1001
    if not isinstance(background, bool):
        raise ModelError(f"background must be 'auto', True or False (got {background!r})")
    if background and outputs < 2:
        raise ModelError(f"cannot drop a background class from a model with {outputs} output")
    return background
