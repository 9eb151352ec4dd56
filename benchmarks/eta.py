"""How right a campaign's ETA is: the total time it predicts at 10 %, 20 % and 50 % of the run against the
actual total, for the ETA the progress bar shows (expected early stops, :class:`onepixel.progress.QueryForecast`)
and for the old rule (every running attack spends its whole budget).

    ONEPIXEL_DATA=../shared/data/cifar10 python benchmarks/eta.py [--model allconv] [--n 20] [--out /tmp/eta]

It runs the campaign ``onepixel evaluate --model MODEL --n N --protocol strict --mode untargeted --out OUT`` (the
default search rs at its full budget) in this process, records every search
round's progress (time, queries per image, which images still run) and replays both estimators on it: at time t
with ``spent`` queries, an ETA reads ``(total - spent) / (spent / t)`` (the bar's rate: the average since the
start), so the predicted total time is ``t`` plus that. Prints one JSON object and a table; the recorded rounds
are kept in OUT/rounds.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

import onepixel.runner as runner_module
from onepixel.campaign import evaluate
from onepixel.progress import QueryForecast

FRACTIONS = (0.1, 0.2, 0.5)


def record(model: str, n: int, out: Path) -> list[dict]:
    """Run the campaign and return its progress per search round (t from the first round's start)."""
    rounds: list[dict] = []
    real_run = runner_module.Runner.run

    def recorded(self, images, labels, targets, seeds, progress=None, on_results=None):  # noqa: ANN001
        t0 = time.perf_counter()

        def seen(p):  # noqa: ANN001
            rounds.append({"t": time.perf_counter() - t0, "queries": p.image_queries.tolist(),
                           "running": p.running.tolist(), "budget": p.budget})
            if progress is not None:
                progress(p)

        return real_run(self, images, labels, targets, seeds, progress=seen, on_results=on_results)

    runner_module.Runner.run = recorded  # type: ignore[method-assign]
    try:
        evaluate(model, out / "run", n=n, pixels=[1], mode="untargeted", protocol="strict", search="rs",
                 batch_images=64, progress=False)
    finally:
        runner_module.Runner.run = real_run  # type: ignore[method-assign]
    return rounds


def replay(rounds: list[dict]) -> dict:
    """Predicted total time at each fraction of the actual time, by both estimators."""
    actual = rounds[-1]["t"]
    forecast = QueryForecast()
    predicted: dict[str, dict[str, float]] = {"forecast": {}, "whole budgets": {}}
    for r in rounds:
        q, running, budget = np.asarray(r["queries"]), np.asarray(r["running"]), r["budget"]
        expected = forecast.expected_total(q, running, budget)
        most = q[~running].sum() + budget * running.sum()
        spent, t = q.sum(), r["t"]
        for f in FRACTIONS:
            key = f"{f:.0%}"
            if t >= f * actual and key not in predicted["forecast"]:
                rate = spent / t
                predicted["forecast"][key] = t + (expected - spent) / rate
                predicted["whole budgets"][key] = t + (most - spent) / rate
    final = np.asarray(rounds[-1]["queries"])
    return {"actual_seconds": actual, "rounds": len(rounds), "queries": int(final.sum()),
            "fooled_early": int((final < rounds[-1]["budget"]).sum()), "images": len(final),
            "predicted_seconds": predicted,
            "ratio": {name: {k: v / actual for k, v in p.items()} for name, p in predicted.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="allconv")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--out", type=Path, default=Path("/tmp/onepixel-eta"))
    ap.add_argument("--replay", type=Path, default=None, help="Replay a recorded rounds.json instead of running.")
    args = ap.parse_args()
    if args.replay is not None:
        rounds = json.loads(args.replay.read_text())
    else:
        shutil.rmtree(args.out, ignore_errors=True)
        args.out.mkdir(parents=True)
        load = os.getloadavg()[0]
        rounds = record(args.model, args.n, args.out)
        (args.out / "rounds.json").write_text(json.dumps(rounds))
    result = {"model": args.model, "n": args.n, **replay(rounds)}
    if args.replay is None:
        result["load_before"] = load
    print(json.dumps(result))
    print(f"\n{args.model}, {args.n} images, strict untargeted, rs at its full budget: {result['queries']:,} queries, "
          f"{result['fooled_early']} images stopped early, {result['actual_seconds']:.0f} s")
    print(f"{'at':>5} | {'predicted total, forecast':>26} | {'predicted total, whole budgets':>31}")
    for key in result["ratio"]["forecast"]:
        p, o = result["predicted_seconds"]["forecast"][key], result["predicted_seconds"]["whole budgets"][key]
        print(f"{key:>5} | {p:8.0f} s ({p / result['actual_seconds']:4.2f}x actual) | "
              f"{o:13.0f} s ({o / result['actual_seconds']:4.2f}x actual)")


if __name__ == "__main__":
    main()
