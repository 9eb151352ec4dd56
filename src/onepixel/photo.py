"""Photo preprocessing declared as data: centre crop plus bilinear resize to a model's input size.

The resize is a separable linear map, ``out = Ry @ crop(photo) @ Rx^T`` per channel, built once per photo size
from torch's own bilinear kernel (so it matches ``torch.nn.functional.interpolate`` and, with ``antialias``,
PIL's BILINEAR). Keeping the matrices explicit is what makes file-space attacks cheap: changing one source
pixel changes the resized image by an outer product of two short weight columns, so a candidate costs a small
patch update instead of a whole resize (see :class:`PhotoClassifier`).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from .errors import InputError
from .models.base import Classifier

#: the resize kernels :class:`PhotoPreprocess` knows
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
#: crop then resize (one step), or resize the shorter side then centre crop (torchvision's / Hugging Face's)
ORDERS = ("crop-resize", "resize-crop", "resize-crop-floor")


@dataclass(frozen=True)
class PhotoPreprocess:
    """How a full-resolution uint8 photo becomes a model's uint8 input.

    Args:
        size: the model's input (height, width).
        crop: centre crop before resizing, as a fraction of the image (0 < crop <= 1) or, as an int, the
            crop in pixels of the image after its shorter side is resized to ``resize_shorter``.
        resize_shorter: with an int ``crop``: the torchvision convention "resize the shorter side to
            ``resize_shorter``, centre crop ``crop``" (e.g. 256 / 224), done here as one crop + resize.
        aspect: ``"keep"``: the crop box has the model input's aspect ratio (a square for 224 x 224), the
            largest such box times ``crop``; ``"stretch"``: crop ``crop`` of each side (TensorFlow's
            ``central_crop``) and stretch it to ``size``.
        antialias: bilinear with a filter widened by the downscale factor (PIL's BILINEAR); False is plain
            2-tap bilinear (TensorFlow's ``resize_bilinear``, torch's default).
        interpolation: ``"bilinear"`` (default), ``"bicubic"`` (timm's and most Hugging Face checkpoints';
            PIL's BICUBIC with ``antialias``) or ``"nearest"``. Each is a linear map, built the same way.
        order: ``"crop-resize"`` (default): crop the box, resize it to ``size`` in one step.
            ``"resize-crop"``: exactly torchvision's ``Resize(resize_shorter)`` + ``CenterCrop(size)`` (the
            longer side becomes ``int(resize_shorter * long / short)``, centre offsets rounded), as timm and
            torchvision weights preprocess; ``"resize-crop-floor"``: the same with the offsets floored, as
            Hugging Face image processors crop. Both need ``resize_shorter``; their box is the whole photo.
    """

    size: tuple[int, int]
    crop: float | int = 0.875
    resize_shorter: int | None = None
    aspect: str = "keep"
    antialias: bool = True
    interpolation: str = "bilinear"
    order: str = "crop-resize"

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise InputError(f"order must be one of {', '.join(ORDERS)} (got {self.order!r})")
        if self.order != "crop-resize" and not self.resize_shorter:
            raise InputError(f"order {self.order!r} needs resize_shorter (the shorter side before the centre crop)")
        if self.interpolation not in INTERPOLATIONS:
            raise InputError(f"interpolation must be one of {', '.join(INTERPOLATIONS)} (got {self.interpolation!r})")
        if len(self.size) != 2 or min(self.size) < 1:
            raise InputError(f"preprocessing size must be (height, width) >= 1 (got {self.size})")
        if self.aspect not in ("keep", "stretch"):
            raise InputError(f"aspect must be 'keep' or 'stretch' (got {self.aspect!r})")
        if isinstance(self.crop, (int, np.integer)) and not isinstance(self.crop, bool):
            if self.resize_shorter is None or not 0 < self.crop <= self.resize_shorter:
                raise InputError(f"an integer crop ({self.crop}) needs resize_shorter >= crop (e.g. 256 with 224)")
        elif not 0.0 < float(self.crop) <= 1.0:
            raise InputError(f"crop must be a fraction in (0, 1] or an int crop size (got {self.crop})")

    @classmethod
    def imagenet(cls, size: tuple[int, int] | int = 224) -> PhotoPreprocess:
        """The ImageNet evaluation preset used for the TFLite MobileNets: a square centre crop of 87.5 % of
        the shorter side, antialiased bilinear resize to ``size``, uint8 output (MobileNetV2: top-1 86/100 on
        the 100 sample photos; see docs/guide/photos.md)."""
        s = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        return cls(size=s, crop=0.875)

    @property
    def fraction(self) -> float:
        """The crop as a fraction of the image."""
        if isinstance(self.crop, (int, np.integer)) and not isinstance(self.crop, bool):
            return float(self.crop) / float(self.resize_shorter)  # type: ignore[arg-type]
        return float(self.crop)

    def box(self, height: int, width: int) -> tuple[int, int, int, int]:
        """The integer crop box (top, left, crop height, crop width) of an ``height x width`` photo (for the
        resize-then-crop orders, the whole photo: the crop happens after the resize)."""
        if self.order != "crop-resize":
            return 0, 0, height, width
        f = self.fraction
        if self.aspect == "stretch":
            ch, cw = height * f, width * f
        else:
            oh, ow = self.size
            scale = min(height / oh, width / ow)  # the largest box of the output's aspect ratio
            ch, cw = oh * scale * f, ow * scale * f
        ch, cw = max(1, min(height, int(round(ch)))), max(1, min(width, int(round(cw))))
        return (height - ch) // 2, (width - cw) // 2, ch, cw

    def for_region(self) -> PhotoPreprocess:
        """The same resize applied to an already cropped region (the crop box of :meth:`box`): it takes the
        whole region, with weights identical to this preprocessing's weights on the crop."""
        if self.order != "crop-resize":
            return self  # its box is the whole photo
        return PhotoPreprocess(size=self.size, crop=1.0, aspect="stretch", antialias=self.antialias,
                               interpolation=self.interpolation)

    def matrices(self, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """float64 ``Ry`` (out_h, height) and ``Rx`` (out_w, width): crop and resize as two matrices."""
        return _matrices(self, int(height), int(width))

    def __call__(self, photos: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        """Crop and resize uint8 (H, W, C) or (N, H, W, C) photos; returns the same kind (numpy or torch)."""
        is_np = isinstance(photos, np.ndarray)
        t = torch.tensor(photos) if isinstance(photos, np.ndarray) else photos  # a copy: decoded images are often read-only
        single = t.ndim == 3
        if single:
            t = t[None]
        if t.ndim != 4 or t.dtype != torch.uint8:
            raise InputError(f"photos must be uint8 (N, H, W, C) or (H, W, C); got {t.dtype} {tuple(t.shape)}")
        out = quantise(self.resize_float(t))
        out = out[0] if single else out
        return out.numpy() if is_np else out

    def resize_float(self, photos: torch.Tensor) -> torch.Tensor:
        """The resized photos (N, out_h, out_w, C) in float64, before rounding to uint8."""
        ry, rx = (m.to(photos.device) for m in self.matrices(photos.shape[1], photos.shape[2]))
        top, left, ch, cw = self.box(photos.shape[1], photos.shape[2])
        # Only the crop has weight: slice it first, then two matmuls (an einsum over the whole photo is ~3x slower).
        crop = photos[:, top:top + ch, left:left + cw].permute(0, 3, 1, 2).to(torch.float64)
        out = ry[:, top:top + ch] @ crop @ rx[:, left:left + cw].T
        return out.permute(0, 2, 3, 1)


def quantise(x: torch.Tensor) -> torch.Tensor:
    """Round resized floats to uint8 pixels (half to even, clamped to 0..255)."""
    return torch.round(x).clamp_(0, 255).to(torch.uint8)


@lru_cache(maxsize=64)
def _matrices(pre: PhotoPreprocess, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    if min(height, width) < 2:
        raise InputError(f"a {width}x{height} photo is too small to preprocess; it needs at least 2x2 pixels")
    oh, ow = pre.size
    if pre.order != "crop-resize":
        return _resize_then_crop(pre, height, width)
    top, left, ch, cw = pre.box(height, width)
    return (_resize_matrix(height, top, ch, oh, pre.antialias, pre.interpolation),
            _resize_matrix(width, left, cw, ow, pre.antialias, pre.interpolation))


def _resize_then_crop(pre: PhotoPreprocess, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """torchvision's Resize(shorter side) then CenterCrop, as matrices: the rows of the full resize that the
    crop keeps."""
    rs = int(pre.resize_shorter)  # type: ignore[arg-type]
    short, long = min(height, width), max(height, width)
    new_long = int(rs * long / short)
    rh, rw = (rs, new_long) if height <= width else (new_long, rs)
    oh, ow = pre.size
    if oh > rh or ow > rw:
        raise InputError(f"a {width}x{height} photo resized to {rw}x{rh} is smaller than the {ow}x{oh} crop")
    if pre.order == "resize-crop-floor":
        top, left = (rh - oh) // 2, (rw - ow) // 2
    else:
        top, left = int(round((rh - oh) / 2.0)), int(round((rw - ow) / 2.0))
    ry = _resize_matrix(height, 0, height, rh, pre.antialias, pre.interpolation)[top:top + oh]
    rx = _resize_matrix(width, 0, width, rw, pre.antialias, pre.interpolation)[left:left + ow]
    return ry.contiguous(), rx.contiguous()


def _resize_matrix(n: int, start: int, length: int, out: int, antialias: bool,
                   interpolation: str = "bilinear") -> torch.Tensor:
    """(out, n) weights: torch's resize of ``length`` samples from ``start`` to ``out`` samples.

    Built by resizing the identity, so the weights are exactly torch's kernel (including its antialias filter).
    """
    eye = torch.eye(length, dtype=torch.float64).reshape(length, 1, 1, length)
    if interpolation == "nearest":  # PIL's NEAREST picks the pixel whose centre is nearest: torch's nearest-exact
        cols = torch.nn.functional.interpolate(eye, size=(1, out), mode="nearest-exact")
    else:
        cols = torch.nn.functional.interpolate(eye, size=(1, out), mode=interpolation, align_corners=False,
                                               antialias=antialias)
    m = torch.zeros(out, n, dtype=torch.float64)
    m[:, start:start + length] = cols.reshape(length, out).T
    return m


class _Windows:
    """Where each source pixel's weights sit in a resize matrix: a fixed-length band of output rows per column."""

    def __init__(self, m: torch.Tensor) -> None:
        nz = m != 0
        out_len, n = m.shape
        has = nz.any(0)
        first = torch.where(has, nz.int().argmax(0), torch.zeros(n, dtype=torch.long))
        last = torch.where(has, out_len - 1 - nz.flip(0).int().argmax(0), torch.zeros(n, dtype=torch.long))
        self.matrix = m
        #: band length (the longest column's non-zero span); bands are shifted to stay inside the output
        self.size = int((last - first + 1)[has].max()) if has.any() else 1
        self.start = first.clamp(max=out_len - self.size)

    def rows(self, src: torch.Tensor) -> torch.Tensor:
        """Output indices (..., size) touched by source indices ``src`` (...)."""
        return self.start[src][..., None] + torch.arange(self.size)


class PhotoClassifier(Classifier):
    """A classifier of full-resolution photos: ``preprocess`` (crop + resize) followed by ``inner``.

    This is the file-space black box: the search perturbs pixels of the original photo and the
    preprocessing is part of the model. Photos of any size are accepted (matrices are built per size).

    Search queries are incremental: the resized clean photo is kept in float64 and each candidate adds only
    the patches its k source pixels touch. That is exact up to float rounding, so the runner re-verifies every
    apparent success with the full pipeline (``reference=True``: perturb the photo, crop and resize it
    whole), and the reported probabilities are those of the full pipeline.
    """

    has_fast_precision = True
    fixed_batch_shape = False
    #: photos of any size are accepted
    input_size = None

    def __init__(self, inner: Classifier, preprocess: PhotoPreprocess, batch_size: int = 64) -> None:
        self.inner = inner
        self.preprocess = preprocess
        self.device = inner.device
        self.batch_size = batch_size
        self.num_classes = inner.num_classes
        self.class_names = getattr(inner, "class_names", None)
        inner_size = getattr(inner, "input_size", None)
        if inner_size is not None and tuple(inner_size) != tuple(preprocess.size):
            raise InputError(f"the preprocessing makes {preprocess.size} images but the model takes {tuple(inner_size)}")
        self._cache: tuple[weakref.ref, tuple[torch.Tensor, torch.Tensor]] | None = None

    def _forward(self, images: torch.Tensor, reference: bool) -> torch.Tensor:
        small = self.preprocess(images)
        return torch.from_numpy(self.inner.probs(small, reference=reference))

    def query(self, bases: torch.Tensor, which: np.ndarray, x: np.ndarray, y: np.ndarray, colours: np.ndarray,
              reference: bool = False, rows_per_image: int | None = None) -> np.ndarray:
        """Probabilities of perturbed photos; the search path updates the resized photos incrementally
        (in chunks of ``batch_size``: the inner model pads nothing it does not need)."""
        if reference:
            return super().query(bases, which, x, y, colours, reference=True)
        resized = self._resized(bases)
        ry, rx = self.preprocess.matrices(bases.shape[1], bases.shape[2])
        wy, wx = _windows(ry), _windows(rx)
        out = []
        for s in range(0, len(which), self.batch_size):
            sl = slice(s, s + self.batch_size)
            small = self._perturbed(bases, resized, wy, wx, torch.as_tensor(which[sl]), torch.as_tensor(x[sl]),
                                    torch.as_tensor(y[sl]), torch.as_tensor(colours[sl]))
            out.append(self._checked(torch.from_numpy(self.inner.probs(small, reference=False)), len(small)))
        if not out:
            return np.empty((0, self.num_classes or 0))
        return np.concatenate(out)

    def _resized(self, bases: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The clean photos resized (float64 and uint8), cached while the runner holds the same ``bases``."""
        if self._cache is not None and self._cache[0]() is bases:
            return self._cache[1]
        resized = self.preprocess.resize_float(bases.cpu())
        pair = (resized, quantise(resized))
        self._cache = (weakref.ref(bases), pair)
        return pair

    @staticmethod
    def _perturbed(bases, resized, wy: _Windows, wx: _Windows, which, x, y, colours) -> torch.Tensor:
        """uint8 model inputs of the perturbed photos: the clean resized input with the bands of the k changed
        source pixels recomputed (clean float value plus each pixel's weight times its colour change)."""
        res_f, res_u8 = resized
        n, k = x.shape
        bases = bases.cpu()
        delta = colours.to(torch.float64) - bases[which[:, None], y, x].to(torch.float64)  # (n, k, C)
        if k > 1:
            # Where two of a candidate's pixels coincide the later one wins (as in candidates.apply): the
            # earlier ones add nothing, and the later one's change is measured from the clean pixel.
            same = (x[:, :, None] == x[:, None, :]) & (y[:, :, None] == y[:, None, :])
            delta[torch.triu(same, diagonal=1).any(2)] = 0.0
        rows, cols = wy.rows(y), wx.rows(x)  # (n, k, Sy), (n, k, Sx): the band of patch l
        # weight of pixel j on the rows / columns of patch l: (n, l, j, S)
        ay = wy.matrix[rows[:, :, None, :], y[:, None, :, None]]
        ax = wx.matrix[cols[:, :, None, :], x[:, None, :, None]]
        change = torch.einsum("nljs,nljt,njc->nlstc", ay, ax, delta)
        idx = torch.arange(n)[:, None, None, None]
        r, c = rows[..., :, None], cols[..., None, :]
        base_idx = which[:, None, None, None]
        out = res_u8.index_select(0, which)
        # Overlapping patches hold the same (complete) value at shared positions, so write order is irrelevant.
        out[idx, r, c] = quantise(res_f[base_idx, r, c] + change)
        return out


@lru_cache(maxsize=64)
def _windows(m: torch.Tensor) -> _Windows:
    # Tensors hash by identity, and the matrices are themselves cached per (preprocess, size).
    return _Windows(m)
