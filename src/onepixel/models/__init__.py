"""Model adapters: everything onepixel queries is a :class:`Classifier` (uint8 NHWC batch -> probabilities)."""

from .base import Classifier
from .callable import CallableClassifier
from .pytorch import Preprocess, TorchClassifier

__all__ = ["CallableClassifier", "Classifier", "Preprocess", "TorchClassifier"]
