"""The paper's metrics from a run's results table.

Per pixel count and kind of attack:
* ``targeted``: every targeted attack counts; success rate, confidence = mean target probability over
  successes.
* ``non-targeted`` (derived, the paper's Kaggle tables): an image counts as fooled when at least one of
  its targeted attacks succeeded; only images whose targeted attacks have all finished are counted.
* ``untargeted``: a true untargeted attack (strict protocol).
Also: number of target classes per image (histogram and mean), original -> adversarial class-pair counts,
mean / median queries, seconds per image and the mean distortion per changed channel.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion (well-behaved at 0 % and 100 %)."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def distortion(changes: list[list[int]]) -> float:
    """Mean absolute change of the changed channel values; a change row is [x, y, new..., old...]."""
    diffs = []
    for row in changes:
        c = (len(row) - 2) // 2
        diffs += [abs(row[2 + i] - row[2 + c + i]) for i in range(c)]
    return float(np.mean(diffs)) if diffs else math.nan


def _base(rows, kind: str, k: int, successes: int, n: int, conf: float, num_classes: int) -> dict[str, Any]:
    lo, hi = wilson(successes, n)
    return {
        "pixels": k, "kind": kind, "n": n, "successes": successes, "rate": successes / n if n else math.nan,
        "ci_low": lo, "ci_high": hi, "confidence": conf,
        "mean_queries": float(rows["queries"].mean()) if len(rows) else math.nan,
        "median_queries": float(rows["queries"].median()) if len(rows) else math.nan,
        "distortion": float(np.nanmean([distortion(c) for c in rows.loc[rows["success"], "changes"]]))
        if rows["success"].any() else math.nan,
        "pairs": None,
    }


def _pairs(orig, adv, num_classes: int) -> list[list[int]] | None:
    """Original -> adversarial class counts; None above 20 classes (a 1000 x 1000 table helps nobody)."""
    if num_classes > 20:
        return None
    pairs = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(pairs, (orig.to_numpy(int), adv.to_numpy(int)), 1)
    return pairs.tolist()


def _untargeted(rows, kind: str, k: int, num_classes: int) -> dict[str, Any]:
    succ = rows[rows["success"]]
    conf = float(succ["predicted_prob_after"].mean()) if len(succ) else math.nan
    m = _base(rows, kind, k, len(succ), len(rows), conf, num_classes)
    m["pairs"] = _pairs(succ["label"], succ["predicted_after"], num_classes)
    m["seconds_per_image"] = float(rows["seconds"].mean())
    return m


def summarize(df, num_classes: int | None = None) -> list[dict[str, Any]]:
    """Metrics of one run's results DataFrame (see :func:`onepixel.campaign.load_results`); the class count
    defaults to the run's class list (else the largest class index seen + 1)."""
    if num_classes is None:
        classes = df.attrs.get("config", {}).get("classes")
        seen = [int(df[c].max()) + 1 for c in ("label", "predicted_after") if c in df and len(df)]
        num_classes = len(classes) if classes else max(seen + [2])
    out: list[dict[str, Any]] = []
    for k in sorted(df["pixels"].unique()):
        at_k = df[df["pixels"] == k]
        tg = at_k[at_k["mode"] == "targeted"]
        if len(tg):
            succ = tg[tg["success"]]
            conf = float(succ["target_prob_after"].mean()) if len(succ) else math.nan
            m = _base(tg, "targeted", int(k), len(succ), len(tg), conf, num_classes)
            m["pairs"] = _pairs(succ["label"], succ["target"], num_classes)
            m["seconds_per_image"] = float(tg.groupby("image")["seconds"].sum().mean())
            out.append(m)

            # Images whose targeted attacks all finished (num_classes - 1 of them).
            per_image = tg.groupby("image")
            complete = per_image.filter(lambda g: len(g) == num_classes - 1)
            counts = complete.groupby("image")["success"].sum()
            fooled = counts[counts > 0].index
            best = complete[complete["success"] & complete["image"].isin(fooled)].groupby("image")["target_prob_after"].max()
            nt = _base(complete, "non-targeted", int(k), len(fooled), len(counts), float(best.mean()) if len(best) else math.nan, num_classes)
            nt["pairs"] = m["pairs"]
            hist = np.bincount(counts.to_numpy(int), minlength=num_classes)[:num_classes]
            nt["target_classes_hist"] = hist.tolist()
            nt["target_classes_mean"] = float(counts.mean()) if len(counts) else math.nan
            nt["seconds_per_image"] = float(complete.groupby("image")["seconds"].sum().mean()) if len(complete) else math.nan
            m["target_classes_hist"], m["target_classes_mean"] = nt["target_classes_hist"], nt["target_classes_mean"]
            out.append(nt)
        un = at_k[at_k["mode"] == "untargeted"]
        if len(un):
            out.append(_untargeted(un, "untargeted", int(k), num_classes))
            correct = un[un["predicted_before"] == un["label"]] if "predicted_before" in un else un
            if 0 < len(correct) < len(un):
                # The paper's ImageNet protocol samples misclassified photos too, and those count as fooled
                # from the start; this row is the rate a user of a correct prediction cares about.
                out.append(_untargeted(correct, "untargeted, correct only", int(k), num_classes))
    return out


def fewest_pixels(df, num_classes: int | None = None) -> list[dict[str, Any]]:
    """How many pixels each image needs, for runs with several pixel counts: per kind (``untargeted``, or
    ``non-targeted`` = any targeted attack), over the images attacked at every count of the run (all their
    targeted attacks finished), how many were first fooled at each count and how many at none.

    Returns one dict per kind: ``{"kind", "pixels": [counts], "images", "fooled_at": [images per count],
    "never"}``; empty when the run has a single count.
    """
    counts = sorted(int(k) for k in df["pixels"].unique())
    if len(counts) < 2:
        return []
    out = []
    un = df[df["mode"] == "untargeted"]
    tg = df[df["mode"] == "targeted"]
    per_kind = []
    if len(un):
        per_kind.append(("untargeted", un.groupby(["image", "pixels"])["success"].any()))
    if len(tg):
        sizes = tg.groupby(["image", "pixels"])["success"].size()
        need = num_classes - 1 if num_classes else sizes.max()
        full = sizes[sizes == need].index  # (image, count) pairs with every targeted attack finished
        per_kind.append(("non-targeted", tg.groupby(["image", "pixels"])["success"].any().loc[full]))
    for kind, fooled in per_kind:
        table = fooled.unstack("pixels").reindex(columns=counts)
        table = table[table.notna().all(axis=1)].astype(bool)  # attacked at every count
        first = [int((table[k] & ~table[[c for c in counts if c < k]].any(axis=1)).sum()) for k in counts]
        out.append({"kind": kind, "pixels": counts, "images": len(table), "fooled_at": first,
                    "never": int((~table.any(axis=1)).sum())})
    return out
