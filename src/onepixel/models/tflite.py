"""Adapter for TensorFlow Lite models through ``ai-edge-litert`` (``pip install onepixel[tflite]``).

Full-integer models (uint8 or int8 input and output) are supported as deployed: the input is fed as
quantised pixels and the output is dequantised with the output tensor's scale and zero point. Inputs:

- uint8: the raw pixels. That is the TFLite image-model convention: the input's quantisation parameters
  carry the normalisation (the ImageNet MobileNets use scale 1/128, zero point 128, i.e. (p - 128) / 128).
- int8: the pixels minus 128 (the converter's int8 form of the same uint8 input, same scale).
- float32: ``pixels * float_input[0] + float_input[1]`` (default (1/127.5, -1): the [-1, 1] range of the
  MobileNet and Inception families).

Batching: the interpreter's batch dimension is resized to ``batch_size`` where the graph allows it (checked
against single-image runs); the classic ImageNet models reshape to a fixed [1, 1001], so they are run one
image at a time (``interpreter_batch`` says which happened).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelError
from .base import Classifier, default_threads
from .quantised import background_offset, check_output_option, finish, looks_like_probabilities

#: TFLite's fixed quantisation of softmax outputs: scale 1/256, zero point 0 (uint8) or -128 (int8)
SOFTMAX_SCALE = 1.0 / 256.0


@contextmanager
def native_info_dropped() -> Iterator[None]:
    """Run native code with its ``INFO:`` lines on the process's stderr dropped, every other line passed on.

    The TFLite runtime announces itself from C++ ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")
    straight to file descriptor 2, past Python's ``sys.stderr``, and LiteRT reads no environment variable to
    silence it (not ``TF_CPP_MIN_LOG_LEVEL``). So fd 2 points at a temporary file for the call; afterwards the
    lines that are not INFO (warnings, errors) are written to the real stderr, so nothing else is lost.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no stderr to guard (a closed or replaced stream)
        yield
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().splitlines(keepends=True) if not line.startswith(b"INFO: ")]
            if kept:
                os.write(2, b"".join(kept))


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise ModelError("TFLite models need ai-edge-litert: pip install onepixel[tflite]") from None
    return Interpreter


