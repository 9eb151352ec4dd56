"""Hugging Face image-classification checkpoints (``onepixel[hf]``): a folder or a hub id in the local cache.

A checkpoint is ``config.json`` + safetensors weights + ``preprocessor_config.json``. The network is loaded
with ``transformers`` (``AutoModelForImageClassification``, never with remote code); the preprocessing is read
from the image-processor config (:func:`onepixel.models.preprocessing.from_hf`) and the class names from
``id2label``. onepixel never downloads: a hub id must already be in the cache (``HF_HOME``), and the error
for one that is not says how to fetch it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import ModelError
from .metadata import id2label_names, torch_classifier
from .preprocessing import ModelPreprocessing, from_hf, with_overrides
from .pytorch import TorchClassifier

#: ``org/name`` as the hub spells repository ids
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
PROCESSOR_FILE = "preprocessor_config.json"


def is_checkpoint_folder(path: str | Path) -> bool:
    """A folder with a ``config.json`` (a Hugging Face checkpoint, to be checked further when loaded)."""
    return Path(path).is_dir() and (Path(path) / "config.json").is_file()


def looks_like_hub_id(spec: str) -> bool:
    """``org/name`` that is not a path on disk."""
    return bool(HUB_ID.fullmatch(spec)) and not Path(spec).exists()


class LogitsOf(nn.Module):
    """A ``transformers`` classifier as a plain module: float NCHW pixel values in, logits out."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values).logits


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise ModelError("Hugging Face checkpoints need transformers: pip install 'onepixel[hf]'") from None
    transformers.utils.logging.set_verbosity_error()  # no "Loading weights" bars or notes on stderr
    transformers.utils.logging.disable_progress_bar()
    return transformers


def hub_cache() -> str | None:
    """The hub cache as the environment names it now (``HF_HUB_CACHE``, else ``HF_HOME/hub``), or None for
    huggingface_hub's own default (read when it was imported)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    return str(Path(os.environ["HF_HOME"]) / "hub") if os.environ.get("HF_HOME") else None


def cached_folder(hub_id: str) -> Path:
    """The local snapshot folder of ``hub_id`` in the Hugging Face cache; never downloads."""
    try:
        from huggingface_hub import constants, snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:
        raise ModelError("Hugging Face checkpoints need transformers: pip install 'onepixel[hf]'") from None
    cache = hub_cache()
    try:
        return Path(snapshot_download(repo_id=hub_id, local_files_only=True, cache_dir=cache))
    except LocalEntryNotFoundError:
        raise ModelError(
            f"Hugging Face model {hub_id!r} is not in the local cache ({cache or constants.HF_HUB_CACHE}); onepixel does not "
            f"download models. Fetch it once with: huggingface-cli download {hub_id} (newer huggingface_hub: "
            f"hf download {hub_id}), or pass the path of a checkpoint folder") from None
    except Exception as e:  # a malformed id, a broken cache entry
        raise ModelError(f"cannot find Hugging Face model {hub_id!r} in the local cache: {e}") from None


def weights_sha256(folder: Path) -> str:
    """sha256 over the checkpoint's safetensors files (in name order): a run records it and refuses others."""
    files = sorted(folder.glob("*.safetensors"))
    h = hashlib.sha256()
    for f in files:
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def read_preprocessing(folder: Path, overrides: Mapping[str, Any] | None = None) -> ModelPreprocessing:
    """The checkpoint's preprocessing from ``preprocessor_config.json``, with the user's overrides."""
    cfg_file = folder / PROCESSOR_FILE
    base = None
    if cfg_file.is_file():
        try:
            base = from_hf(json.loads(cfg_file.read_text(encoding="utf-8")), f"{PROCESSOR_FILE}")
        except json.JSONDecodeError as e:
            raise ModelError(f"{cfg_file} is not valid JSON ({e})") from None
    elif not overrides:
        raise ModelError(f"{folder} has no {PROCESSOR_FILE}, so its preprocessing is unknown; pass the values the "
                         "model was trained with, e.g. --preprocess size=224 --preprocess resize=256 "
                         "--preprocess mean=0.485,0.456,0.406 --preprocess std=0.229,0.224,0.225")
    return with_overrides(base, overrides) if overrides else base  # type: ignore[return-value]


def load_hf(spec: str | Path, preprocess: Mapping[str, Any] | ModelPreprocessing | None = None,
            class_names: Sequence[str] | None = None, **options: Any) -> TorchClassifier:
    """A Hugging Face image classifier from a checkpoint folder or a cached hub id.

    Args:
        spec: a folder with ``config.json`` or an ``org/name`` hub id already in the local cache.
        preprocess: overrides of the checkpoint's preprocessing (keys of
            :data:`~onepixel.models.preprocessing.OVERRIDE_KEYS`, e.g. ``{"size": 224}``) or a whole
            :class:`~onepixel.models.preprocessing.ModelPreprocessing`.
        class_names: replace the names from ``id2label``.
        options: for :class:`~onepixel.models.pytorch.TorchClassifier` (device, batch_size, precision, delta).
    """
    spec = str(spec)
    folder = Path(spec) if Path(spec).exists() else cached_folder(spec) if looks_like_hub_id(spec) else Path(spec)
    if not is_checkpoint_folder(folder):
        raise ModelError(f"{spec} is not a Hugging Face checkpoint folder (no config.json)")
    if not any(folder.glob("*.safetensors")):
        raise ModelError(f"{folder} has no safetensors weights; onepixel does not load pickled weights "
                         "(pytorch_model.bin). Convert them with save_pretrained(..., safe_serialization=True)")
    tf = _transformers()
    try:
        config = tf.AutoConfig.from_pretrained(str(folder), local_files_only=True)
    except Exception as e:
        raise ModelError(f"cannot read {folder / 'config.json'}: {e}") from None
    if "AutoModelForImageClassification" in (getattr(config, "auto_map", None) or {}):
        raise ModelError(f"{spec} needs its own code (trust_remote_code); onepixel runs no code from checkpoints")
    pre = preprocess if isinstance(preprocess, ModelPreprocessing) else read_preprocessing(folder, preprocess)
    size = getattr(config, "image_size", None)
    if isinstance(size, int) and getattr(config, "model_type", "") in ("vit", "deit", "beit", "dinov2") \
            and pre.input_size != (size, size):
        raise ModelError(f"{spec}: the preprocessing makes {pre.input_size[0]}x{pre.input_size[1]} inputs but the "
                         f"model takes {size}x{size} (config image_size); fix --preprocess size")
    try:
        model = tf.AutoModelForImageClassification.from_pretrained(str(folder), local_files_only=True,
                                                                   use_safetensors=True)
    except Exception as e:
        raise ModelError(f"cannot load {spec} as an image classifier ({type(e).__name__}: {e})") from None
    names = list(class_names) if class_names is not None else id2label_names(config.id2label or {})
    clf = torch_classifier(LogitsOf(model.eval()), preprocess=pre, class_names=names, **options)
    clf.num_classes = int(config.num_labels)
    clf.name = spec if not Path(spec).exists() else folder.resolve().name
    clf.sha256 = weights_sha256(folder)
    clf.source = {"kind": "huggingface", "architecture": type(model).__name__, "folder": str(folder),
                  "class_names": "id2label" if class_names is None and names else
                  ("given" if class_names is not None else "none (LABEL_i placeholders)")}
    clf.class_names_source = clf.source["class_names"]  # type: ignore[attr-defined]
    return clf
