"""Registry of shipped zoo weights: name -> architecture, preprocessing, classes, accuracy, sha256."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors_bytes

from ..data.cifar10 import CIFAR10_CLASSES
from ..errors import ModelError
from ..models.pytorch import Preprocess, TorchClassifier
from .architectures import build


@dataclass(frozen=True)
class ZooEntry:
    """One shipped model."""

    name: str
    arch: str
    file: str
    sha256: str
    test_accuracy: float  # on the full CIFAR-10 test set, measured with the shipped fp16 weights in fp32
    params: int
    test_accuracy_first1000: float | None = None  # the same on the first 1,000 test images (checked by tests)
    classes: tuple[str, ...] = CIFAR10_CLASSES
    input_size: tuple[int, int] = (32, 32)
    preprocess: Preprocess = Preprocess.cifar10()
    paper_accuracy: float | None = None
    notes: str = ""


def _registry_path() -> Path:
    return Path(str(resources.files("onepixel.zoo") / "registry.json"))


def entries() -> dict[str, ZooEntry]:
    """All shipped models by name."""
    raw = json.loads(_registry_path().read_text())
    out = {}
    for name, d in raw.items():
        pre = d.pop("preprocess", None)
        out[name] = ZooEntry(
            name=name,
            classes=tuple(d.pop("classes", CIFAR10_CLASSES)),
            input_size=tuple(d.pop("input_size", (32, 32))),
            preprocess=Preprocess(**_tuples(pre)) if pre else Preprocess.cifar10(),
            **d,
        )
    return out


def names() -> list[str]:
    """Names of the shipped models."""
    return list(entries())


def weights_path(entry: ZooEntry) -> Path:
    return Path(str(resources.files("onepixel.zoo") / "weights" / entry.file))


def load_module(name: str, path: str | Path | None = None) -> torch.nn.Module:
    """The fp32 ``nn.Module`` of a zoo model with its shipped weights, checked against the registry sha256."""
    table = entries()
    if name not in table:
        raise ModelError(f"unknown zoo model {name!r}; available: {', '.join(table)}")
    entry = table[name]
    path = Path(path) if path is not None else weights_path(entry)
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise ModelError(f"weights of {name!r} are missing at {path} ({e.strerror}); reinstall onepixel") from None
    digest = hashlib.sha256(blob).hexdigest()
    if digest != entry.sha256:
        raise ModelError(f"weights file {path} is corrupt or tampered with (sha256 {digest[:12]}… != registry {entry.sha256[:12]}…); reinstall onepixel")
    module = build(entry.arch)
    state = {k: v.float() for k, v in load_safetensors_bytes(blob).items()}
    missing, unexpected = module.load_state_dict(state, strict=False)
    # BN "num_batches_tracked" counters are not shipped; anything else missing is an error.
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ModelError(f"weights of {name!r} do not fit its architecture (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return module.eval()


def _tuples(fields: dict[str, Any]) -> dict[str, Any]:
    """JSON lists as the tuples :class:`Preprocess` takes (mean, std)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}


def load(name: str, **options: Any) -> TorchClassifier:
    """A ready classifier for zoo model ``name``; ``options`` go to :class:`TorchClassifier`
    (device, batch_size, precision)."""
    entry = entries()[name] if name in names() else None
    module = load_module(name)
    assert entry is not None
    clf = TorchClassifier(module, preprocess=entry.preprocess, output="logits", num_classes=len(entry.classes), **options)
    clf.class_names = list(entry.classes)
    clf.input_size = entry.input_size
    clf.name = name
    clf.sha256 = entry.sha256
    return clf
