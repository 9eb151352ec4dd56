"""One image at a time, the CLI's case: the random search's speed with chunks sized to its round vs the old
chunks padded to the classifier's batch size (64 rows, or 400 under delta inference).

    ONEPIXEL_DATA=../shared/data/cifar10 python benchmarks/single_image.py --queries 400

Each setting attacks the same CIFAR-10 test images one by one with ``search="rs"`` and the threshold at 0 (so
every attack spends its whole budget), interleaved setting by setting per image; prints JSON and a table of
queries per second (median over images) and the ratio.
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
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--pixels", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x, y = load_cifar10("test", os.environ.get("ONEPIXEL_DATA"))
    x, y = x[: args.images], y[: args.images].astype(np.int64)
    rows = []
    for delta in (True, False):
        round_sized = zoo.load(args.model, delta=delta)
        padded = zoo.load(args.model, delta=delta)
        padded.search_chunk = lambda cap, rows_per_image: cap  # the behaviour before chunks followed the round
        for clf in (round_sized, padded):
            op.attack(clf, x[:1], y[:1], search="rs", max_queries=16)  # warm-up: traces, plans, caches
        for k in args.pixels:
            qps: dict[str, list[float]] = {"round": [], "padded": []}
            for i in range(len(x)):
                for name, clf in (("round", round_sized), ("padded", padded)):
                    t0 = time.perf_counter()
                    r = op.attack(clf, x[i], int(y[i]), pixels=k, search="rs", max_queries=args.queries,
                                  threshold=0.0, seed=i)[0]
                    qps[name].append(r.queries / (time.perf_counter() - t0))
            row = {"model": args.model, "delta": delta, "pixels": k, "queries": args.queries, "images": len(x),
                   "threads": torch.get_num_threads(), "qps_round_chunks": statistics.median(qps["round"]),
                   "qps_padded_chunks": statistics.median(qps["padded"])}
            row["speedup"] = row["qps_round_chunks"] / row["qps_padded_chunks"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| model | delta | k | queries/s, chunks of the round (8) | queries/s, padded to the batch | speedup |"
          "\n|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['delta']} | {r['pixels']} | {r['qps_round_chunks']:,.0f} | "
              f"{r['qps_padded_chunks']:,.0f} | {r['speedup']:.1f}× |")


if __name__ == "__main__":
    main()
