"""Answering DE's repeated trials from memory: the paper's DE with and without the runner's memo.

    ONEPIXEL_DATA=../shared/data/cifar10 python benchmarks/memo.py --model allconv --images 4 --threads 1

The paper's DE (population 400, up to 100 generations) attacks the same CIFAR-10 test images with the memo on
and off, alternating on/off per repeat, in the paper protocol's targeted mode (target = the next class; most
such attacks fail and spend all 40,400 queries, which is where repeats pile up). Prints JSON and a table:
wall time, search queries, queries that reached the model, the time ratio, and whether every result (pixels,
queries, probabilities) is identical.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch

import onepixel as op
from onepixel import zoo
from onepixel.data import load_cifar10


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="allconv")
    ap.add_argument("--images", type=int, default=4, help="attacked together, as a campaign batch")
    ap.add_argument("--generations", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x, y = load_cifar10("test", os.environ.get("ONEPIXEL_DATA"))
    x, y = x[: args.images], y[: args.images].astype(np.int64)
    targets = (y + 1) % 10
    clf = zoo.load(args.model)
    op.attack(clf, x[:1], y[:1], targets=targets[:1], search="de", generations=1)  # warm-up: traces, plans
    seconds: dict[bool, list[float]] = {True: [], False: []}
    results = {}
    for _ in range(args.repeats):
        for memo in (True, False):
            t0 = time.perf_counter()
            results[memo] = op.attack(clf, x, y, targets=targets, search="de", generations=args.generations, memo=memo)
            seconds[memo].append(time.perf_counter() - t0)
    on, off = results[True], results[False]
    identical = all((a.pixels, a.queries, a.success, a.label_prob_after, a.target_prob_after)
                    == (b.pixels, b.queries, b.success, b.label_prob_after, b.target_prob_after) for a, b in zip(on, off))
    row = {
        "model": args.model, "images": len(x), "generations": args.generations, "threads": torch.get_num_threads(),
        "repeats": args.repeats, "search_queries": sum(r.queries for r in on),
        "model_queries_memo": sum(r.model_queries for r in on), "model_queries_no_memo": sum(r.model_queries for r in off),
        "seconds_memo": statistics.median(seconds[True]), "seconds_no_memo": statistics.median(seconds[False]),
        "successes": sum(r.success for r in on), "identical_results": identical,
    }
    row["repeat_share"] = 1 - row["model_queries_memo"] / row["search_queries"]
    row["speedup"] = row["seconds_no_memo"] / row["seconds_memo"]
    print(json.dumps(row), flush=True)
    print("\n| model | images | search queries | model queries (memo) | repeats | s, no memo | s, memo | speedup | identical |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    print(f"| {row['model']} | {row['images']} | {row['search_queries']:,} | {row['model_queries_memo']:,} | "
          f"{row['repeat_share']:.1%} | {row['seconds_no_memo']:.1f} | {row['seconds_memo']:.1f} | "
          f"{row['speedup']:.2f}x | {identical} |")


if __name__ == "__main__":
    main()
