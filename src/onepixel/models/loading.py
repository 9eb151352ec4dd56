"""Resolve a model given by name or file into a :class:`Classifier`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ModelError
from .base import Classifier

TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript")


def load_model(spec: str, **options: Any) -> Classifier:
    """A zoo name (``allconv``, ``nin``, ``vgg16``, ``resnet20``) or a model file (.pt TorchScript)."""
    from .. import zoo

    if spec.lower() in zoo.names():
        return zoo.load(spec.lower(), **options)
    path = Path(spec)
    if not path.exists():
        raise ModelError(f"no zoo model or file named {spec!r}; zoo models: {', '.join(zoo.names())}")
    if path.suffix.lower() in TORCHSCRIPT_SUFFIXES:
        from .pytorch import load_torchscript

        return load_torchscript(path, **options)
    raise ModelError(f"unknown model format {path.suffix!r} for {path}; use a TorchScript file ({', '.join(TORCHSCRIPT_SUFFIXES)})")
