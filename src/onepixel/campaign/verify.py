"""Re-check a stored run on this machine: rebuild every attack's adversarial image from its stored changes and
classify it in reference precision.

Runs move between machines (a campaign started on a GPU, resumed on a CPU); each success was verified where it
was found, and this says whether it holds here too: same predicted class, same verdict, nearly the same
probability. Works for CIFAR-10 runs and for photo runs in both attack spaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..api import as_classifier
from ..errors import InputError
from .evaluate import PHOTO_DATASETS, _model_identity, load_dataset, model_input_view
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

    @property
    def agrees(self) -> bool:
        return not self.disagreements


def verify_run(run: str | Path, model: str | None = None, data_path: str | Path | None = None,
               device: str = "cpu", batch_size: int = 256) -> Verification:
    """Re-classify every stored attack of the run folder ``run`` here, in reference precision.

    ``model`` and ``data_path`` default to the run's own (give them when the files moved; a model file must
    have the run's sha256). Untargeted attacks succeed when the class is no longer the label, targeted ones
    when it is the target, as when they were stored."""
    df = load_results(run).reset_index(drop=True)
    config = df.attrs["config"]
    spec = model or config.get("model")
    if not spec:
        raise InputError(f"{run}: the run does not name its model; pass --model")
    clf = as_classifier(spec, device=device)
    want, got = config.get("model_sha256"), _model_identity(spec, clf).get("model_sha256")  # as evaluate records it
    if want and got != want:
        raise InputError(f"model {spec} has sha256 {str(got)[:12]}…, the run was made with {want[:12]}…; "
                         "pass the run's model with --model")
    name, _, split = str(config.get("dataset", "cifar10/test")).partition("/")
    data = load_dataset(name, split or "test", data_path or config.get("data_path"))
    if name in PHOTO_DATASETS and config.get("space", "input") == "file":
        probs = _file_space_probs(clf, data, df)
    else:
        if name in PHOTO_DATASETS:
            data = model_input_view(data, clf)
        images = np.asarray(data.images)
        adv = np.stack([_perturbed(images[int(i)], c) for i, c in zip(df.image, df.changes, strict=True)]) \
            if len(df) else images[:0]
        probs = np.concatenate([clf.probs(adv[s:s + batch_size]) for s in range(0, len(adv), batch_size)]) \
            if len(df) else np.empty((0, 0))
    return _compare(df, probs)


def _perturbed(image: np.ndarray, changes: list[list[int]]) -> np.ndarray:
    """``image`` with each stored change ``[x, y, *new, *old]`` applied (checking the stored old colour)."""
    out = image.copy()
    c = out.shape[-1]
    for change in changes:
        x, y, new, old = change[0], change[1], change[2:2 + c], change[2 + c:]
        if list(image[y, x]) != list(old):
            raise InputError(f"stored change at ({x}, {y}) expects the original colour {old}, the image has "
                             f"{list(image[y, x])}: the data differ from the run's (check --data)")
        out[y, x] = new
    return out


def _file_space_probs(clf: Any, data: Any, df: Any) -> np.ndarray:
    """Full-resolution photos with the changes applied, through the run's crop + resize black box."""
    from ..photo import PhotoClassifier
    from ..spaces import default_preprocess

    photo_clf = PhotoClassifier(clf, default_preprocess(clf, None))
    rows = [photo_clf.probs(_perturbed(data.images[int(i)], c)[None])[0] for i, c in zip(df.image, df.changes, strict=True)]
    return np.stack(rows) if rows else np.empty((0, 0))


def _compare(df: Any, probs: np.ndarray) -> Verification:
    n = len(df)
    if not n:
        return Verification(0, 0, 0, 0.0, 0.0)
    pred = probs.argmax(1)
    targeted = (df["mode"] == "targeted").to_numpy()
    target = df["target"].fillna(-1).to_numpy().astype(np.int64)
    success = np.where(targeted, pred == target, pred != df["label"].to_numpy())
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
