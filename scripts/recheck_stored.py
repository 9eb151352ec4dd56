"""Re-run stored DE attacks of a CIFAR-10 zoo campaign in this process and compare them with the store.

    python scripts/recheck_stored.py docs/runs/paper-nin --positions 300 301 600 601 850 851

Attacks are picked by their position in finishing order (later positions come from later batches, which is
where a state leak between batches would show). Every attack's result depends only on its image, target,
seed and the settings, so a re-run must give the same success, queries and pixels.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from onepixel import zoo
from onepixel.campaign import load_results
from onepixel.data import load_cifar10
from onepixel.objectives import Targeted, Untargeted
from onepixel.runner import Runner
from onepixel.search.de import DifferentialEvolution


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--positions", type=int, nargs="+", required=True, help="finishing-order positions to re-run")
    ap.add_argument("--data", default=None, help="CIFAR-10 folder [default: ONEPIXEL_DATA, cache]")
    args = ap.parse_args()
    config = json.loads((args.run / "summary.json").read_text())["config"] if (args.run / "summary.json").exists() else None
    df = load_results(args.run).sort_values("finished_at").reset_index(drop=True)
    pick = df.iloc[args.positions]
    model = config["model"] if config else args.run.name.split("-", 1)[1]
    popsize, generations = (config["popsize"], config["generations"]) if config else (400, 100)
    x, _ = load_cifar10("test", args.data)
    clf = zoo.load(model)
    same_all = True
    for mode, rows in pick.groupby("mode"):
        targeted = mode == "targeted"
        crit = Targeted(0.90) if targeted else Untargeted(0.05)
        runner = Runner(clf, crit, DifferentialEvolution(popsize, generations), int(rows.pixels.iloc[0]), None)
        res = runner.run(x[rows.image.values], rows.label.values.astype(np.int64),
                         rows.target.values.astype(np.int64) if targeted else None, [int(s) for s in rows.seed])
        for r, (_, row) in zip(res, rows.iterrows(), strict=True):
            same = (bool(r.success) == bool(row.success) and r.queries == row.queries
                    and [list(p) for p in r.pixels] == [c[:5] for c in row.changes])
            same_all &= same
            print(f"{row.uid}: stored {bool(row.success)} {row.queries} {row.changes[0][:5]} | re-run {r.success} "
                  f"{r.queries} {list(r.pixels[0])}  {'same' if same else 'DIFFERENT'}", flush=True)
    raise SystemExit(0 if same_all else 1)


if __name__ == "__main__":
    main()
