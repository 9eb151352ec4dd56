"""One table from the per-image lines of ``benchmarks/peers.py`` runs split over processes with ``--first``.

    OMP_NUM_THREADS=1 python benchmarks/peers.py --models allconv --first 0 --images 4 --batched-images 0 \
        --libraries onepixel onepixel-default torchattacks art > split_0.log      # and --first 4, --first 7 ...
    python benchmarks/peers_merge.py split_*.log

Each image line carries every library's wall and CPU seconds, queries and verdict for that image, measured
interleaved; an image found in several logs keeps its last line. Ratios are of mean CPU seconds per image
(``time.process_time``: each process's own, far steadier than wall time when processes share the cores) and,
beside them, of mean wall seconds. Prints JSON, then Markdown tables.
"""

from __future__ import annotations

import json
import re
import sys

LINE = re.compile(r"\s+image (\d+): (.*)")
CELL = re.compile(r"(\S+) ([\d.]+)s \(([\d.]+) CPU-s\)/(\d+)q/(fooled|not fooled)")
BASE = "onepixel-default"


def read(paths: list[str]) -> dict[int, dict[str, dict]]:
    rows: dict[int, dict[str, dict]] = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                m = LINE.match(line)
                if m:
                    rows[int(m.group(1))] = {lib: {"wall": float(w), "cpu": float(c), "queries": int(q),
                                                   "fooled": ok == "fooled"}
                                             for lib, w, c, q, ok in CELL.findall(m.group(2))}
    return rows


def main() -> None:
    rows = read(sys.argv[1:])
    if not rows:
        sys.exit("no per-image lines found: pass the logs of benchmarks/peers.py runs")
    libs = list(next(iter(rows.values())))
    if BASE not in libs:
        sys.exit(f"the logs need the {BASE} library (peers.py --libraries ... {BASE} ...)")
    n = len(rows)
    mean = {lib: {k: sum(rows[i][lib][k] for i in rows) / n for k in ("cpu", "wall", "queries")} for lib in libs}
    print(json.dumps({"images": sorted(rows), "per_image": rows, "mean": mean}))
    print("\n| image | " + " | ".join(f"{lib}: CPU-s (wall s)" for lib in libs) + " |")
    print("|---:|" + "---:|" * len(libs))
    for i in sorted(rows):
        print(f"| {i} | " + " | ".join(f"{rows[i][lib]['cpu']:.1f} ({rows[i][lib]['wall']:.0f})"
                                       f"{' fooled' if rows[i][lib]['fooled'] else ''}" for lib in libs) + " |")
    print(f"\n| library | images | fooled | mean queries | CPU-s / image | wall s / image | ÷ {BASE} (CPU) | ÷ {BASE} (wall) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for lib in libs:
        m, b = mean[lib], mean[BASE]
        fooled = sum(rows[i][lib]["fooled"] for i in rows)
        print(f"| {lib} | {n} | {fooled}/{n} | {m['queries']:,.0f} | {m['cpu']:.2f} | {m['wall']:.1f} | "
              f"{m['cpu'] / b['cpu']:.1f}× | {m['wall'] / b['wall']:.1f}× |")


if __name__ == "__main__":
    main()
