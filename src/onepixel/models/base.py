"""The :class:`Classifier` every model format is adapted to.

A classifier takes uint8 NHWC images (a torch tensor on its device) and returns class probabilities.
It may have a fast *search* precision (say bf16) beside its *reference* precision (fp32); the runner
searches with the first and re-verifies every success with the second. Batches are cut into chunks of
exactly ``batch_size`` rows (the last one padded): for a fixed batch shape each row's output does not
depend on its neighbours, so attacking images together gives bit-for-bit the results of attacking them alone.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod

import numpy as np
import torch

from ..candidates import apply
from ..errors import ModelError

#: how far outside [0, 1] a probability may stray by rounding (bf16 softmax, quantised outputs)
PROB_TOLERANCE = 1e-2


class Classifier(ABC):
    """Base class of model adapters. Subclasses implement :meth:`_forward` for one chunk."""

    #: rows per model call; chunks are padded to exactly this many rows
    batch_size: int = 256
    #: where images and perturbations live
    device: torch.device = torch.device("cpu")
    #: number of classes, known after the first call if not declared
    num_classes: int | None = None
    #: whether the search precision differs from the reference precision (then successes are re-verified)
    has_fast_precision: bool = False
    #: rows per reference-precision verification call (kept small: few candidates are verified at a time)
    verify_batch_size: int = 8
    #: whether chunks are padded to exactly ``batch_size`` rows (needed for batch-independent results)
    fixed_batch_shape: bool = True
    #: names of the classes where known (zoo models, ``--labels``, 1001-class ImageNet files)
    class_names: list[str] | None = None
    #: (height, width) the model takes, where it declares one (photos are resized to it)
    input_size: tuple[int, int] | None = None
    #: a short name for reports (zoo name or file name), where known
    name: str | None = None
    #: sha256 of the weights or model file, where known (a run records it and refuses another model on resume)
    sha256: str | None = None
    #: where the model came from, for ``--explain`` (e.g. ``{"kind": "huggingface", "architecture": ...}``)
    source: dict | None = None

    @abstractmethod
    def _forward(self, images: torch.Tensor, reference: bool) -> torch.Tensor:
        """Scores for one chunk of uint8 NHWC images on ``self.device``: an (n, classes) float tensor of
        probabilities (subclasses convert logits themselves)."""

    def probs(self, images: torch.Tensor | np.ndarray, reference: bool = True) -> np.ndarray:
        """Class probabilities (n, classes) as float64 for uint8 NHWC ``images``."""
        images = images.to(self.device) if isinstance(images, torch.Tensor) else torch.from_numpy(np.array(images, dtype=np.uint8)).to(self.device)
        n = images.shape[0]
        which = torch.arange(n, device=self.device)
        return self._chunks(lambda idx: images.index_select(0, which[idx]), n, reference, self._chunk(reference))

    def query(
        self,
        bases: torch.Tensor,
        which: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        colours: np.ndarray,
        reference: bool = False,
        rows_per_image: int | None = None,
    ) -> np.ndarray:
        """Probabilities of perturbed images: row i is ``bases[which[i]]`` with pixels (x[i], y[i]) set to
        ``colours[i]``. Adapters with incremental inference override this; the default builds each chunk
        of images with tensor indexing and runs the full forward. ``rows_per_image`` is the search's
        proposals per image per round, which sets the chunk size (see :meth:`search_chunk`)."""
        dev = self.device
        t_which = torch.as_tensor(which, device=dev)
        t_x, t_y = torch.as_tensor(x, device=dev), torch.as_tensor(y, device=dev)
        t_c = torch.as_tensor(colours, device=dev)

        def build(idx: torch.Tensor) -> torch.Tensor:
            return apply(bases, t_which[idx], t_x[idx], t_y[idx], t_c[idx])

        return self._chunks(build, len(which), reference, self._chunk(reference, rows_per_image))

    def _chunk(self, reference: bool, rows_per_image: int | None = None) -> int:
        """Rows per chunk. Reference-precision calls are few rows (clean images, verifications): small fixed
        chunks keep a one-image attack from paying a whole padded search chunk in fp32."""
        if reference and self.has_fast_precision:
            return self.verify_batch_size
        return self.search_chunk(self.batch_size, None if reference else rows_per_image)

    def search_chunk(self, cap: int, rows_per_image: int | None) -> int:
        """Rows per padded search chunk: ``cap``, or on the CPU, for searches that propose few rows per image
        per round (the random search: 8), the next power of two of that (at least 8). A one-image random
        search then pads 8 rows to 8, not to 64 (or 400 under delta inference), and the size still depends
        only on the search's settings, never on how many images are attacked together, so results per image
        stay independent of the batch. (Small chunks cost little per row on the CPU; on a GPU they would.)"""
        if not self.fixed_batch_shape or rows_per_image is None or self.device.type != "cpu":
            return cap
        return min(cap, max(8, 1 << max(0, int(rows_per_image) - 1).bit_length()))

    def _chunks(self, build, n: int, reference: bool, bs: int | None = None) -> np.ndarray:
        out: list[np.ndarray] = []
        bs = bs or self.batch_size
        for start in range(0, n, bs):
            idx = torch.arange(start, min(n, start + bs), device=self.device)
            real = len(idx)
            if self.fixed_batch_shape and real < bs and n > 0:
                idx = torch.cat([idx, idx[-1:].expand(bs - real)])  # pad with copies of the last row
            out.append(self._checked(self._call(build(idx), reference), len(idx))[:real])
        if not out:
            return np.empty((0, self.num_classes or 0))
        return np.concatenate(out)

    def _call(self, images: torch.Tensor, reference: bool) -> torch.Tensor:
        try:
            with torch.inference_mode():
                return self._forward(images, reference)
        except ModelError:
            raise
        except Exception as e:  # a user's model may raise anything; name it, keep the cause chained
            raise ModelError(f"the model raised {type(e).__name__}: {e}") from e

    def _checked(self, scores: torch.Tensor, n: int) -> np.ndarray:
        arr = np.asarray(scores.detach().to("cpu", torch.float64)) if isinstance(scores, torch.Tensor) else np.asarray(scores, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] != n:
            raise ModelError(f"the model returned scores of shape {tuple(arr.shape)} for a batch of {n}; expected ({n}, classes)")
        if self.num_classes is None:
            self.num_classes = arr.shape[1]
        elif arr.shape[1] != self.num_classes:
            raise ModelError(f"the model returned {arr.shape[1]} classes, expected {self.num_classes}")
        if not np.isfinite(arr).all():
            raise ModelError("the model returned NaN or infinite scores; check its input scaling and preprocessing")
        if arr.shape[1] < 2:  # nothing to move the prediction to: such a model could never be fooled
            raise ModelError("the model returned one score per image; a classifier needs scores for at least 2 "
                             "classes (for one sigmoid output p, return [1 - p, p])")
        if arr.size and (arr.min() < -PROB_TOLERANCE or arr.max() > 1 + PROB_TOLERANCE):
            raise ModelError(f"the model's scores are not probabilities (they range {arr.min():.3g} to {arr.max():.3g}); "
                             "if it returns logits, pass output='logits' so a softmax is applied")
        return arr


def default_threads() -> int:
    """Threads for a runtime that does not read ``OMP_NUM_THREADS`` itself (TFLite, ONNX Runtime): that
    variable when set, so one setting pins every backend (e.g. one process per core), else all CPUs."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else (os.cpu_count() or 1)


def to_probabilities(scores: torch.Tensor, output: str) -> torch.Tensor:
    """Softmax for logits; probabilities pass through unchanged."""
    if output == "logits":
        return torch.softmax(scores.float(), dim=-1)
    if output == "probs":
        return scores.float()
    raise ModelError(f"output must be 'logits' or 'probs' (got {output!r})")
