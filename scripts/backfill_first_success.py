"""Fill in the first-success query of a results store made before it was recorded, by replaying its attacks.

    PYTHONPATH=src python3 scripts/backfill_first_success.py docs/runs/strict-allconv [--correct-only] [--batch 32]

Each successful attack is run again here with its stored seed and the run's settings (the runner is
deterministic: the same seed on the same precision gives the same search). A replay is accepted only when it
reproduces the stored attack exactly (success, changed pixels and colours, stop query); then its first-success
query is written into the store's ``first_success_query`` column. Attacks a replay does not reproduce (a store
made on a GPU searches in bf16; this replays in the precision at hand) stay unknown, and reports keep drawing
them at their stop query, labelled as an upper bound. Failed attacks need no replay: they never succeeded.
``--correct-only`` replays only attacks on images the model classified correctly before the attack (reports
draw curves and examples from those alone). Prints a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from pathlib import Path

import numpy as np

from onepixel.api import as_classifier
from onepixel.assemble import runner_for
from onepixel.campaign.config import search_of
from onepixel.campaign.evaluate import model_input_view
from onepixel.campaign.store import DB_NAME, ResultStore, load_results
from onepixel.data.datasets import PHOTO_DATASETS, load_dataset


def backfill(run: Path, correct_only: bool = False, batch: int = 32, device: str = "cpu",
             model: str | None = None, limit: int | None = None) -> dict:
    df = load_results(run)
    cfg = df.attrs["config"]
    if cfg.get("space", "input") == "file" and str(cfg.get("dataset")) in PHOTO_DATASETS:
        raise SystemExit("file-space runs are not supported here (one full-resolution photo per attack)")
    todo = df[df["success"] & df["first_success_query"].isna()]
    if correct_only:
        todo = todo[todo["predicted_before"] == todo["label"]]
    todo = todo.sort_values("queries").head(limit)  # the shortest first: the first answers come soon
    clf = as_classifier(model or cfg["model"], device=device)
    name, _, split = str(cfg["dataset"]).partition("/")
    data = load_dataset(name, split or "test", cfg.get("data_path"))
    if name in PHOTO_DATASETS:
        data = model_input_view(data, clf)
    ResultStore(run).close()  # opened for writing once: adds the column to an older store
    db = sqlite3.connect(Path(run) / DB_NAME, timeout=60)
    first = cfg.get("search", "de") != "de"
    done = same = 0
    t0 = time.perf_counter()
    for (k, mode), group in todo.groupby(["pixels", "mode"]):
        for start in range(0, len(group), batch):
            rows = group.iloc[start:start + batch]
            images = np.asarray(data.images[rows["image"].to_numpy()])
            labels = rows["label"].to_numpy(np.int64)
            targets = None if mode == "untargeted" else rows["target"].to_numpy(np.int64)
            runner = runner_for(clf, search_of(cfg), targeted=targets is not None, pixels=int(k),
                                max_queries=cfg.get("max_queries"), stop_on_success=first)
            results = runner.run(images, labels, targets, rows["seed"].astype(int).tolist())
            for (_, row), r in zip(rows.iterrows(), results):
                stored = [c[: 2 + (len(c) - 2) // 2] for c in row["changes"]]
                replayed = [list(p) for p in r.pixels]
                if r.success and r.queries == row["queries"] and stored == replayed and r.first_success_query:
                    db.execute("UPDATE attacks SET first_success_query=? WHERE uid=?", (r.first_success_query, row["uid"]))
                    same += 1
                done += 1
            db.commit()
            print(f"{run}: {done}/{len(todo)} replayed, {same} reproduced ({time.perf_counter() - t0:.0f} s)", flush=True)
    db.close()
    return {"run": str(run), "successes_replayed": done, "reproduced_and_filled": same,
            "not_reproduced": done - same, "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--correct-only", action="store_true")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default=None, help="the run's model file, where it moved")
    ap.add_argument("--limit", type=int, default=None, help="replay at most this many attacks per run")
    a = ap.parse_args()
    for run in a.runs:
        print(json.dumps(backfill(run, a.correct_only, a.batch, a.device, a.model, a.limit)))


if __name__ == "__main__":
    main()
