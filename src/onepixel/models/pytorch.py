"""Adapter for PyTorch ``nn.Module`` classifiers (and TorchScript files loaded into one)."""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import InputError, ModelError
from .base import Classifier, to_probabilities
from .delta import DeltaEngine
from .threads import GovernedThreads

#: under ``delta="auto"`` a window class runs incrementally where its arithmetic bound (full-forward MACs over
#: delta MACs at the worst position) reaches this: below it, gathers and small-window convolutions eat the gain
AUTO_DELTA_GAIN = 1.3
#: under ``delta="auto"``, multi-pixel searches with fewer proposals per image per round than this use the full
#: forward: their few rows split over several window sizes, each padded to a chunk (one-image random search,
#: 3 pixels, AllConv: 134 q/s with delta vs 230 without; benchmarks/single_image.py)
AUTO_DELTA_MIN_ROUND = 64


@dataclass(frozen=True)
class Preprocess:
    """How uint8 NHWC pixels become the module's float NCHW input: ``(pixels * scale - mean) / std``.

    ``mean`` and ``std`` are per channel (or None for none). Declared as data so it can be stored with a
    model, printed, and compared.
    """

    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    @classmethod
    def cifar10(cls) -> Preprocess:
        """Per-channel CIFAR-10 training-set statistics, as used by the zoo models."""
        return cls(mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616))

    @classmethod
    def imagenet(cls) -> Preprocess:
        """The torchvision / timm ImageNet normalisation."""
        return cls(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))

    def __call__(self, images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).to(torch.float32) * self.scale
        if self.mean is not None:
            x = x - torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        if self.std is not None:
            x = x / torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return x.to(dtype).contiguous(memory_format=torch.channels_last)


def as_device(device: str | torch.device) -> torch.device:
    """``device`` as torch reads it (cpu, cuda, cuda:N, mps, ...); a typo is one :class:`InputError`."""
    try:
        return torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(f"{str(device)!r} is not a device; use cpu, cuda or cuda:N") from None


