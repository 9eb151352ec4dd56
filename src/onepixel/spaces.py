"""Attacking photos in two spaces.

- ``input`` (the paper): the photo is cropped and resized once; the search changes k pixels of that model
  input, and the adversarial image is the model input.
- ``file``: the search changes k pixels of the original full-resolution photo, and the crop + resize is part
  of the black box (:class:`onepixel.photo.PhotoClassifier`); the adversarial image is the photo itself, so
  the saved PNG differs from the original in exactly k pixels.

Either way the adversarial image is also re-encoded as JPEG at quality 95 and classified again, to report
whether the attack survives the most common thing that happens to a photo.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from PIL import Image

from .errors import InputError
from .models.base import Classifier
from .objectives import is_success
from .photo import PhotoClassifier, PhotoPreprocess
from .results import AttackResult

SPACES = ("input", "file")


def jpeg_roundtrip(image: np.ndarray, quality: int = 95) -> np.ndarray:
    """``image`` (H, W, C uint8) encoded as JPEG at ``quality`` and decoded again."""
    arr = image[..., 0] if image.shape[-1] == 1 else image
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="JPEG", quality=quality)
    out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L" if image.shape[-1] == 1 else "RGB"))
    return out[..., None] if out.ndim == 2 else out


def default_preprocess(model: Classifier, preprocess: PhotoPreprocess | None) -> PhotoPreprocess:
    """``preprocess``, or the model's own (read from its metadata: :mod:`onepixel.models.metadata`), or the
    ImageNet preset at the model's declared input size."""
    if preprocess is not None:
        return preprocess
    own = getattr(model, "photo_preprocess", None)
    if own is not None:
        return own
    size = getattr(model, "input_size", None)
    if size is None:
        raise InputError("the model does not declare its input size; pass a PhotoPreprocess with the size it takes")
    return PhotoPreprocess.imagenet(tuple(size))


@dataclass(frozen=True)
class FileCrop:
    """The part of a full-resolution photo a file-space attack searches: the crop box of the model's
    preprocessing (the only pixels the model sees), as its own image with the black box that reads it.

    The crop region with a "resize it all" preprocessing is bit-for-bit the same black box as the whole photo
    with the full preprocessing (the same weights, sliced the same way), so searching ``region`` through
    ``classifier`` is searching the photo, without the candidates outside the box that cannot change anything.
    """

    region: np.ndarray = field(repr=False)
    classifier: PhotoClassifier
    #: (x, y) of the region's top-left pixel in the photo
    offset: tuple[int, int]

    def to_photo(self, photo: np.ndarray, result: AttackResult) -> AttackResult:
        """``result`` (of an attack on ``region``) in full-photo coordinates, its adversarial image the photo."""
        left, top = self.offset
        full = photo.copy()
        full[top:top + self.region.shape[0], left:left + self.region.shape[1]] = result.adversarial
        return replace(result, adversarial=full, pixels=[(p[0] + left, p[1] + top, *p[2:]) for p in result.pixels])


def file_crop(model: Classifier, photo: np.ndarray, pre: PhotoPreprocess) -> FileCrop:
    """The crop box of ``photo`` under ``pre`` and the black box (crop region → ``pre.for_region()`` → ``model``)
    a file-space attack searches it through."""
    top, left, ch, cw = pre.box(photo.shape[0], photo.shape[1])
    region = np.ascontiguousarray(photo[top:top + ch, left:left + cw])
    return FileCrop(region, PhotoClassifier(model, pre.for_region()), (left, top))


