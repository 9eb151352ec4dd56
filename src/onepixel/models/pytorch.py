"""Adapter for PyTorch ``nn.Module`` classifiers (and TorchScript files loaded into one)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from .base import Classifier, to_probabilities


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


def _fold_batchnorm(module: nn.Module) -> nn.Module:
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
    """

    def __init__(
        self,
        module: nn.Module,
        preprocess: Preprocess | None = None,
        output: str = "logits",
        device: str | torch.device = "cpu",
        batch_size: int | None = None,
        precision: str = "auto",
        num_classes: int | None = None,
    ) -> None:
        if precision not in ("auto", "fp32", "bf16"):
            raise InputError(f"precision must be 'auto', 'fp32' or 'bf16' (got {precision!r})")
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError("device 'cuda' was asked for but PyTorch sees no CUDA GPU; use --device cpu")
        self.preprocess = preprocess or Preprocess()
        self.output = output
        to_probabilities(torch.zeros(1, 1), output)
        self.batch_size = batch_size or (1024 if self.device.type == "cuda" else 64)
        self.num_classes = num_classes
        self.reference = module.eval().to(self.device)
        use_bf16 = precision == "bf16" or (precision == "auto" and fast_bf16_available(self.device))
        self.has_fast_precision = use_bf16
        self.fast = self.reference
        if use_bf16:
            fast = _fold_batchnorm(copy.deepcopy(self.reference))
            self.fast = fast.to(torch.bfloat16).to(memory_format=torch.channels_last).eval()
        self.precision = "bf16" if use_bf16 else "fp32"

    def _forward(self, images: torch.Tensor, reference: bool) -> torch.Tensor:
        if reference or not self.has_fast_precision:
            scores = self.reference(self.preprocess(images))
        else:
            scores = self.fast(self.preprocess(images, torch.bfloat16))
        return to_probabilities(scores, self.output)


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