def fast_bf16_available(device: torch.device | str) -> bool:
    """True where bf16 convolutions beat fp32: CUDA with bf16, or a CPU with AMX or AVX512-BF16."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


@contextmanager
def _no_grad_warning() -> Iterator[None]:
    """Moving or casting a TorchScript module reads each parameter's ``.grad``, which makes torch warn once per
    parameter about non-leaf tensors; nothing here uses gradients, so the warning only hides real ones."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The .grad attribute of a Tensor that is not a leaf")
        yield


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold eval-mode BatchNorm into the preceding convolutions where torch.fx can trace the module."""
    try:
        from torch.fx.experimental.optimization import fuse

        return fuse(module)
    except Exception:  # untraceable (data-dependent control flow, TorchScript): keep it as it is
        return module


class TorchClassifier(Classifier):
    """Query an ``nn.Module`` on uint8 NHWC images.

    Args:
        module: maps float NCHW input to (n, classes) scores.
        preprocess: how pixels become the module's input (see :class:`Preprocess`).
        output: ``"logits"`` (softmax applied) or ``"probs"``.
        device: where the module and the images live ("cpu", "cuda", ...).
        batch_size: rows per forward; default 64 on CPU, 1024 on CUDA.
        precision: ``"fp32"``; ``"bf16"`` to search in bf16 + channels_last with BN folded (successes are
            re-verified in fp32); ``"auto"`` picks bf16 where the hardware is fast at it.
        delta: incremental inference for search queries (:mod:`onepixel.models.delta`): recompute only the
            windows of each feature map that the changed pixels reach. ``"auto"`` (default) uses it on CPU
            for the change sizes where the network's geometry promises a gain, except for multi-pixel searches
            with small rounds (fewer than 64 proposals per image: the random search), where window sizes
            split the rows (fixed rules, so runs stay reproducible); ``True`` wherever it is possible; ``False`` never. Delta results match the full
            forward up to rounding, and successes are always re-verified with the full fp32 forward.
        delta_batch_size: rows per delta chunk (default 64: each window class pads its last chunk, and once
            the runner answers DE's repeated trials from memory (:mod:`onepixel.memo`) a round leaves few new
            rows per class; 64 runs within 3-6 % of 400 per row here, 1 thread, NiN and AllConv).
    """

    #: why delta inference is off for this model, where it was turned off for a reason (said by ``--explain``)
    delta_note: str | None = None

    def __init__(
        self,
        module: nn.Module,
        preprocess: Preprocess | None = None,
        output: str = "logits",
        device: str | torch.device = "cpu",
        batch_size: int | None = None,
        precision: str = "auto",
        num_classes: int | None = None,
        delta: bool | str = "auto",
        delta_batch_size: int | None = None,
    ) -> None:
        if precision not in ("auto", "fp32", "bf16"):
            raise InputError(f"precision must be 'auto', 'fp32' or 'bf16' (got {precision!r})")
        if delta not in (True, False, "auto"):
            raise InputError(f"delta must be True, False or 'auto' (got {delta!r})")
        self.device = as_device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError("device 'cuda' was asked for but PyTorch sees no CUDA GPU; use --device cpu")
        self.preprocess = preprocess or Preprocess()
        self.output = output
        to_probabilities(torch.zeros(1, 1), output)
        self.batch_size = batch_size or (1024 if self.device.type == "cuda" else 64)
        self.num_classes = num_classes
        with _no_grad_warning():
            self.reference = module.eval().to(self.device)
        use_bf16 = precision == "bf16" or (precision == "auto" and fast_bf16_available(self.device))
        self._bf16 = use_bf16
        self.fast = self.reference
        if use_bf16:
            fast = fold_batchnorm(copy.deepcopy(self.reference))
            with _no_grad_warning():
                self.fast = fast.to(torch.bfloat16).to(memory_format=torch.channels_last).eval()  # type: ignore[call-overload]
        self.precision = "bf16" if use_bf16 else "fp32"
        self.delta = delta
        self.delta_batch_size = delta_batch_size or 64
        self._delta: DeltaEngine | None = None
        self._delta_used = False
        #: the thread count of each CPU call, delta chunks and full forwards (:mod:`onepixel.models.threads`)
        self.threads = GovernedThreads(None if self.device.type == "cpu" else 1)

    @property
    def has_fast_precision(self) -> bool:  # type: ignore[override]
        """True when search scores may differ from the full fp32 forward (bf16, or delta inference used), so
        the runner re-verifies successes with ``reference=True``."""
        return self._bf16 or self._delta_used

    def delta_engine(self) -> DeltaEngine | None:
        """The incremental-inference engine for search queries, or None where ``delta`` rules it out."""
        if self.delta is False or (self.delta == "auto" and self.device.type != "cpu"):
            # On a GPU the full forward of a big batch is cheap and delta's many small ops would not pay.
            return None
        if self._delta is None:
            module = self.fast
            if not self._bf16:  # fold BN and go channels_last here too: fewer, faster ops on the windows
                with _no_grad_warning():
                    module = fold_batchnorm(copy.deepcopy(self.reference)).to(memory_format=torch.channels_last).eval()  # type: ignore[call-overload]
            gain = 1.0 if self.delta is True else AUTO_DELTA_GAIN
            self._delta = DeltaEngine(module, self.preprocess, self.delta_batch_size, min_gain=gain,
                                      threads=self.threads)
        return self._delta

    def query(self, bases: torch.Tensor, which: np.ndarray, x: np.ndarray, y: np.ndarray, colours: np.ndarray,
              reference: bool = False, rows_per_image: int | None = None) -> np.ndarray:
        """Probabilities of perturbed images; search queries go through delta inference where it applies
        (see ``delta``), the rest (and every reference query) through the full forward."""
        small_multi = rows_per_image is not None and rows_per_image < AUTO_DELTA_MIN_ROUND and x.shape[-1] > 1
        engine = None if reference or (self.delta == "auto" and small_multi) else self.delta_engine()
        if engine is None or len(which) == 0:
            return super().query(bases, which, x, y, colours, reference, rows_per_image)
        chw = (int(bases.shape[3]), int(bases.shape[1]), int(bases.shape[2]))
        if engine.net(chw) is None:
            if self.delta is True:
                warnings.warn(f"delta inference is off for this model: {engine.trace_error}", stacklevel=2)
            else:  # said once: the setting is turned off with it
                logging.getLogger("onepixel").warning(
                    "onepixel: delta inference is off for this model (torch.fx cannot trace it: %s); every query "
                    "runs the full forward, batched", engine.trace_error)
            self.delta = False
            return super().query(bases, which, x, y, colours, reference, rows_per_image)
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        try:
            with torch.inference_mode():
                chunk = self.search_chunk(engine.batch_size, rows_per_image)
                for real, padded, scores in engine.chunks(bases, which, x, y, colours, chunk):
                    if scores is None:
                        parts.append((padded, super().query(bases, which[padded], x[padded], y[padded], colours[padded],
                                                            rows_per_image=rows_per_image)))
                    else:
                        assert real is not None  # rows with a plan come with their scores
                        self._delta_used = True
                        probs = self._checked(to_probabilities(scores, self.output), len(padded))
                        parts.append((real, probs[: len(real)]))
        except ModelError:
            raise
        except Exception as e:  # a user's model may raise anything; name it, keep the cause chained
            raise ModelError(f"the model raised {type(e).__name__} under delta inference (try delta=False): {e}") from e
        out = np.empty((len(which), parts[0][1].shape[1]))
        for rows, probs in parts:
            out[rows] = probs
        return out

    def _chunks(self, build, n: int, reference: bool, bs: int | None = None) -> np.ndarray:  # noqa: ANN001
        with self.threads.query():
            return super()._chunks(build, n, reference, bs)

    def _call(self, images: torch.Tensor, reference: bool) -> torch.Tensor:
        """One chunk's full forward on the governed thread count (per precision, checked per input shape)."""
        forward = super()._call
        return self.threads.call(("full", reference), ("full", reference, tuple(images.shape)), len(images),
                                 lambda: forward(images, reference))

    def _forward(self, images: torch.Tensor, reference: bool) -> torch.Tensor:
        if reference or not self._bf16:
            with ieee_fp32(self.device):
                scores = self.reference(self.preprocess(images))
        else:
            scores = self.fast(self.preprocess(images, torch.bfloat16))
        return to_probabilities(scores, self.output)


