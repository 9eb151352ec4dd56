"""What a model says about itself: class names from its metadata, a :class:`TorchClassifier` built from that
and its declared preprocessing (:mod:`onepixel.models.preprocessing`), and the description ``--explain`` prints.

Class names come from timm's ``pretrained_cfg["label_names"]``, torchvision's ``weights.meta["categories"]`` or
a Hugging Face ``config.id2label``. None of these libraries is imported: the metadata is read from plain
attributes and dicts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from ..errors import ModelError
from .preprocessing import (
    OVERRIDE_KEYS,
    PIL_RESAMPLE,
    ModelPreprocessing,
    from_hf,
    from_module,
    from_timm,
    from_torchvision,
    parse_overrides,
    resolve,
    with_overrides,
)
from .pytorch import TorchClassifier

# The preprocessing readers were written here first; callers may still import them from this module.
__all__ = [
    "OVERRIDE_KEYS", "PIL_RESAMPLE", "ModelPreprocessing", "attach", "class_names_from", "describe_model",
    "explain_lines", "from_hf", "from_module", "from_timm", "from_torchvision", "global_mixing", "id2label_names",
    "parse_overrides", "resolve", "torch_classifier", "with_overrides",
]

log = logging.getLogger("onepixel")


# ------------------------------------------------------------------------------------------------ class names
def class_names_from(obj: Any) -> list[str] | None:
    """Class names a module or weights object carries: timm's ``pretrained_cfg["label_names"]``,
    torchvision's ``weights.meta["categories"]``, Hugging Face's ``config.id2label``."""
    cfg = getattr(obj, "pretrained_cfg", None) or getattr(obj, "default_cfg", None)
    if isinstance(cfg, Mapping) and cfg.get("label_names"):
        return [str(n) for n in cfg["label_names"]]
    meta = getattr(obj, "meta", None)
    if isinstance(meta, Mapping) and meta.get("categories"):
        return [str(n) for n in meta["categories"]]
    id2label = getattr(getattr(obj, "config", None), "id2label", None)
    if isinstance(id2label, Mapping) and id2label:
        return id2label_names(id2label)
    return None


def id2label_names(id2label: Mapping[Any, Any]) -> list[str] | None:
    """A Hugging Face ``id2label`` as a list, or None where it holds only the placeholders LABEL_0, LABEL_1..."""
    ids = sorted(int(k) for k in id2label)
    if ids != list(range(len(ids))):
        raise ModelError(f"id2label has ids {ids[:5]}...; expected 0..{len(ids) - 1}")
    names = [str(id2label[k] if k in id2label else id2label[str(k)]) for k in ids]
    return None if all(n == f"LABEL_{i}" for i, n in enumerate(names)) else names


# ------------------------------------------------------------------------------------------------ modules
def global_mixing(module: nn.Module) -> str | None:
    """The name of a layer through which one pixel reaches the whole feature map (self-attention), or None.
    Delta inference recomputes the windows a change reaches; after such a layer the window is everything."""
    for name, sub in module.named_modules():
        cls = type(sub).__name__
        if isinstance(sub, nn.MultiheadAttention) or cls.endswith(("Attention", "SelfAttention")):
            return f"{cls} ({name})" if name else cls
    return None


def torch_classifier(module: nn.Module, preprocess: Any = None, class_names: Sequence[str] | None = None,
                     delta: bool | str = "auto", **options: Any) -> TorchClassifier:
    """A :class:`TorchClassifier` whose preprocessing and class names come from the module's metadata
    (or from ``preprocess``: see :func:`resolve`), and that knows its input size.

    With the geometry known, photos of another size are cropped and resized as the model's own transform
    would (:mod:`onepixel.spaces`). Delta inference is turned off, with one log line, for modules with
    self-attention (a ViT): there one pixel reaches every token, so there is no window to recompute.
    """
    declared = resolve(preprocess, module)
    mixing = global_mixing(module) if delta == "auto" else None
    if mixing is not None:
        delta = False
        inner = getattr(module, "model", module)  # the network inside a wrapper such as LogitsOf
        log.warning("onepixel: delta inference is off for %s: its %s lets one pixel reach the whole feature map; "
                    "every query runs the full forward, batched", type(inner).__name__, mixing)
    pixels = declared.pixels if isinstance(declared, ModelPreprocessing) else declared
    clf = TorchClassifier(module, preprocess=pixels, delta=delta, **options)
    if mixing is not None:
        clf.delta_note = f"self-attention ({mixing}) lets one pixel reach the whole feature map"
    if isinstance(declared, ModelPreprocessing):
        attach(clf, declared)
    names, where = (list(class_names), "given") if class_names is not None else (None, None)
    for obj, what in ((preprocess, "the preprocess= object"), (module, "the module's metadata")):
        if names is None and obj is not None:
            names, where = class_names_from(obj), what
    if names is not None:
        clf.class_names = names
        clf.class_names_source = where  # type: ignore[attr-defined]
        clf.num_classes = clf.num_classes or len(names)
    return clf


def attach(clf: Any, pre: ModelPreprocessing) -> None:
    """Give a classifier its declared preprocessing: the pixel step, the photo geometry and the input size."""
    if isinstance(clf, TorchClassifier):
        clf.preprocess = pre.pixels
    clf.preprocessing = pre
    clf.photo_preprocess = pre.photo
    clf.input_size = pre.input_size


# ------------------------------------------------------------------------------------------------ explaining
def describe_model(clf: Any) -> dict[str, Any]:
    """What the attack will query: the model, its input, where its preprocessing and class names came from
    (for ``onepixel attack --explain`` and ``--json``)."""
    pre = getattr(clf, "preprocessing", None)
    names = getattr(clf, "class_names", None)
    source = getattr(clf, "source", None) or {}
    size = getattr(clf, "input_size", None)
    delta = _delta_state(clf)
    return {
        "name": getattr(clf, "name", None),
        "kind": source.get("kind") or type(clf).__name__,
        "architecture": source.get("architecture"),
        "sha256": getattr(clf, "sha256", None),
        "input_size": list(size) if size else None,
        "num_classes": getattr(clf, "num_classes", None) or (len(names) if names else None),
        "class_names": {"source": getattr(clf, "class_names_source", None) or source.get("class_names")
                        or ("model" if names else None),
                        "count": len(names) if names else 0, "first": list(names[:5]) if names else []},
        "preprocessing": pre.describe() if pre is not None else None,
        "delta_inference": delta,
    }


def _delta_state(clf: Any) -> str | None:
    """Whether search queries may run incrementally (:mod:`onepixel.models.delta`), and why not."""
    if not isinstance(clf, TorchClassifier):
        return None
    if clf.delta is False:
        note = getattr(clf, "delta_note", None)
        return f"off ({note})" if note else "off"
    if clf.device.type != "cpu" and clf.delta == "auto":
        return "off on this device (the batched full forward is used on GPUs)"
    engine, size = clf.delta_engine(), getattr(clf, "input_size", None)
    if engine is not None and size is not None and engine.net((3, int(size[0]), int(size[1]))) is None:
        return f"off (torch.fx cannot trace the model: {engine.trace_error})"
    return "on where the geometry gains (CPU)" if clf.delta == "auto" else "on"


def explain_lines(clf: Any) -> list[str]:
    """:func:`describe_model` as a few readable lines."""
    d = describe_model(clf)
    pre = getattr(clf, "preprocessing", None)
    size = "x".join(str(v) for v in d["input_size"]) if d["input_size"] else "any (not declared)"
    names = d["class_names"]
    first = ", ".join(names["first"]) + (", ..." if names["count"] > len(names["first"]) else "")
    lines = [f"model: {d['name'] or '-'} ({d['architecture'] or d['kind']})" + (f", sha256 {d['sha256'][:12]}"
                                                                               if d["sha256"] else ""),
             f"input: {size} uint8 pixels; {d['num_classes'] or '?'} classes",
             "preprocessing: " + (pre.summary() if pre is not None else "as built into the model (not declared)"),
             f"class names: {first} [from {names['source']}]" if names["count"] else "class names: none (indices)"]
    if d["delta_inference"] is not None:
        lines.append(f"delta inference: {d['delta_inference']}")
    return lines
