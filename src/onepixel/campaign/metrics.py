"""The paper's metrics from a run's results table.

Per pixel count and kind of attack:
* ``targeted``: every targeted attack counts; success rate, confidence = mean target probability over
  successes.
* ``untargeted, any target`` (:data:`ANY_TARGET`; derived, the paper's "non-targeted" of its Kaggle tables): an
  image counts as fooled when at least one of its targeted attacks succeeded; only images whose targeted
  attacks have all finished are counted.
* ``untargeted``: a true untargeted attack (strict protocol, and the paper's ImageNet experiment).
Also: number of target classes per image (histogram and mean), original -> adversarial class-pair counts,
mean / median queries, seconds per image and the mean distortion per changed channel.

Beside the paper's metrics: the robust-accuracy headline (:func:`robust_accuracy`, RobustBench style: clean
accuracy, accuracy under attack, attack success rate among the correctly classified images) and success at
fixed query budgets from each attack's first verified success (:func:`budget_table`, :func:`success_curve`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: the paper's "non-targeted": an image fooled by at least one of its targeted attacks (one word for the mode)
ANY_TARGET = "untargeted, any target"
#: per-attack query budgets of the "success at a fixed budget" table (the run's own budget is added as "full")
BUDGETS = (100, 400, 1_000, 4_000, 10_000)


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
            nt = _base(complete, ANY_TARGET, int(k), len(fooled), len(counts), float(best.mean()) if len(best) else math.nan, num_classes)
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
    ``untargeted, any target`` = any targeted attack), over the images attacked at every count of the run (all their
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
        per_kind.append((ANY_TARGET, tg.groupby(["image", "pixels"])["success"].any().loc[full]))
    for kind, fooled in per_kind:
        table = fooled.unstack("pixels").reindex(columns=counts)
        table = table[table.notna().all(axis=1)].astype(bool)  # attacked at every count
        first = [int((table[k] & ~table[[c for c in counts if c < k]].any(axis=1)).sum()) for k in counts]
        out.append({"kind": kind, "pixels": counts, "images": len(table), "fooled_at": first,
                    "never": int((~table.any(axis=1)).sum())})
    return out


def correct_before(df):
    """The rows of attacks on images the model classified correctly before the attack."""
    return df[df["predicted_before"] == df["label"]]


def first_success_queries(rows) -> tuple[np.ndarray, bool]:
    """The query of each successful row's first verified success, and whether every one is known.

    Stores from before the first success was recorded (and rows stored by such a version) only know where an
    attack stopped: their stop query stands in, an upper bound on the first success."""
    succ = rows[rows["success"]]
    first = succ["first_success_query"] if "first_success_query" in succ else None
    if first is None:
        return succ["queries"].to_numpy(np.int64), False
    known = first.notna().to_numpy()
    q = np.where(known, first.fillna(0).to_numpy(np.int64), succ["queries"].to_numpy(np.int64))
    return q.astype(np.int64), bool(known.all())


def _any_target_first(tg, num_classes: int):
    """Per image whose targeted attacks all finished: the first query at which any of them succeeded (NaN:
    none did), whether all those queries are known, and the images' rows (for labels)."""
    complete = tg.groupby("image").filter(lambda g: len(g) == num_classes - 1)
    if not len(complete):
        return complete.iloc[:0], np.zeros(0), True
    q, exact = first_success_queries(complete)
    hits = complete[complete["success"]].assign(_first=q)
    per_image = hits.groupby("image")["_first"].min()
    images = complete.drop_duplicates("image").set_index("image")
    return images, per_image.reindex(images.index).to_numpy(float), exact


def run_budget(df) -> int:
    """The per-attack query budget of a run: its cap, else the search's maximum (DE: population × (1 +
    generations)), else the most queries any attack used."""
    from .config import upgraded

    cfg = upgraded(df.attrs.get("config", {}))
    cap = cfg.get("max_queries")
    de = cfg.get("search_settings") or {} if cfg.get("search", "de") == "de" else {}
    if de.get("popsize") and de.get("generations") is not None:
        full = int(de["popsize"]) * (int(de["generations"]) + 1)
        return min(full, int(cap)) if cap else full
    if cap:
        return int(cap)
    return int(df["queries"].max()) if len(df) else 0