@contextmanager
def ieee_fp32(device: torch.device) -> Iterator[None]:
    """Full fp32 arithmetic for CUDA convolutions and matmuls inside the block, restored after it.

    PyTorch lets cuDNN run fp32 convolutions in TF32 (10-bit mantissa) by default on Ampere and later GPUs, so
    the "fp32" reference that re-verifies every success would round almost like the bf16 search it checks.
    Uses the ``fp32_precision`` settings where torch has them (>= 2.9; mixing them with ``allow_tf32`` raises),
    else ``allow_tf32``."""
    if device.type != "cuda":
        yield
        return
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    conv: Any = getattr(cudnn, "conv", None)  # the per-operator settings (untyped in torch's stubs)
    knobs: list[tuple[Any, str]]
    value: str | bool  # "ieee" for the per-operator settings, False for allow_tf32
    if hasattr(conv, "fp32_precision") and hasattr(matmul, "fp32_precision"):
        knobs, value = [(conv, "fp32_precision"), (matmul, "fp32_precision")], "ieee"
    else:
        knobs, value = [(cudnn, "allow_tf32"), (matmul, "allow_tf32")], False
    saved = [getattr(owner, name) for owner, name in knobs]
    for owner, name in knobs:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for (owner, name), old in zip(knobs, saved, strict=True):
            setattr(owner, name, old)


def load_torchscript(path: str | Path, **kwargs) -> TorchClassifier:
    """Load a TorchScript file (``torch.jit.save``) as a classifier; kwargs go to :class:`TorchClassifier`."""
    from ..errors import ModelError

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:
        raise ModelError(f"could not load {path} as TorchScript ({type(e).__name__}); save it with torch.jit.save") from e
    return TorchClassifier(module, **kwargs)
