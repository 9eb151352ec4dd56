"""Model adapters: everything onepixel queries is a :class:`Classifier` (uint8 NHWC batch -> probabilities)."""

from .base import Classifier
from .callable import CallableClassifier
from .onnx import OnnxClassifier  # onnxruntime is imported only when a model is loaded
from .pytorch import Preprocess, TorchClassifier
from .tflite import TFLiteClassifier  # ai-edge-litert likewise

__all__ = ["CallableClassifier", "Classifier", "OnnxClassifier", "Preprocess", "TFLiteClassifier", "TorchClassifier"]
