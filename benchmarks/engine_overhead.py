"""Engine overhead: time per query of the whole attack vs the raw batched forward of the same model.

The same AllConv (shipped weights), the same precision (bf16 + channels_last where the CPU has it, else
fp32), the same batch size. Attack rounds and raw-forward rounds are interleaved and the medians compared,
because this host's speed drifts 2-3x over tens of seconds.

    python benchmarks/engine_overhead.py [--rounds 5] [--images 8] [--generations 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

import onepixel as op
from onepixel import zoo


def raw_seconds_per_query(clf, batch: torch.Tensor, n_queries: int) -> float:
    """Seconds per image of the bare module forward on prepared input, over about ``n_queries`` images."""
    module = clf.fast if clf.has_fast_precision else clf.reference
    dtype = torch.bfloat16 if clf.has_fast_precision else torch.float32
    x = clf.preprocess(batch, dtype)
    reps = max(1, n_queries // len(batch))
    with torch.inference_mode():
        module(x)
        t0 = time.perf_counter()
        for _ in range(reps):
            module(x)
        return (time.perf_counter() - t0) / (reps * len(batch))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="allconv")
    ap.add_argument("--data", default=None, help="CIFAR-10 folder (default: ONEPIXEL_DATA / cache)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--generations", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--delta", action="store_true", help="let the attack use delta inference (off: same forward as raw)")
    args = ap.parse_args()

    from onepixel.data import load_cifar10

    x, y = load_cifar10("test", args.data)
    clf = zoo.load(args.model, batch_size=args.batch_size, delta="auto" if args.delta else False)
    # Images the model classifies correctly and that DE does not fool quickly would be ideal; a fixed
    # slice is enough here because queries, not successes, are timed.
    imgs, labels = x[: args.images], y[: args.images].astype(np.int64)
    batch = torch.from_numpy(x[: args.batch_size])
    attack_spq, raw_spq = [], []
    for _ in range(args.rounds):
        raw_spq.append(raw_seconds_per_query(clf, batch, 400 * args.images))  # before and after each attack
        t0 = time.perf_counter()
        res = op.attack(clf, imgs, labels, search="de", generations=args.generations, seed=0)
        wall = time.perf_counter() - t0
        q = sum(r.queries + r.verify_queries for r in res) + len(imgs)  # + the clean query per image
        attack_spq.append(wall / q)
    raw_spq.append(raw_seconds_per_query(clf, batch, 400 * args.images))
    a, r = statistics.median(attack_spq), statistics.median(raw_spq)
    out = {
        "model": args.model, "precision": clf.precision, "batch_size": args.batch_size, "images": args.images,
        "popsize": 400, "generations": args.generations, "rounds": args.rounds, "torch_threads": torch.get_num_threads(),
        "attack_ms_per_query": round(1e3 * a, 4), "raw_forward_ms_per_query": round(1e3 * r, 4),
        "engine_overhead": round(a / r - 1, 4),
        "attack_ms_per_query_rounds": [round(1e3 * v, 4) for v in attack_spq],
        "raw_ms_per_query_rounds": [round(1e3 * v, 4) for v in raw_spq],
    }
    print(json.dumps(out, indent=1))
    print("\n| model | precision | batch | attack ms/query | raw forward ms/query | engine overhead |")
    print("|---|---|---:|---:|---:|---:|")
    print(f"| {out['model']} | {out['precision']} | {out['batch_size']} | {out['attack_ms_per_query']} | "
          f"{out['raw_forward_ms_per_query']} | {100 * out['engine_overhead']:.1f} % |")


if __name__ == "__main__":
    main()
