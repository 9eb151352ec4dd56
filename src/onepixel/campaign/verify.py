"""Re-check a stored run on this machine: rebuild every attack's adversarial image from its stored changes and
classify it in reference precision.

Runs move between machines (a campaign started on a GPU, resumed on a CPU); each success was verified where it
was found, and this says whether it holds here too: same predicted class, same verdict, nearly the same
probability. Works for CIFAR-10 runs and for photo runs in both attack spaces.

With ``jpeg=QUALITY`` it also asks whether each success survives being saved as a JPEG: the attacked image
(the full-resolution photo in file space, the model input otherwise) is re-encoded at that quality, decoded and
classified again with the same success rule. A one-pixel change is a high-frequency signal that JPEG's
quantisation and chroma subsampling blur, so this is how much of a run would survive a typical upload.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..api import as_classifier
from ..data.datasets import PHOTO_DATASETS, load_dataset
from ..errors import InputError
from ..fileio import write_text
from ..objectives import is_success
from .evaluate import model_identity, model_input_view
from .rows import apply_changes
from .store import load_results


@dataclass
class Verification:
    """What :func:`verify_run` found: counts, the largest probability differences, and the disagreements."""

    attacks: int
    stored_successes: int
    successes_here: int
    max_prob_diff_successes: float
    max_prob_diff_failures: float
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    #: with ``jpeg``: the quality, and how many of the successes here still succeed after the re-encode, of
    #: all and of those on images the model classified correctly before the attack (``correct_successes``;
    #: an image misclassified to begin with stays a "success" through any re-encode that keeps it wrong)
    jpeg_quality: int | None = None
    jpeg_survivors: int | None = None
    correct_successes: int | None = None
    jpeg_survivors_correct: int | None = None
    #: the control: successes whose *clean* image, JPEG-encoded alone, already meets the success rule
    jpeg_clean_fooled: int | None = None
    #: stored attacks that could not be read (undecodable changes, pixels outside the image): uid and why;
    #: they are left out of every count above
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return not self.disagreements

    def save(self, run: str | Path) -> Path:
        """Record this verification as ``RUN/verification.json`` (reports quote it), with when and where it ran."""
        import torch

        from .. import __version__

        path = Path(run) / VERIFICATION_FILE
        record = {**asdict(self), "verified_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  "machine": f"{platform.machine()}, torch {torch.__version__}", "onepixel": __version__}
        write_text(path, json.dumps(record, indent=1) + "\n")
        return path


#: where ``onepixel verify`` records its last verification of a run folder
VERIFICATION_FILE = "verification.json"


def verification_line(run: str | Path, attacks: int) -> str:
    """One sentence on the run's recorded verification (empty if none): what was checked, when, the verdict, and
    the JPEG check where it ran. ``attacks``: the run's attacks now (a run that grew since is said so)."""
    path = Path(run) / VERIFICATION_FILE
    try:
        v = json.loads(path.read_text())
        checked, bad = int(v["attacks"]), len(v["disagreements"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    scope = f"all {checked:,} attacks" if checked == attacks else f"{checked:,} of the {attacks:,} attacks stored now"
    verdict = "every verdict and class agrees" if not bad else f"{bad} differ in class or verdict"
    line = (f"onepixel verify re-classified {scope} from their stored changes in reference precision on "
            f"{v.get('verified_at', '?')} ({v.get('machine', '?')}): {verdict}.")
    if v.get("jpeg_quality") is not None:
        line += (f" Saved as a JPEG at quality {v['jpeg_quality']}, {v['jpeg_survivors']} of {v['successes_here']} "
                 f"successes still fool the model ({v['jpeg_survivors_correct']} of the {v['correct_successes']} on "
                 f"images classified correctly before the attack; the clean images' JPEGs alone: "
                 f"{v['jpeg_clean_fooled']}).")
    return line


def verify_run(run: str | Path, model: Any = None, data_path: str | Path | None = None,
               device: str = "cpu", batch_size: int = 256, jpeg: int | None = None) -> Verification:
    """Re-classify every stored attack of the run folder ``run`` here, in reference precision.

    ``model`` and ``data_path`` default to the run's own (give them when the files moved; a model file must
    have the run's sha256; a model object is taken as it is). Untargeted attacks succeed when the class is no
    longer the label, targeted ones when it is the target, as when they were stored. ``jpeg`` (a quality,
    1-100) also re-encodes each success here as a JPEG and counts those that still succeed."""
    if jpeg is not None and not 1 <= jpeg <= 100:
        raise InputError(f"the JPEG quality must be 1 to 100 (got {jpeg}); 95 is a typical 'high quality' save")
    df = load_results(run).reset_index(drop=True)
    config = df.attrs["config"]
    spec = model if model is not None else config.get("model")
    if spec is None:
        raise InputError(f"{run}: the run does not name its model; pass --model")
    overrides = config.get("preprocess_overrides")  # the run's --preprocess, if it had one
    clf = as_classifier(spec, device=device, **({"preprocess": overrides} if overrides else {}))
    want, got = config.get("model_sha256"), model_identity(spec, clf).get("model_sha256")  # as evaluate records it
    if isinstance(spec, (str, Path)) and want and got != want:
        raise InputError(f"model {spec} has sha256 {str(got)[:12]}…, the run was made with {want[:12]}…; "
                         "pass the run's model with --model")
    name, _, split = str(config.get("dataset", "cifar10/test")).partition("/")
    data = load_dataset(name, split or "test", data_path or config.get("data_path"), getattr(clf, "class_names", None))
    file_space = name in PHOTO_DATASETS and config.get("space", "input") == "file"
    if file_space:
        from ..photo import PhotoClassifier
        from ..spaces import default_preprocess

        photo_clf = PhotoClassifier(clf, default_preprocess(clf, None))
        images = data.images  # full-resolution photos, of different sizes: one at a time

        def classify(batch: list[np.ndarray]) -> np.ndarray:
            return np.stack([photo_clf.probs(im[None])[0] for im in batch])
    else:
        if name in PHOTO_DATASETS:
            data = model_input_view(data, clf)
        images = data.images if name in PHOTO_DATASETS else np.asarray(data.images)  # photo sets: read lazily

        def classify(batch: list[np.ndarray]) -> np.ndarray:
            return clf.probs(np.stack(batch))
    df, unreadable = _readable(df, images)
    probs, survives, correct, clean_fooled = [], [], [], []
    step = 1 if file_space else batch_size  # never hold more than one batch of rebuilt images (photos can be huge)
    for start in range(0, len(df), step):
        part = df.iloc[start:start + step]
        adv = [apply_changes(images[int(i)], c) for i, c in zip(part.image, part.changes, strict=True)]
        probs.append(classify(adv))
        if jpeg is not None:
            hits = np.flatnonzero(_succeeds(part, probs[-1]))
            survives.append(succeeds_after_jpeg(classify, [adv[i] for i in hits], part.iloc[hits], jpeg))
            clean = [images[int(i)] for i in part.image.iloc[hits]]
            clean_fooled.append(succeeds_after_jpeg(classify, clean, part.iloc[hits], jpeg))
            correct.append((part["predicted_before"] == part["label"]).to_numpy()[hits])
    result = _compare(df, np.concatenate(probs) if probs else np.empty((0, 0)))
    result.unreadable = unreadable
    if jpeg is not None:
        survived, on_correct, control = (np.concatenate(a) if a else np.zeros(0, dtype=bool)
                                         for a in (survives, correct, clean_fooled))
        result.jpeg_quality, result.jpeg_survivors = jpeg, int(survived.sum())
        result.correct_successes, result.jpeg_survivors_correct = int(on_correct.sum()), int(survived[on_correct].sum())
        result.jpeg_clean_fooled = int(control.sum())
    return result


def succeeds_after_jpeg(classify: Callable[[list[np.ndarray]], np.ndarray], images: list[np.ndarray], rows: Any,
                        quality: int = 95) -> np.ndarray:
    """Whether each image in ``images`` meets the success rule of its row of ``rows`` (mode, label, target)
    once saved as a JPEG at ``quality`` and decoded; ``classify`` maps a list of images to probabilities."""
    from ..spaces import jpeg_roundtrip

    if not images:
        return np.zeros(0, dtype=bool)
    return _succeeds(rows, classify([jpeg_roundtrip(im, quality) for im in images]))


def _succeeds(df: Any, probs: np.ndarray) -> np.ndarray:
    """The stored success rule applied to ``probs``: untargeted, any class but the label; targeted, the target."""
    targeted = (df["mode"] == "targeted").to_numpy()
    target = np.where(targeted, df["target"].fillna(-1).to_numpy().astype(np.int64), -1)
    return is_success(probs.argmax(1), df["label"].to_numpy(), target)


def _readable(df: Any, images: Any) -> tuple[Any, list[tuple[str, str]]]:
    """The rows whose changes can be rebuilt on their image, and ``(uid, why)`` of the others (those
    :func:`load_results` already left out included)."""
    bad = list(df.attrs.get("corrupt", []))
    keep = np.ones(len(df), dtype=bool)
    for i, (uid, image, changes) in enumerate(zip(df["uid"], df["image"], df["changes"], strict=True)):
        if not 0 <= int(image) < len(images):
            keep[i], why = False, f"image {int(image)} is not in the dataset ({len(images)} images)"
        else:
            h, w = images[int(image)].shape[:2]
            if any(c[0] >= w or c[1] >= h for c in changes):
                keep[i], why = False, f"a change lies outside the {w}x{h} image"
        if not keep[i]:
            bad.append((str(uid), why))
    return df[keep].reset_index(drop=True), bad


def _compare(df: Any, probs: np.ndarray) -> Verification:
    n = len(df)
    if not n:
        return Verification(0, 0, 0, 0.0, 0.0)
    pred = probs.argmax(1)
    success = _succeeds(df, probs)
    stored = df["success"].to_numpy().astype(bool)
    stored_class = df["predicted_after"].to_numpy().astype(np.int64)
    diff = np.abs(probs[np.arange(n), stored_class] - df["predicted_prob_after"].to_numpy())
    bad = (success != stored) | (pred != stored_class)
    return Verification(
        attacks=n, stored_successes=int(stored.sum()), successes_here=int(success.sum()),
        max_prob_diff_successes=float(diff[stored].max(initial=0.0)),
        max_prob_diff_failures=float(diff[~stored].max(initial=0.0)),
        disagreements=[{"uid": df["uid"].iloc[i], "stored_success": bool(stored[i]), "stored_class": int(stored_class[i]),
                        "success_here": bool(success[i]), "class_here": int(pred[i])} for i in np.nonzero(bad)[0]])
