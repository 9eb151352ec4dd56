"""The model zoo: the paper's CIFAR-10 nets (AllConv, NiN, VGG16) and ResNet-20, trained and shipped.

``onepixel.zoo.load("allconv")`` returns a ready :class:`~onepixel.models.TorchClassifier`.
"""

from .registry import ZooEntry, entries, load, load_module, names

__all__ = ["ZooEntry", "entries", "load", "load_module", "names"]
