"""Resolve a model given by name or file into a :class:`Classifier`; the file format is detected from the file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelError
from .base import Classifier

TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript")
# ModelProto starts with a field key byte (ir_version: 0x08); text or HTML saved as .onnx does not.
_PROTOBUF_FIRST_BYTES = (b"\x08", b"\x12", b"\x1a", b"\x22", b"\x2a", b"\x32", b"\x3a", b"\x42")


@dataclass(frozen=True)
class ModelFormat:
    """A model file format: how to recognise a file of it and how to load one.

    Attributes:
        name: the format's name (what :func:`detect_format` returns).
        suffixes: the file suffixes it claims; a file with one of them that ``recognises`` refuses gets
            ``mismatch``'s one-line error instead of "unknown format".
        recognises: ``(first 8 bytes, lower-case suffix) -> bool``; the content wins where it can tell.
        mismatch: ``(path, first bytes) -> message`` for a file with this format's suffix but not its content.
        load: ``(path, **options) -> Classifier``; imports its runtime only when called.
        described: how the "cannot tell the format" message names it.
    """

    name: str
    suffixes: tuple[str, ...]
    recognises: Callable[[bytes, str], bool]
    mismatch: Callable[[Path, bytes], str]
    load: Callable[..., Classifier]
    described: str


def _load_tflite(path: Path, **options: Any) -> Classifier:
    from .tflite import TFLiteClassifier

    return TFLiteClassifier(path, **_only(options, "device", "cpu"))


def _load_onnx(path: Path, **options: Any) -> Classifier:
    from .onnx import OnnxClassifier

    return OnnxClassifier(path, **_only(options, "device", "cpu"))


def _load_torchscript(path: Path, **options: Any) -> Classifier:
    from .pytorch import load_torchscript

    return load_torchscript(path, **options)


#: the known model file formats, in the order :func:`detect_format` tries them (add one with :func:`register_format`)
MODEL_FORMATS: dict[str, ModelFormat] = {}


def register_format(fmt: ModelFormat) -> None:
    """Make ``onepixel`` read another model file format (tried after the ones registered before it)."""
    MODEL_FORMATS[fmt.name] = fmt


register_format(ModelFormat(
    "tflite", (".tflite",), lambda head, suffix: len(head) >= 8 and head[4:8] == b"TFL3",  # the flatbuffer identifier
    lambda path, head: f"{path} has the .tflite suffix but no TFL3 identifier; it is not a TFLite flatbuffer",
    _load_tflite, ".tflite"))
register_format(ModelFormat(
    "torchscript", TORCHSCRIPT_SUFFIXES, lambda head, suffix: head[:4] == b"PK\x03\x04",  # a zip archive
    lambda path, head: f"{path} is not a TorchScript archive (no zip header); save the model with torch.jit.save",
    _load_torchscript, f"TorchScript ({', '.join(TORCHSCRIPT_SUFFIXES)})"))
register_format(ModelFormat(
    "onnx", (".onnx",), lambda head, suffix: suffix == ".onnx" and head[:1] in _PROTOBUF_FIRST_BYTES,
    lambda path, head: f"{path} has the .onnx suffix but is not an ONNX protobuf (first bytes {head[:4]!r}); "
                       "was it saved as text or downloaded as an HTML page?",
    _load_onnx, ".onnx"))
#: the names of the known formats
FORMATS = tuple(MODEL_FORMATS)


def detect_format(path: str | Path) -> str:
    """The name of a model file's format (``"onnx"``, ``"tflite"``, ``"torchscript"``, or a registered one),
    from its first bytes and its suffix.

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
    for fmt in MODEL_FORMATS.values():
        if fmt.recognises(head, suffix):
            return fmt.name
    for fmt in MODEL_FORMATS.values():
        if suffix in fmt.suffixes:
            raise ModelError(fmt.mismatch(path, head))
    if not head:
        raise ModelError(f"{path} is empty")
    known = [fmt.described for fmt in MODEL_FORMATS.values()]
    raise ModelError(f"cannot tell the model format of {path}; onepixel reads {', '.join(known[:-1])} and "
                     f"{known[-1]} files")


#: models known by name (the zoo registers its own when ``onepixel.zoo`` is imported, as ``import onepixel`` does):
#: name -> ``loader(name, **options)``. A registry rather than an import of the zoo, which is built on these adapters.
NAMED_MODELS: dict[str, Callable[..., Classifier]] = {}


def register_named_models(names: list[str], loader: Callable[..., Classifier]) -> None:
    """Make ``load_model`` (and so ``--model`` and ``as_classifier``) accept each of ``names``."""
    for name in names:
        NAMED_MODELS[name.lower()] = loader


def load_model(spec: str, **options: Any) -> Classifier:
    """A zoo name (``allconv``, ``nin``, ``vgg16``, ``resnet20``), a model file (.onnx, .tflite, .pt
    TorchScript), or a Hugging Face checkpoint (a folder, or a hub id in the local cache); ``options`` go to the
    adapter (:class:`~onepixel.models.onnx.OnnxClassifier`, :class:`~onepixel.models.tflite.TFLiteClassifier`,
    :class:`~onepixel.models.pytorch.TorchClassifier`, :func:`~onepixel.models.huggingface.load_hf`).
    ``options["preprocess"]`` may be a dict of preprocessing overrides (``--preprocess``) for Hugging Face
    checkpoints and TorchScript files."""
    from .huggingface import is_checkpoint_folder, load_hf, looks_like_hub_id

    if spec.lower() in NAMED_MODELS:
        if options.get("preprocess") is not None:
            raise ModelError(f"zoo model {spec} has fixed preprocessing; --preprocess is for Hugging Face checkpoints "
                             "and TorchScript files")
        return NAMED_MODELS[spec.lower()](spec.lower(), **options)
    path = Path(spec)
    if is_checkpoint_folder(path) or looks_like_hub_id(spec):
        return load_hf(spec, **options)
    if not path.exists():
        raise ModelError(f"no zoo model or file named {spec!r} (nor a Hugging Face checkpoint folder or cached hub "
                         f"id org/name); zoo models: {', '.join(NAMED_MODELS)}")
    if path.is_dir():
        raise ModelError(f"{path} is a folder without config.json; a Hugging Face checkpoint folder holds "
                         "config.json, safetensors weights and preprocessor_config.json")
    overrides = options.pop("preprocess", None) if isinstance(options.get("preprocess"), dict) else None
    fmt = detect_format(path)
    if overrides and fmt != "torchscript":
        raise ModelError(f"--preprocess is for Hugging Face checkpoints and TorchScript files, not {fmt} models")
    clf = MODEL_FORMATS[fmt].load(path, **options)
    if overrides:
        from .metadata import attach
        from .preprocessing import with_overrides

        attach(clf, with_overrides(None, overrides))
    return clf


def _only(options: dict[str, Any], key: str, allowed: str) -> dict[str, Any]:
    """Drop ``key`` (e.g. the CLI's ``device``) for CPU-only adapters, refusing values they cannot honour."""
    options = dict(options)
    value = options.pop(key, allowed)
    if str(value) != allowed:
        raise ModelError(f"{key}={value!r} is not supported for this model format (it runs on the {allowed})")
    return options
