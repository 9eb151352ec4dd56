"""Probe: the random search with a finer colour grid at k > 1 (``levels``), on a net's 200-image strict set of
benchmarks/search.py, compared image by image with the stored rs cell (cube corners, ``levels=2``).

    ONEPIXEL_DATA=../shared/data/cifar10 python scripts/probe_rs_levels.py vgg16 3 untargeted 3

Same images, seeds (seed = position) and batches of 25 as the benchmark's cells; prints the success curve at
100 / 400 / 1k / 2k / 5k / 10k queries for both, and the images only one of them fools; writes the per-image
results to docs/measurements/probes/rsl-NET-K-MODE-LLEVELS.json.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import torch

from onepixel import zoo
from onepixel.search import make_search

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    name, k, mode, levels = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    torch.set_num_threads(1)
    spec = importlib.util.spec_from_file_location("bench_search", ROOT / "benchmarks" / "search.py")
    bench = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(bench)  # type: ignore[union-attr]
    model = zoo.load(name)
    idx, x, y = bench.strict_set(model, 200, None, range(100, 200))
    targets = None if mode == "untargeted" else bench.targets_for(y, 0)
    # the benchmark's own cell loop (seeds, batches of 25), with the colour grid handed to the random search
    bench.make_search = lambda search, **options: make_search(search, levels=levels, **options)
    cell = bench.run_cell(model, "rs", k, x, y, targets, 10_000, 0, 25)
    success, queries = cell["success"], cell["queries"]

    def curve(c: dict) -> str:  # rs stops at 10k: the benchmark's budgets up to there
        return " / ".join(f"{100 * v:g}" for v in bench.curve(c, bench.BUDGETS[:-1]))

    print(f"{len(success)} images in {cell['seconds']:.0f} s")
    cells = ROOT / "docs" / "measurements" / "search-cells"
    stored = json.loads(next(cells.glob(f"{name}-*/k{k}-{mode}-rs-n200-b10000-s0-x100_200.json")).read_text())
    assert stored["indices"] == idx.tolist(), "the stored cell ran on other images"
    print(f"{name} {k} px {mode}, levels={levels}: {curve(cell)} | campaign {sum(queries)}")
    print(f"{name} {k} px {mode}, stored rs (levels=2): {curve(stored)} | "
          f"campaign {sum(stored['queries'])}")
    only_new = [int(idx[i]) for i in range(len(idx)) if success[i] and not stored["success"][i]]
    only_stored = [int(idx[i]) for i in range(len(idx)) if stored["success"][i] and not success[i]]
    print("only with levels:", only_new, "only stored:", only_stored)
    out = ROOT / "docs" / "measurements" / "probes" / f"rsl-{name}-{k}-{mode}-L{levels}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"success": success, "queries": queries, "indices": idx.tolist(), "levels": levels}))


if __name__ == "__main__":
    main()
