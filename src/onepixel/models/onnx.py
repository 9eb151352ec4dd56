"""Adapter for ONNX models through ``onnxruntime`` (``pip install onepixel[onnx]``).

The input layout (NCHW or NHWC), the input size and whether the batch dimension is dynamic are read from the
graph. Float inputs get ``preprocess`` (default: pixels / 255; ``Preprocess.imagenet()`` for torchvision and
timm exports); uint8 inputs get the raw pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import ModelError
from .base import Classifier, default_threads
from .pytorch import Preprocess
from .quantised import background_offset, check_output_option, finish, looks_like_probabilities

_FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}
_INT_TYPES = {"tensor(uint8)": np.uint8, "tensor(int8)": np.int8}


def _ort():
    try:
        import onnxruntime
    except ImportError:
        raise ModelError("ONNX models need onnxruntime: pip install onepixel[onnx]") from None
    return onnxruntime


def _fixed(dim) -> int | None:
    return int(dim) if isinstance(dim, (int, np.integer)) and dim > 0 else None


class OnnxClassifier(Classifier):
    """Query an ``.onnx`` image classifier on uint8 NHWC images.

    Args:
        path: the ``.onnx`` file.
        preprocess: pixels -> float input (ignored for uint8 / int8 inputs).
        output: ``"auto"`` (probabilities if the rows of a probe batch sum to 1, else logits), ``"probs"`` or
            ``"logits"``.
        background: ``"auto"`` drops output 0 of 1001-output models (see :mod:`onepixel.models.tflite`).
        layout: ``"auto"``, ``"NCHW"`` or ``"NHWC"``.
        batch_size: rows per run where the batch dimension is dynamic (a fixed one is used as it is).
        num_threads: intra-op threads (default: ``OMP_NUM_THREADS`` if set, else all CPUs).
        class_names: names of the classes, if known.
    """

    fixed_batch_shape = False  # a fixed graph batch is padded inside _forward

    def __init__(self, path: str | Path, preprocess: Preprocess | None = None, output: str = "auto",
                 background: bool | str = "auto", layout: str = "auto", batch_size: int = 32,
                 num_threads: int | None = None, class_names: list[str] | tuple[str, ...] | None = None) -> None:
        check_output_option(output)
        ort = _ort()
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"model file not found: {self.path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = num_threads or default_threads()
        opts.log_severity_level = 3  # keep onnxruntime's warnings off the one-line error channel
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise ModelError(f"could not load {self.path} as an ONNX model ({str(e).splitlines()[0][:200]})") from None
        self.device = torch.device("cpu")
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelError(f"{self.path.name}: expected one 4-d image input, got {[(i.name, i.shape) for i in inputs]}")
        self._in, self._out = inputs[0], outputs[0]
        self.layout = self._layout(layout)
        shape = list(self._in.shape)
        hw = shape[2:4] if self.layout == "NCHW" else shape[1:3]
        self.channels = _fixed(shape[1] if self.layout == "NCHW" else shape[3]) or 3
        h, w = (_fixed(d) for d in hw)
        #: None where the graph takes any size
        self.input_size = (h, w) if h and w else None
        self.fixed_batch = _fixed(shape[0])
        self.batch_size = self.fixed_batch or max(1, int(batch_size))
        types = {**_FLOAT_TYPES, **_INT_TYPES}
        if self._in.type in types:
            self.input_dtype = np.dtype(types[self._in.type])
        else:
            raise ModelError(f"{self.path.name}: unsupported input type {self._in.type} (float, float16, uint8 or int8)")
        self.preprocess = preprocess or Preprocess()
        probe = self._run(self._probe())
        if probe.ndim != 2:
            raise ModelError(f"{self.path.name}: expected a (batch, classes) output, got shape {probe.shape}")
        self.drop_background = background_offset(probe.shape[1], background)
        self.num_classes = probe.shape[1] - int(self.drop_background)
        self.output = ("probs" if looks_like_probabilities(probe) else "logits") if output == "auto" else output
        if class_names is None and probe.shape[1] == 1001 and self.drop_background:
            from ..data.labels import imagenet_classes

            class_names = imagenet_classes()
        self.class_names = list(class_names) if class_names is not None else None

    def _layout(self, layout: str) -> str:
        if layout in ("NCHW", "NHWC"):
            return layout
        if layout != "auto":
            raise ModelError(f"layout must be 'auto', 'NCHW' or 'NHWC' (got {layout!r})")
        s = self._in.shape
        if _fixed(s[1]) in (1, 3) and _fixed(s[3]) not in (1, 3):
            return "NCHW"
        if _fixed(s[3]) in (1, 3):
            return "NHWC"
        raise ModelError(f"{self.path.name}: cannot tell the channel axis of input shape {s}; pass layout='NCHW' or 'NHWC'")

    def _probe(self) -> np.ndarray:
        h, w = self.input_size or (32, 32)
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (2, h, w, self.channels), dtype=np.uint8)

    def _feed(self, pixels: np.ndarray) -> np.ndarray:
        if self.input_dtype == np.uint8:
            x = pixels
        elif self.input_dtype == np.int8:
            x = (pixels.astype(np.int16) - 128).astype(np.int8)
        else:
            x = self.preprocess(torch.from_numpy(pixels)).contiguous().numpy().astype(self.input_dtype)
            return x if self.layout == "NCHW" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if self.layout == "NCHW" else x

    def _run(self, pixels: np.ndarray) -> np.ndarray:
        """Raw scores (n, outputs) as float64, padding to the graph's batch where it is fixed."""
        b = self.fixed_batch or len(pixels)
        out = []
        for s in range(0, len(pixels), b):
            chunk = pixels[s:s + b]
            real = len(chunk)
            if real < b:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], b - real, axis=0)])
            res = self.session.run([self._out.name], {self._in.name: self._feed(chunk)})[0]
            out.append(np.asarray(res, dtype=np.float64).reshape(len(chunk), -1)[:real])
        return np.concatenate(out)

    def _forward(self, images: torch.Tensor, reference: bool) -> torch.Tensor:
        pixels = images.cpu().numpy()
        if self.input_size is not None and tuple(pixels.shape[1:3]) != self.input_size:
            raise ModelError(f"{self.path.name} takes {self.input_size[1]}x{self.input_size[0]} images, got "
                             f"{pixels.shape[2]}x{pixels.shape[1]}; preprocess photos to the model's input size first")
        return finish(self._run(pixels), self.output, self.drop_background)
