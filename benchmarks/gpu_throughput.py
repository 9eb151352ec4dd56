"""Queries per second of the whole attack on a GPU (or CPU) vs the raw batched forward of the same model.

    python benchmarks/gpu_throughput.py --device cuda --data ../shared/data/cifar10 --images 512

Prints JSON and a table. Measured figures live in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import onepixel as op
from onepixel import zoo


def raw_forward_qps(clf, images: torch.Tensor, seconds: float = 3.0) -> float:
    """Images per second of the bare fast-precision forward on a fixed batch (same batch size as the attack)."""
    batch = images[: clf.batch_size]
    n = 0
    sync = torch.cuda.synchronize if clf.device.type == "cuda" else (lambda: None)
    with torch.inference_mode():
        clf._forward(batch, reference=False)
        sync()
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            clf._forward(batch, reference=False)
            n += len(batch)
        sync()
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="allconv")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--data", default="../shared/data/cifar10")
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--generations", type=int, default=10)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[4096, 16384])
    args = ap.parse_args()

    te = np.load(f"{args.data}/test.npz")
    x, y = te["x"][: args.images], te["y"][: args.images].astype(np.int64)
    rows = []
    for bs in args.batch_sizes:
        clf = zoo.load(args.model, device=args.device, batch_size=bs)
        imgs = torch.from_numpy(np.repeat(x, max(1, bs // len(x) + 1), axis=0)[:bs]).to(clf.device)
        raw = raw_forward_qps(clf, imgs)
        op.attack(clf, x[:8], y[:8], search="de", generations=1)  # warm-up (cuDNN autotuning, allocator)
        t0 = time.perf_counter()
        res = op.attack(clf, x, y, search="de", generations=args.generations)
        wall = time.perf_counter() - t0
        q = sum(r.queries + r.verify_queries for r in res)
        rows.append({
            "model": args.model, "device": str(clf.device), "gpu": torch.cuda.get_device_name() if clf.device.type == "cuda" else "",
            "precision": clf.precision, "batch_size": bs, "images": len(x), "generations": args.generations,
            "attack_queries": q, "attack_seconds": round(wall, 3), "attack_qps": round(q / wall),
            "raw_forward_qps": round(raw), "engine_overhead": round(raw / (q / wall) - 1, 3),
            "success_rate": res.success_rate,
        })
    print(json.dumps(rows, indent=1))
    print(f"\n| batch | attack queries/s | raw forward img/s | overhead | success ({args.generations} gen) |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['batch_size']} | {r['attack_qps']:,} | {r['raw_forward_qps']:,} | {r['engine_overhead']:.1%} | {r['success_rate']:.1%} |")


if __name__ == "__main__":
    main()