@dataclass
class PhotoAttack:
    """The outcome of :func:`attack_photo`.

    ``original`` and ``adversarial`` are the images of the attacked space (the model input for ``input``,
    the full-resolution photo for ``file``); they differ in at most k pixels. Probabilities are those of the
    whole black box (for ``file``: crop + resize + model, computed in full).
    """

    space: str
    result: AttackResult
    original: np.ndarray = field(repr=False)
    adversarial: np.ndarray = field(repr=False)
    probs_before: np.ndarray = field(repr=False)
    probs_after: np.ndarray = field(repr=False)
    jpeg_quality: int
    jpeg_predicted: int
    jpeg_label_prob: float
    #: the attack succeeded and still does after the JPEG re-encode
    jpeg_survives: bool

    def top(self, k: int = 5, after: bool = False) -> list[tuple[int, float]]:
        """The k most probable classes (index, probability) before or after the attack."""
        p = self.probs_after if after else self.probs_before
        order = np.argsort(-p, kind="stable")[:k]
        return [(int(i), float(p[i])) for i in order]

    def changed_pixels(self) -> int:
        """Pixels where the adversarial image differs from the original."""
        return int((self.adversarial != self.original).any(-1).sum())

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python record: the attack result plus space, top-5 lists and the JPEG check."""
        return {**self.result.to_dict(), "space": self.space, "changed_pixels": self.changed_pixels(),
                "image_size": [int(self.original.shape[1]), int(self.original.shape[0])],
                "top5_before": [list(t) for t in self.top(5)], "top5_after": [list(t) for t in self.top(5, True)],
                "jpeg": {"quality": self.jpeg_quality, "predicted": self.jpeg_predicted,
                         "label_prob": self.jpeg_label_prob, "survives": self.jpeg_survives}}


def attack_photo(model: Classifier, photo: np.ndarray, label: int | None = None, *, space: str = "input",
                 preprocess: PhotoPreprocess | None = None, target: int | None = None, jpeg_quality: int = 95,
                 **attack_options: Any) -> PhotoAttack:
    """Attack one full-resolution uint8 photo (H, W, C) in ``space`` (``"input"`` or ``"file"``).

    Args:
        model: a classifier of model-input-sized images (e.g. a :class:`~onepixel.models.tflite.TFLiteClassifier`).
        photo: the photo as read (any size).
        label: the true class; default the model's prediction on the clean photo.
        space: where the k pixels are changed (see the module docstring).
        preprocess: crop + resize to the model's input (default: the ImageNet preset at its input size).
            In the input space, when none is given, a photo that already has the input size (or any photo, for
            a model that declares no input size) is used as it is.
        target: a class to reach (targeted attack), or None.
        jpeg_quality: the quality of the JPEG re-encode check.
        attack_options: passed to :func:`onepixel.attack` (pixels, popsize, generations, seed, ...).
    """
    from .api import attack

    if space not in SPACES:
        raise InputError(f"space must be one of {', '.join(SPACES)} (got {space!r})")
    photo = np.asarray(photo)
    if photo.dtype != np.uint8 or photo.ndim != 3:
        raise InputError(f"photo must be uint8 (H, W, C); got {photo.dtype} {photo.shape}")
    size = getattr(model, "input_size", None)
    if space == "input":
        if preprocess is None and (size is None or tuple(photo.shape[:2]) == tuple(size)):
            image = photo  # already the model's input (or a model that takes any size)
        else:
            image = np.asarray(default_preprocess(model, preprocess)(photo))
        box: Classifier = model
    else:
        return _attack_file(model, photo, label, default_preprocess(model, preprocess), target, jpeg_quality,
                            attack_options)
    before = box.probs(image[None])[0]
    lab = int(before.argmax()) if label is None else int(label)
    res = attack(box, image, lab, targets=target, **attack_options)[0]
    return _finish(space, box, res, image, before, lab, target, jpeg_quality)


def _attack_file(model: Classifier, photo: np.ndarray, label: int | None, pre: PhotoPreprocess, target: int | None,
                 jpeg_quality: int, attack_options: dict[str, Any]) -> PhotoAttack:
    """File space: search only the crop box (:func:`file_crop`), whose pixels are the only ones the model sees.

    Pixels outside the centre crop cannot change the model's input, so candidates there would be wasted
    queries (43 % of a 500x375 photo at the ImageNet preset). The result is mapped back onto the full photo, so
    pixels and the adversarial image are in full-photo coordinates.
    """
    from .api import attack

    crop = file_crop(model, photo, pre)
    before = crop.classifier.probs(crop.region[None])[0]
    lab = int(before.argmax()) if label is None else int(label)
    res = crop.to_photo(photo, attack(crop.classifier, crop.region, lab, targets=target, **attack_options)[0])
    return _finish("file", PhotoClassifier(model, pre), res, photo, before, lab, target, jpeg_quality)


def _finish(space: str, box: Classifier, res: AttackResult, original: np.ndarray, before: np.ndarray, lab: int,
            target: int | None, jpeg_quality: int) -> PhotoAttack:
    after = box.probs(res.adversarial[None])[0]
    jpeg = box.probs(jpeg_roundtrip(res.adversarial, jpeg_quality)[None])[0]
    pred = int(jpeg.argmax())
    still = bool(is_success(np.array(pred), np.array(lab), None if target is None else np.array(target)))
    return PhotoAttack(space=space, result=res, original=original, adversarial=res.adversarial, probs_before=before,
                       probs_after=after, jpeg_quality=jpeg_quality, jpeg_predicted=pred,
                       jpeg_label_prob=float(jpeg[lab]), jpeg_survives=bool(res.success and still))