def first_success_by_kind(df, num_classes: int) -> list[dict[str, Any]]:
    """Per pixel count and kind, over the images classified correctly before the attack: ``n`` (attacks, or
    images for :data:`ANY_TARGET`) and ``first`` (the query of each success's first verified success; for
    :data:`ANY_TARGET` the first of any target), ``exact`` (False: some only bounded by their stop query)."""
    out: list[dict[str, Any]] = []
    ok = correct_before(df)
    for k in sorted(ok["pixels"].unique()):
        at_k = ok[ok["pixels"] == k]
        un, tg = at_k[at_k["mode"] == "untargeted"], at_k[at_k["mode"] == "targeted"]
        if len(un):
            q, exact = first_success_queries(un)
            out.append({"pixels": int(k), "kind": "untargeted", "n": len(un), "first": q, "exact": exact})
        if len(tg):
            images, first, exact = _any_target_first(tg, num_classes)
            if len(images):
                out.append({"pixels": int(k), "kind": ANY_TARGET, "n": len(images), "first": first[~np.isnan(first)]
                            .astype(np.int64), "exact": exact})
            q, exact = first_success_queries(tg)
            out.append({"pixels": int(k), "kind": "targeted", "n": len(tg), "first": q, "exact": exact})
    return out


def success_curve(first: np.ndarray, n: int, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Success fraction against the per-attack budget, as the points of a step function: at budget ``b`` the
    fraction of the ``n`` attacks whose first success came at a query <= ``b``; from 1 to ``budget``."""
    q = np.sort(np.asarray(first, dtype=np.int64))
    budgets = np.concatenate([[1], q, [max(1, budget, int(q.max()) if q.size else 1)]])
    rate = np.concatenate([[0], np.arange(1, q.size + 1), [q.size]]) / max(n, 1)
    return budgets, rate


def budget_table(df, num_classes: int, budgets: tuple[int, ...] = BUDGETS) -> list[dict[str, Any]]:
    """Success at fixed per-attack budgets and the median first-success query, per pixel count and kind, over
    the images classified correctly before the attack. ``at`` maps each budget (and ``"full"``, the run's own)
    to the success fraction, or None where the budget exceeds the run's (the attacks never got that far)."""
    full = run_budget(df)
    out = []
    for c in first_success_by_kind(df, num_classes):
        q, n = c["first"], c["n"]
        at: dict[Any, float | None] = {b: (float((q <= b).sum()) / n if n else math.nan) if b <= full else None
                                       for b in budgets}
        at["full"] = float(q.size) / n if n else math.nan
        out.append({**c, "budget": full, "at": at, "successes": int(q.size),
                    "median_first": float(np.median(q)) if q.size else math.nan})
    return out


def robust_accuracy(df, num_classes: int) -> list[dict[str, Any]]:
    """The RobustBench-style headline per pixel count: over the images attacked (for the paper's targeted
    protocol: those whose targeted attacks all finished), ``clean_accuracy``, ``robust_accuracy`` (classified
    correctly and not fooled) and ``attack_success`` (fooled among the correctly classified, with its 95 %
    Wilson interval). An image fooled means its untargeted attack succeeded, or, without one, any of its
    targeted attacks (``kind``). Images misclassified before the attack are counted apart (``misclassified``:
    their rows), never as the attack's successes."""
    out = []
    for k in sorted(df["pixels"].unique()):
        at_k = df[df["pixels"] == k]
        un = at_k[at_k["mode"] == "untargeted"]
        if len(un):
            kind, per_image = "untargeted", un.groupby("image").agg(
                label=("label", "first"), before=("predicted_before", "first"), fooled=("success", "any"))
        else:
            tg = at_k[at_k["mode"] == "targeted"]
            complete = tg.groupby("image").filter(lambda g: len(g) == num_classes - 1)
            kind, per_image = ANY_TARGET, complete.groupby("image").agg(
                label=("label", "first"), before=("predicted_before", "first"), fooled=("success", "any"))
        n = len(per_image)
        correct = per_image[per_image["before"] == per_image["label"]]
        fooled = int(correct["fooled"].sum())
        lo, hi = wilson(fooled, len(correct))
        wrong = at_k[at_k["image"].isin(per_image.index[per_image["before"] != per_image["label"]])]
        out.append({
            "pixels": int(k), "kind": kind, "images": n, "correct": len(correct), "fooled": fooled,
            "clean_accuracy": len(correct) / n if n else math.nan,
            "robust_accuracy": (len(correct) - fooled) / n if n else math.nan,
            "attack_success": fooled / len(correct) if len(correct) else math.nan, "ci_low": lo, "ci_high": hi,
            "misclassified": wrong.drop_duplicates("image")[["image", "label", "predicted_before", "label_prob_before"]]
            .to_dict("records"),
        })
    return out
