"""Wall time of ``onepixel demo`` on this machine: alone, and niced beside a core kept busy by another process.

    ONEPIXEL_DATA=../shared/data/cifar10 python benchmarks/demo_time.py [--out /tmp/demo-time] [--runs 1]

Each run starts from an empty output folder (a second run in the same folder would resume the stored attacks
and measure nothing). Prints one JSON line per run and a table: wall seconds, the demo's CPU seconds (user + sys,
its whole process tree) and the 1-minute load average before the run, which says how busy the machine was
(a shared machine's wall time is only meaningful beside it). The demo's own output is kept in OUT/*.log.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path


def one_run(out: Path, busy: bool) -> dict:
    folder = out / ("busy" if busy else "quiet")
    shutil.rmtree(folder, ignore_errors=True)
    burner = subprocess.Popen([sys.executable, "-c", "while 1: pass"]) if busy else None
    try:
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        cmd = (["nice", "-n", "10"] if busy else []) + [sys.executable, "-m", "onepixel.cli", "demo", "--out", str(folder)]
        t0 = time.perf_counter()
        with open(out / f"{folder.name}.log", "w") as log:
            rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        if burner is not None:
            burner.kill()
            burner.wait()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"case": "niced beside a busy core" if busy else "alone", "rc": rc, "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1), "load_1min_before": round(load, 2), "cores": os.cpu_count(),
            "log": str(out / f"{folder.name}.log")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("/tmp/onepixel-demo-time"))
    ap.add_argument("--runs", type=int, default=1, help="runs of each case")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for _ in range(args.runs):
        for busy in (False, True):
            rows.append(one_run(args.out, busy))
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'case':<28}{'rc':>4}{'wall s':>9}{'cpu s':>8}{'load before':>13}")
    for r in rows:
        print(f"{r['case']:<28}{r['rc']:>4}{r['wall_s']:>9.1f}{r['cpu_s']:>8.1f}{r['load_1min_before']:>13.2f}")


if __name__ == "__main__":
    main()
