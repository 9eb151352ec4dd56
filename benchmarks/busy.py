"""Wall time of a campaign on a quiet CPU and beside a busy process, with the thread governor (the default:
each delta-inference chunk on torch's thread count or on one thread, whichever measured faster;
:mod:`onepixel.models.threads`) and without it (always torch's count), side by side in one run.

    ONEPIXEL_DATA=../shared/data/cifar10 python benchmarks/busy.py [--model allconv] [--n 20] [--reps 1]

The campaign is ``onepixel evaluate --model MODEL --n N --protocol strict --mode untargeted`` (the default search
rs), run in this process into a fresh folder each time; "busy" starts one process spinning on a core (another
user's work, not niced) for the run's length. Prints one JSON object and a table: median wall seconds per
condition, and the governor's speed-up (seconds without / with)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from onepixel.campaign import evaluate
from onepixel.models.threads import ThreadGovernor

SPIN = "while True: pass"


@contextmanager
def busy(on: bool):
    """One process spinning on a core while the block runs (none when ``on`` is False)."""
    spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if on else None
    try:
        time.sleep(0.5 if on else 0.0)
        yield
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()


@contextmanager
def governed(on: bool):
    """The governor as shipped, or one that always picks torch's own thread count."""
    shipped = ThreadGovernor.pick
    if not on:
        ThreadGovernor.pick = lambda self: self.most  # type: ignore[method-assign]
    try:
        yield
    finally:
        ThreadGovernor.pick = shipped  # type: ignore[method-assign]


def campaign_seconds(model: str, n: int, folder: Path) -> tuple[float, int]:
    """Wall seconds of one campaign into a fresh ``folder``, and the queries it spent."""
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    df = evaluate(model, folder, n=n, pixels=[1], mode="untargeted", protocol="strict", search="rs", progress=False)
    return time.perf_counter() - start, int(df["queries"].sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="allconv")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args()
    conditions = [(load, gov) for load in ("quiet", "busy") for gov in ("governor", "torch threads")]
    seconds: dict[str, list[float]] = {f"{load}, {gov}": [] for load, gov in conditions}
    queries = set()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        campaign_seconds(args.model, 2, Path(tmp) / "warm-up")  # imports and first-call costs, paid once
        for _ in range(args.reps):
            for load, gov in conditions:  # interleaved: the host's own load drifts alike over every condition
                with busy(load == "busy"), governed(gov == "governor"):
                    s, q = campaign_seconds(args.model, args.n, Path(tmp) / "run")
                seconds[f"{load}, {gov}"].append(s)
                queries.add(q)
    median = {k: float(np.median(v)) for k, v in seconds.items()}
    speedup = {load: median[f"{load}, torch threads"] / median[f"{load}, governor"] for load in ("quiet", "busy")}
    result = {"model": args.model, "n": args.n, "reps": args.reps, "torch_threads": torch.get_num_threads(),
              "cpus": os.cpu_count(), "queries": sorted(queries), "seconds": seconds, "median_seconds": median,
              "governor_speedup": speedup, "load_before": load_before}
    print(json.dumps(result))
    print(f"\n{args.model}, {args.n} images, strict untargeted, rs; {sorted(queries)} queries in every run "
          f"(the same results); torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs")
    print(f"{'host':>6} | {'governor (s)':>12} | {'torch threads (s)':>17} | {'speed-up':>8}")
    for load in ("quiet", "busy"):
        print(f"{load:>6} | {median[f'{load}, governor']:12.1f} | {median[f'{load}, torch threads']:17.1f} | "
              f"{speedup[load]:7.2f}x")


if __name__ == "__main__":
    main()
