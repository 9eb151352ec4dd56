"""Campaigns on Ray against local worker processes: attacks/s with 1 and 2 actors, and Ray's overhead.

    ONEPIXEL_DATA=../shared/data/cifar10 python benchmarks/ray_scaling.py --json ray_scaling.json

One small paper-protocol campaign (ResNet-20, ``--n`` images x 9 targets, DE with ``--popsize`` x
``--generations``) runs, interleaved per repeat, as: one process (in this process), ``--workers 2``, Ray with 1
actor and Ray with 2 actors (1 CPU and 1 thread each; the local workers get 1 thread each too). Ray is started
once, as a cluster would be, and its start-up time is reported apart; each timed run includes what a user
waits for beyond it: processes or actors starting and loading the model, the attacks, the store. Every run
must store the same results as the single process. Prints JSON and a table: median wall seconds, attacks/s,
search queries/s per worker, Ray/local ratio at equal parallelism (median over repeats of the ratio within a
repeat), the machine's load average while it ran, and the wall-time formula for the full paper campaign on N
such nodes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from onepixel.campaign import evaluate, load_results
from onepixel.campaign.ray_backend import RayOptions

# the paper's DE on one attack: a population of 400 for 100 generations after the initial one
PAPER_QUERIES = 400 * 101
PAPER_ATTACKS = 10_000 * 9  # every CIFAR-10 test image toward each of the 9 other classes, per net and pixel count


def _results(folder: Path):
    return load_results(folder).drop(columns=["seconds", "finished_at"]).sort_values("uid").reset_index(drop=True)


def _paired(a: list[float], b: list[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--n", type=int, default=8, help="images (x 9 targeted attacks each)")
    ap.add_argument("--popsize", type=int, default=40)
    ap.add_argument("--generations", type=int, default=20)
    ap.add_argument("--batch-images", type=int, default=9)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    import ray

    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"  # the spawned workers' threads
    settings = {"n": args.n, "search": "de", "popsize": args.popsize, "generations": args.generations,
                "batch_images": args.batch_images, "protocol": "paper", "progress": False}
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20,
             logging_level=logging.WARNING)
    ray_start = time.perf_counter() - t0
    configs = {
        "1 process": {},
        "workers 2": {"workers": 2},
        "Ray 1 actor": {"ray": RayOptions(actors=1)},
        "Ray 2 actors": {"ray": RayOptions(actors=2)},
    }
    root = Path(tempfile.mkdtemp(prefix="ray-scaling-"))
    seconds: dict[str, list[float]] = {name: [] for name in configs}
    loads = []
    reference = None
    attacks = queries = 0
    try:
        for rep in range(args.repeats):
            for name, extra in configs.items():
                out = root / f"{rep}-{name.replace(' ', '-')}"
                loads.append(os.getloadavg()[0])
                t = time.perf_counter()
                evaluate(args.model, out, **settings, **extra)
                seconds[name].append(time.perf_counter() - t)
                df = _results(out)
                if reference is None:
                    reference, attacks, queries = df, len(df), int(df["queries"].sum())
                elif not df.equals(reference):
                    raise SystemExit(f"{name} stored other results than one process")
                shutil.rmtree(out)
                print(f"repeat {rep + 1}, {name}: {seconds[name][-1]:.1f} s", flush=True)
    finally:
        ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    med = {name: statistics.median(s) for name, s in seconds.items()}
    workers = {"1 process": 1, "workers 2": 2, "Ray 1 actor": 1, "Ray 2 actors": 2}
    rows = [{"config": name, "workers": workers[name], "seconds": med[name], "attacks_per_s": attacks / med[name],
             "queries_per_s_per_worker": queries / med[name] / workers[name], "runs": seconds[name]} for name in configs]
    per_actor = queries / med["Ray 1 actor"]
    result = {
        "model": args.model, "attacks": attacks, "search_queries": queries, "settings": settings,
        "repeats": args.repeats, "ray_start_seconds": ray_start, "rows": rows,
        # medians of the ratios within a repeat (the runs of one repeat ran minutes apart, under one load)
        "ray_over_workers_1": _paired(seconds["Ray 1 actor"], seconds["1 process"]),
        "ray_over_workers_2": _paired(seconds["Ray 2 actors"], seconds["workers 2"]),
        "ray_2_over_1_actor_speedup": _paired(seconds["Ray 1 actor"], seconds["Ray 2 actors"]),
        "load_average_median": statistics.median(loads), "load_average_max": max(loads), "cpus": os.cpu_count(),
        "identical_results": True,
        "paper_campaign": {
            "attacks_per_net_and_pixel_count": PAPER_ATTACKS, "queries_per_attack_at_most": PAPER_QUERIES,
            "queries_per_s_per_actor": per_actor,
            "formula": "hours = attacks x queries per attack / (nodes x actors per node x queries/s per actor) / 3600",
            "hours_one_actor": PAPER_ATTACKS * PAPER_QUERIES / per_actor / 3600,
        },
    }
    print(json.dumps(result, indent=1))
    print(f"\n{args.model}, {attacks} attacks ({args.n} images x 9 targets), DE {args.popsize} x {args.generations}, "
          f"{queries:,} search queries; median of {args.repeats} interleaved repeats; Ray start-up "
          f"{ray_start:.1f} s (once, not in the rows); load average {result['load_average_median']:.1f} "
          f"(max {result['load_average_max']:.1f}) on {os.cpu_count()} CPUs")
    print(f"{'config':<14} {'workers':>7} {'wall s':>8} {'attacks/s':>10} {'queries/s/worker':>17}")
    for r in rows:
        print(f"{r['config']:<14} {r['workers']:>7} {r['seconds']:>8.1f} {r['attacks_per_s']:>10.2f} "
              f"{r['queries_per_s_per_worker']:>17,.0f}")
    print(f"Ray / local at equal parallelism (median of the repeats' ratios): 1 worker {result['ray_over_workers_1']:.3f}, "
          f"2 workers {result['ray_over_workers_2']:.3f} (1.10 = 10 % slower); 2 actors vs 1: "
          f"{result['ray_2_over_1_actor_speedup']:.2f}x")
    print(f"full paper campaign, one net and pixel count ({PAPER_ATTACKS:,} attacks, at most {PAPER_QUERIES:,} "
          f"queries each): {result['paper_campaign']['hours_one_actor']:,.0f} h / (nodes x actors per node) "
          f"at {per_actor:,.0f} queries/s per actor")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
