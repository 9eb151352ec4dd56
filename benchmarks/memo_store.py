"""The memo's own bookkeeping: seconds spent in ``QueryMemo.lookup`` and ``add`` per generation, no model.

    python benchmarks/memo_store.py                                   # this checkout's memo
    git show 0123abc:src/onepixel/memo.py > /tmp/old_memo.py
    python benchmarks/memo_store.py --baseline /tmp/old_memo.py       # side by side with another version

Synthetic DE-like rounds: every image asks ``--rows`` changes per generation, half of them repeats of the last
round's (the memo answers those), the rest new (the memo stores them). Scenarios: a campaign batch of 100
CIFAR-10 images as a GPU runs it (10 classes), one ImageNet photo (1000 classes), one CIFAR-10 image. The two
implementations alternate per repeat; medians are printed as JSON and a table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import time

import numpy as np

from onepixel.memo import QueryMemo

SCENARIOS = {  # name: (images, classes)
    "CIFAR-10 campaign batch, 100 images": (100, 10),
    "ImageNet photo": (1, 1000),
    "CIFAR-10 image": (1, 10),
}


def _rounds(images: int, rows: int, generations: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out, last = [], None
    for _ in range(generations):
        n = images * rows
        keys = np.column_stack([np.repeat(np.arange(images), rows), rng.integers(0, 32, (n, 2)),
                                rng.integers(0, 256, (n, 3))]).astype(np.int64)
        if last is not None:
            repeat = rng.random(n) < 0.5
            keys[repeat] = last[repeat]
        out.append(keys)
        last = keys
    return out


def _time(memo_cls: type, rounds: list[np.ndarray], classes: int) -> float:
    memo = memo_cls(classes)
    answers = np.random.default_rng(1).random((len(rounds[0]), classes))
    t0 = time.perf_counter()
    for keys in rounds:
        _, found = memo.lookup(keys)
        memo.add(keys[~found], answers[: int((~found).sum())])
    return time.perf_counter() - t0


def _load(path: str) -> type:
    spec = importlib.util.spec_from_file_location("onepixel._baseline_memo", path)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "onepixel"  # its relative import of .candidates resolves to this checkout's
    spec.loader.exec_module(module)
    return module.QueryMemo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", help="a memo.py of another version to time beside this one")
    ap.add_argument("--rows", type=int, default=400, help="changes per image per generation (DE: the population)")
    ap.add_argument("--generations", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    impls = {"current": QueryMemo} | ({"baseline": _load(args.baseline)} if args.baseline else {})
    rows = []
    for name, (images, classes) in SCENARIOS.items():
        rounds = _rounds(images, args.rows, args.generations)
        seconds: dict[str, list[float]] = {k: [] for k in impls}
        for _ in range(args.repeats):
            for key, cls in impls.items():
                seconds[key].append(_time(cls, rounds, classes))
        row = {"scenario": name, "images": images, "classes": classes, "queries": images * args.rows * args.generations}
        row |= {f"seconds_{k}": statistics.median(v) for k, v in seconds.items()}
        row |= {f"us_per_query_{k}": 1e6 * row[f"seconds_{k}"] / row["queries"] for k in impls}
        if args.baseline:
            row["speedup"] = row["seconds_baseline"] / row["seconds_current"]
        rows.append(row)
    print(json.dumps(rows, indent=1))
    print()
    head = "| scenario | queries | " + " | ".join(f"{k} s (µs/query)" for k in impls) + (" | speed-up |" if args.baseline else " |")
    print(head)
    print("|---|---:|" + "---:|" * (len(impls) + bool(args.baseline)))
    for r in rows:
        cells = " | ".join(f"{r[f'seconds_{k}']:.2f} ({r[f'us_per_query_{k}']:.2f})" for k in impls)
        print(f"| {r['scenario']} | {r['queries']:,} | {cells} |" + (f" {r['speedup']:.1f}× |" if args.baseline else ""))


if __name__ == "__main__":
    main()
