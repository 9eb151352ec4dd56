"""Resolve a model given by name or file into a :class:`Classifier`; the file format is detected from the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ModelError
from .base import Classifier

TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript")
FORMATS = ("onnx", "tflite", "torchscript")


def detect_format(path: str | Path) -> str:
    """``"onnx"``, ``"tflite"`` or ``"torchscript"`` for a model file, from its first bytes and its suffix.

    The content wins where it is recognisable: a TFLite flatbuffer carries the identifier ``TFL3`` at byte 4,
    and TorchScript files are zip archives (``PK\\x03\\x04``). ONNX files are bare protobuf with no magic, so
    they are recognised by the ``.onnx`` suffix plus a protobuf-looking first byte.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    with path.open("rb") as f:
        head = f.read(8)
    suffix = path.suffix.lower()
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return "tflite"
    if head[:4] == b"PK\x03\x04":
        return "torchscript"
    if suffix == ".onnx":
        # ModelProto starts with a field key byte (ir_version: 0x08); text or HTML saved as .onnx does not.
        if head[:1] in (b"\x08", b"\x12", b"\x1a", b"\x22", b"\x2a", b"\x32", b"\x3a", b"\x42"):
            return "onnx"
        raise ModelError(f"{path} has the .onnx suffix but is not an ONNX protobuf (first bytes {head[:4]!r}); "
                         "was it saved as text or downloaded as an HTML page?")
    if suffix == ".tflite":
        raise ModelError(f"{path} has the .tflite suffix but no TFL3 identifier; it is not a TFLite flatbuffer")
    if suffix in TORCHSCRIPT_SUFFIXES:
        raise ModelError(f"{path} is not a TorchScript archive (no zip header); save the model with torch.jit.save")
    if not head:
        raise ModelError(f"{path} is empty")
    raise ModelError(f"cannot tell the model format of {path}; onepixel reads .onnx, .tflite and TorchScript "
                     f"({', '.join(TORCHSCRIPT_SUFFIXES)}) files")


def load_model(spec: str, **options: Any) -> Classifier:
    """A zoo name (``allconv``, ``nin``, ``vgg16``, ``resnet20``), a model file (.onnx, .tflite, .pt
    TorchScript), or a Hugging Face checkpoint (a folder, or a hub id in the local cache); ``options`` go to the
    adapter (:class:`~onepixel.models.onnx.OnnxClassifier`, :class:`~onepixel.models.tflite.TFLiteClassifier`,
    :class:`~onepixel.models.pytorch.TorchClassifier`, :func:`~onepixel.models.huggingface.load_hf`).
    ``options["preprocess"]`` may be a dict of preprocessing overrides (``--preprocess``) for Hugging Face
    checkpoints and TorchScript files."""
    from .. import zoo
    from .huggingface import is_checkpoint_folder, load_hf, looks_like_hub_id

    if spec.lower() in zoo.names():
        if options.get("preprocess") is not None:
            raise ModelError(f"zoo model {spec} has fixed preprocessing; --preprocess is for Hugging Face checkpoints "
                             "and TorchScript files")
        return zoo.load(spec.lower(), **options)
    path = Path(spec)
    if is_checkpoint_folder(path) or looks_like_hub_id(spec):
        return load_hf(spec, **options)
    if not path.exists():
        raise ModelError(f"no zoo model or file named {spec!r} (nor a Hugging Face checkpoint folder or cached hub "
                         f"id org/name); zoo models: {', '.join(zoo.names())}")
    if path.is_dir():
        raise ModelError(f"{path} is a folder without config.json; a Hugging Face checkpoint folder holds "
                         "config.json, safetensors weights and preprocessor_config.json")
    overrides = options.pop("preprocess", None) if isinstance(options.get("preprocess"), dict) else None
    fmt = detect_format(path)
    if overrides and fmt != "torchscript":
        raise ModelError(f"--preprocess is for Hugging Face checkpoints and TorchScript files, not {fmt} models")
    if fmt == "tflite":
        from .tflite import TFLiteClassifier

        return TFLiteClassifier(path, **_only(options, "device", "cpu"))
    if fmt == "onnx":
        from .onnx import OnnxClassifier

        return OnnxClassifier(path, **_only(options, "device", "cpu"))
    from .pytorch import load_torchscript

    clf = load_torchscript(path, **options)
    if overrides:
        from .metadata import attach, with_overrides

        attach(clf, with_overrides(None, overrides))
    return clf


def _only(options: dict[str, Any], key: str, allowed: str) -> dict[str, Any]:
    """Drop ``key`` (e.g. the CLI's ``device``) for CPU-only adapters, refusing values they cannot honour."""
    options = dict(options)
    value = options.pop(key, allowed)
    if str(value) != allowed:
        raise ModelError(f"{key}={value!r} is not supported for this model format (it runs on the {allowed})")
    return options
