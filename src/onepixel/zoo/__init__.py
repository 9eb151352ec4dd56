"""The model zoo: the paper's CIFAR-10 nets (AllConv, NiN, VGG16) and ResNet-20, trained and shipped.

``onepixel.zoo.load("allconv")`` returns a ready :class:`~onepixel.models.TorchClassifier`.
"""

from ..models.loading import register_named_models
from .registry import ZooEntry, entries, load, load_module, names

register_named_models(names(), load)  # zoo names work wherever a model is named (the zoo sits above models/)

__all__ = ["ZooEntry", "entries", "load", "load_module", "names"]
