"""Seconds, not queries: the default search (rs) against the paper's DE, one image at a time, on the CPU.

    python benchmarks/speed.py --model allconv --threads 1                 # 1 px on unfoolable images, 3 and 5 px
    python benchmarks/speed.py --pixels 1 --unfoolable 0 1 3 --reps 2

Two questions, each answered by attacks run interleaved, image by image, in one process (the host is shared
and its load swings: only ratios of runs side by side mean anything):

* **1 pixel, an image no pixel fools** (``--unfoolable``: CIFAR-10 test indices; the default ones resist every
  one-pixel corner change and every search here): every search spends its whole budget, as
  ``onepixel attack img.png`` would (threshold 5 %). Rows: rs as it ran before its rounds widened and before it
  walked only half of the corner changes (1,088 rounds of 8), rs walking every corner change (``sweep=1``), rs
  (the default: half of them, then 256 at its best locations), and ``--paper`` DE (population 400, 100
  generations); ``--sweep 0.75`` adds rs with that share (``RandomSearch(sweep=0.75)``).
  Its decision must not change: success and queries are printed with the times.
* **3 and 5 pixels, time to first success** (``--pixels``): rs and DE with ``stop_on_success`` on images both
  fool; picked from the stored 200-image cells of benchmarks/search.py (``--cells``) where those exist: of the
  images both fooled there, the ones DE fooled soonest (the choice most favourable to DE); else the first
  correctly classified test images (then images one of them misses are left out of the ratio).

Reports wall and CPU seconds (``time.process_time``: this process's own, so less sensitive to the neighbours)
per attack, and per question the ratio of the medians. Prints JSON lines and a table.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

import onepixel as op
from onepixel import zoo
from onepixel.data import load_cifar10
from onepixel.search import DifferentialEvolution, RandomSearch

CELLS = Path(__file__).resolve().parents[1] / "docs" / "measurements" / "search-cells"


def timed(model, image: np.ndarray, label: int, pixels: int, search, stop: bool) -> dict:
    """One attack of one image: its decision, queries, wall and CPU seconds."""
    t, c = time.perf_counter(), time.process_time()
    r = op.attack(model, image[None], np.array([label]), pixels=pixels, search=search, stop_on_success=stop)[0]
    return {"success": bool(r.success), "queries": int(r.queries), "model_queries": int(r.model_queries),
            "wall_s": time.perf_counter() - t, "cpu_s": time.process_time() - c}


def both_fooled(model_name: str, pixels: int, n: int, cells: Path) -> list[int]:
    """Test indices both rs and DE fooled in the stored untargeted cells, the ``n`` that DE fooled soonest there
    (the choice that favours DE), or [] if no cells are stored."""
    found: dict[str, dict[int, int]] = {}
    for search in ("rs", "de"):
        files = sorted(glob.glob(str(cells / f"{model_name}-*" / f"k{pixels}-untargeted-{search}-n200-b10000-s0-x100_200.json")))
        if not files:
            return []
        d = json.loads(Path(files[0]).read_text())
        found[search] = {i: q for i, s, q in zip(d["indices"], d["success"], d["queries"], strict=True) if s}
    both = [i for i in found["de"] if i in found["rs"]]
    return sorted(both, key=lambda i: (found["de"][i], i))[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="allconv")
    ap.add_argument("--unfoolable", type=int, nargs="*", default=[0, 1, 3], help="test indices for the 1-pixel question")
    ap.add_argument("--pixels", type=int, nargs="*", default=[3, 5], help="pixel counts for the first-success question")
    ap.add_argument("--fooled", type=int, default=5, help="images per pixel count for the first-success question")
    ap.add_argument("--reps", type=int, default=1, help="passes over the 1-pixel images")
    ap.add_argument("--cells", type=Path, default=CELLS)
    ap.add_argument("--sweep", type=float, nargs="*", default=[],
                    help="1-pixel question: also rs walking only this share of the corner changes before refining")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--data", default=os.environ.get("ONEPIXEL_DATA"))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x, y = load_cifar10("test", args.data)
    y = y.astype(np.int64)
    model = zoo.load(args.model)
    op.attack(model, x[:1], y[:1], search="rs", max_queries=16)  # warm-up: trace, plans, caches
    rows: list[dict] = []
    settings = {"rs before: rounds of 8, every corner": lambda: RandomSearch(wide=8, sweep=1.0),
                "rs, every corner (sweep 1)": lambda: RandomSearch(sweep=1.0), "rs": lambda: RandomSearch(),
                "de (paper)": lambda: DifferentialEvolution()}
    for share in args.sweep:
        settings[f"rs, sweep {share:g}"] = lambda share=share: RandomSearch(sweep=share)
    for rep in range(args.reps if args.unfoolable else 0):
        for i in args.unfoolable:
            for name, make in settings.items():
                r = timed(model, x[i], int(y[i]), 1, make(), stop=False)
                rows.append({"question": "1 px, unfoolable", "image": i, "search": name, "rep": rep, **r})
                print(json.dumps(rows[-1]), flush=True)
    for k in args.pixels:
        picked = both_fooled(args.model, k, args.fooled, args.cells)
        if not picked:
            pred = model.probs(x[:200]).argmax(1)
            picked = np.nonzero(pred == y[:200])[0][: args.fooled].tolist()
        for i in picked:
            for name, make in (("rs", lambda: RandomSearch()), ("de (paper)", lambda: DifferentialEvolution())):
                r = timed(model, x[i], int(y[i]), k, make(), stop=True)
                rows.append({"question": f"{k} px, time to first success", "image": i, "search": name, **r})
                print(json.dumps(rows[-1]), flush=True)

    summary = []
    for q in dict.fromkeys(r["question"] for r in rows):
        sub = [r for r in rows if r["question"] == q]
        if q.startswith("1 px"):
            keep = {r["image"] for r in sub}
        else:  # only images every search fooled
            keep = {i for i in {r["image"] for r in sub} if all(r["success"] for r in sub if r["image"] == i)}
        med = {}
        for name in dict.fromkeys(r["search"] for r in sub):
            mine = [r for r in sub if r["search"] == name and r["image"] in keep]
            if not mine:
                continue
            med[name] = {key: statistics.median(r[key] for r in mine) for key in ("wall_s", "cpu_s", "queries")}
            med[name]["successes"] = f"{sum(r['success'] for r in mine)}/{len(mine)}"
        de = med.get("de (paper)")
        for name, m in med.items():
            line = {"question": q, "search": name, "images": len(keep), **m}
            if de is not None and name != "de (paper)":
                line["de_over_this_wall"] = de["wall_s"] / m["wall_s"]
                line["de_over_this_cpu"] = de["cpu_s"] / m["cpu_s"]
            summary.append(line)
    print(json.dumps({"threads": torch.get_num_threads(), "model": args.model, "summary": summary}))
    print("\n| question | search | images | success | median queries | median wall s | median CPU s | DE ÷ this (wall) | DE ÷ this (CPU) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for s in summary:
        ratio = (f"**{s['de_over_this_wall']:.2f}×** | {s['de_over_this_cpu']:.2f}×" if "de_over_this_wall" in s else "— | —")
        print(f"| {s['question']} | {s['search']} | {s['images']} | {s['successes']} | {s['queries']:,.0f} | "
              f"{s['wall_s']:.2f} | {s['cpu_s']:.2f} | {ratio} |")


if __name__ == "__main__":
    main()
