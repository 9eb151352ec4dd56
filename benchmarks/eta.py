"""How right a campaign's ETA is: the total time it predicts at 10 %, 20 % and 50 % of the run against the
actual total, for the ETA the progress bar shows (expected early stops, :class:`onepixel.progress.QueryForecast`,
at the query rate since the first round ended) and for the old rule (every running attack spends its whole budget,
at the average rate since the start).

    ONEPIXEL_DATA=../shared/data/cifar10 python benchmarks/eta.py [--model allconv] [--n 20] [--out /tmp/eta]

It runs the campaign ``onepixel evaluate --model MODEL --n N --protocol strict --mode untargeted --out OUT`` (the
default search rs at its full budget) in this process, records every search
round's progress (time, queries per image, which images still run) and replays the estimators on it: at time t
with ``spent`` queries, an ETA reads ``(total - spent) / rate``, so the predicted total time is ``t`` plus that. Prints one JSON object and a table; the recorded rounds
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
BATCH = 64  #: images per batch of the recorded campaign


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
                 batch_images=BATCH, progress=False)
    finally:
        runner_module.Runner.run = real_run  # type: ignore[method-assign]
    return rounds


ESTIMATORS = ("shown: forecast, rate after the first round", "forecast, average rate",
              "old: whole budgets, average rate")


def replay(rounds: list[dict]) -> dict:
    """Predicted total time at each fraction of the actual time, by each estimator: the one the bar shows
    (expected early stops at the rate since the first round ended), the forecast at the average rate since the
    start, and the old ETA (every running attack spends its whole budget, at the average rate)."""
    actual = rounds[-1]["t"]
    forecast = QueryForecast()
    predicted: dict[str, dict[str, float]] = {name: {} for name in ESTIMATORS}
    t0, q0 = rounds[0]["t"], sum(rounds[0]["queries"])  # the end of the first round
    for r in rounds[1:]:
        q, running, budget = np.asarray(r["queries"]), np.asarray(r["running"]), r["budget"]
        expected = forecast.expected_total(q, running, budget)
        most = q[~running].sum() + budget * running.sum()
        spent, t = q.sum(), r["t"]
        average, steady = spent / t, (spent - q0) / (t - t0)
        for f in FRACTIONS:
            key = f"{f:.0%}"
            if t >= f * actual and key not in predicted[ESTIMATORS[0]]:
                predicted[ESTIMATORS[0]][key] = t + (expected - spent) / steady
                predicted[ESTIMATORS[1]][key] = t + (expected - spent) / average
                predicted[ESTIMATORS[2]][key] = t + (most - spent) / average
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
    if args.replay is None and args.n > BATCH:
        # the replay reads the rounds as one run; a second batch restarts the runner's clock and image arrays
        ap.error(f"--n {args.n}: at most {BATCH} images (one batch of the campaign), so the rounds form one run")
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
    print(f"{'at':>5} | " + " | ".join(f"{name:>44}" for name in ESTIMATORS))
    for key in result["ratio"][ESTIMATORS[0]]:
        cells = [f"{result['predicted_seconds'][name][key]:8.0f} s ({result['ratio'][name][key]:4.2f}x actual)"
                 for name in ESTIMATORS]
        print(f"{key:>5} | " + " | ".join(f"{c:>44}" for c in cells))


if __name__ == "__main__":
    main()