class TFLiteClassifier(Classifier):
    """Query a ``.tflite`` image classifier on uint8 NHWC images.

    Args:
        path: the ``.tflite`` file.
        output: ``"auto"`` (probabilities when the output is TFLite's fixed softmax quantisation or its rows
            sum to 1, else logits), ``"probs"`` or ``"logits"``.
        background: ``"auto"`` drops output 0 of 1001-output models (the classic ImageNet "background"), so
            that outputs are the 1000 ImageNet classes in standard order; True / False to force.
        batch_size: images per interpreter call where the batch dimension can be resized.
        num_threads: interpreter threads (default: ``OMP_NUM_THREADS`` if set, else all CPUs).
        float_input: (scale, offset) from pixels to a float32 input.
        class_names: names of the classes (default: the ImageNet names for 1001-output models).
    """

    fixed_batch_shape = False  # chunks are padded to the interpreter's own fixed batch inside _forward
    input_size: tuple[int, int]  # read from the model file: always declared

    def __init__(self, path: str | Path, output: str = "auto", background: bool | str = "auto", batch_size: int = 32,
                 num_threads: int | None = None, float_input: tuple[float, float] = (1.0 / 127.5, -1.0),
                 class_names: list[str] | tuple[str, ...] | None = None) -> None:
        check_output_option(output)
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"model file not found: {self.path}")
        self._Interpreter = _interpreter_class()
        self.num_threads = num_threads or default_threads()
        self.float_input = float_input
        self.device = torch.device("cpu")
        self._interp = self._make(1)
        inp, out = self._interp.get_input_details(), self._interp.get_output_details()
        if len(inp) != 1 or len(inp[0]["shape"]) != 4 or inp[0]["shape"][3] not in (1, 3):
            shapes = [tuple(int(v) for v in d["shape"]) for d in inp]
            raise ModelError(f"{self.path.name}: expected one NHWC image input with 1 or 3 channels, got inputs {shapes}")
        if len(out) != 1 or len(out[0]["shape"]) != 2:
            raise ModelError(f"{self.path.name}: expected one (batch, classes) output, got {[tuple(d['shape']) for d in out]}")
        self._in, self._out = inp[0], out[0]
        self.input_size = (int(self._in["shape"][1]), int(self._in["shape"][2]))
        self.channels = int(self._in["shape"][3])
        self.input_dtype = np.dtype(self._in["dtype"])
        if self.input_dtype not in (np.uint8, np.int8, np.float32):
            raise ModelError(f"{self.path.name}: unsupported input type {self.input_dtype} (uint8, int8 or float32)")
        self.output_scale, self.output_zero_point = (float(v) for v in self._out["quantization"])
        raw_classes = int(self._out["shape"][1])
        self.drop_background = background_offset(raw_classes, background)
        self.num_classes = raw_classes - int(self.drop_background)
        self.output = self._detect_output() if output == "auto" else output
        self.batch_size = max(1, int(batch_size))
        self.interpreter_batch = self._try_batch(self.batch_size) if self.batch_size > 1 else 1
        if class_names is None and raw_classes == 1001 and self.drop_background:
            from ..data.labels import imagenet_classes

            class_names = imagenet_classes()
        self.class_names = list(class_names) if class_names is not None else None

    def _make(self, batch: int):
        try:
            with native_info_dropped():  # the runtime's "INFO: Created ... delegate" is no news to a user
                interp = self._Interpreter(model_path=str(self.path), num_threads=self.num_threads)
                if batch != 1:
                    d = interp.get_input_details()[0]
                    shape = np.array(d["shape"])
                    shape[0] = batch
                    interp.resize_tensor_input(d["index"], shape, strict=False)
                interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            if batch != 1:
                raise
            raise ModelError(f"could not load {self.path} as a TFLite model ({str(e).splitlines()[0]})") from None
        return interp

    def _try_batch(self, batch: int) -> int:
        """Resize the batch dimension if the graph allows it and gives the single-image answers; else 1."""
        try:
            big = self._make(batch)
        except (ValueError, RuntimeError):  # e.g. a RESHAPE to a fixed [1, 1001], as in the classic MobileNets
            return 1
        if tuple(big.get_output_details()[0]["shape"]) != (batch, int(self._out["shape"][1])):
            return 1
        rng = np.random.default_rng(0)
        probe = rng.integers(0, 256, (batch, *self.input_size, self.channels), dtype=np.uint8)
        together = self._invoke(big, probe)
        alone = np.concatenate([self._invoke(self._interp, probe[i:i + 1]) for i in (0, batch - 1)])
        # One quantisation step of slack: kernels may pick another (equally valid) path per batch size.
        step = self.output_scale if self.output_scale > 0 else 1e-5
        if np.abs(together[[0, batch - 1]] - alone).max() > step + 1e-9:
            return 1
        self._interp = big
        return batch

    def _quantise_input(self, pixels: np.ndarray) -> np.ndarray:
        if self.input_dtype == np.uint8:
            return pixels
        if self.input_dtype == np.int8:
            return (pixels.astype(np.int16) - 128).astype(np.int8)
        a, b = self.float_input
        return pixels.astype(np.float32) * np.float32(a) + np.float32(b)

    def dequantise(self, raw: np.ndarray) -> np.ndarray:
        """Real-valued outputs from the output tensor's raw values: ``scale * (q - zero_point)``."""
        if np.issubdtype(raw.dtype, np.integer):
            if self.output_scale == 0:
                raise ModelError(f"{self.path.name}: integer output without quantisation parameters")
            return (raw.astype(np.float64) - self.output_zero_point) * self.output_scale
        return raw.astype(np.float64)

    def _invoke(self, interp, pixels: np.ndarray) -> np.ndarray:
        interp.set_tensor(self._in["index"], self._quantise_input(pixels))
        interp.invoke()
        return self.dequantise(interp.get_tensor(self._out["index"]))

    def raw_output(self, pixels: np.ndarray) -> np.ndarray:
        """The output tensor's raw values (e.g. uint8) for one image (1, H, W, C): for checks and debugging."""
        self._interp.set_tensor(self._in["index"], self._quantise_input(np.asarray(pixels, dtype=np.uint8)))
        self._interp.invoke()
        return self._interp.get_tensor(self._out["index"]).copy()

    def _detect_output(self) -> str:
        q = np.dtype(self._out["dtype"])
        if q in (np.uint8, np.int8):
            zp = 0 if q == np.uint8 else -128
            if abs(self.output_scale - SOFTMAX_SCALE) < 1e-9 and self.output_zero_point == zp:
                return "probs"
        rng = np.random.default_rng(0)
        probes = [np.full((1, *self.input_size, self.channels), 128, np.uint8),
                  rng.integers(0, 256, (1, *self.input_size, self.channels), dtype=np.uint8)]
        scores = np.concatenate([self._invoke(self._interp, p) for p in probes])
        return "probs" if looks_like_probabilities(scores) else "logits"

    def _forward(self, images: torch.Tensor, reference: bool) -> torch.Tensor:
        pixels = images.cpu().numpy()
        n, h, w, c = pixels.shape
        if (h, w) != self.input_size or c != self.channels:
            raise ModelError(f"{self.path.name} takes {self.input_size[1]}x{self.input_size[0]}x{self.channels} images, "
                             f"got {w}x{h}x{c}; preprocess photos to the model's input size first")
        b = self.interpreter_batch
        out = []
        for s in range(0, n, b):
            chunk = pixels[s:s + b]
            real = len(chunk)
            if real < b:  # the interpreter's batch is fixed: pad with copies of the last image
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], b - real, axis=0)])
            out.append(self._invoke(self._interp, chunk)[:real])
        return finish(np.concatenate(out), self.output, self.drop_background)
