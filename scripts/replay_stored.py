"""Apply every stored change of a CIFAR-10 zoo campaign to its image and classify the result here, in fp32.

    python scripts/replay_stored.py docs/runs/paper-vgg16

A check across machines: a run made on a GPU (searched in bf16, verified in fp32 there) must give the same
predicted class, the same success and nearly the same probabilities when its adversarial images are classified
on this CPU. Prints the disagreements and exits 1 if any verdict differs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from onepixel import zoo
from onepixel.campaign import load_results
from onepixel.data import load_cifar10


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--data", default=None, help="CIFAR-10 folder [default: ONEPIXEL_DATA, cache]")
    args = ap.parse_args()
    df = load_results(args.run).reset_index(drop=True)
    config = json.loads((args.run / "summary.json").read_text())["config"] if (args.run / "summary.json").exists() else {}
    clf = zoo.load(config.get("model") or args.run.name.split("-")[1])
    x, _ = load_cifar10("test", args.data)
    adv = x[df.image.values].copy()
    for i, changes in enumerate(df.changes):
        for px, py, r, g, b, *orig in changes:
            assert list(x[df.image.iloc[i], py, px]) == orig, f"{df.uid.iloc[i]}: stored original pixel differs"
            adv[i, py, px] = (r, g, b)
    probs = np.concatenate([clf.probs(adv[s:s + 256]) for s in range(0, len(adv), 256)])
    pred = probs.argmax(1)
    targeted = (df["mode"] == "targeted").values
    success = np.where(targeted, pred == df.target.fillna(-1).values, pred != df.label.values)
    dp = np.abs(probs[np.arange(len(df)), df.predicted_after.values.astype(int)] - df.predicted_prob_after.values)
    bad = (success != df.success.values.astype(bool)) | (pred != df.predicted_after.values)
    ok = df.success.values.astype(bool)
    print(f"{args.run}: {len(df)} attacks, {int(df.success.sum())} stored successes; replayed here: "
          f"{int(success.sum())} successes, {int(bad.sum())} verdicts or classes differ; "
          f"|probability difference| successes: max {dp[ok].max(initial=0):.2e}, median {np.median(dp[ok]) if ok.any() else 0:.2e}; "
          f"failures: max {dp[~ok].max(initial=0):.2e}")
    for i in np.nonzero(bad)[0]:
        print(f"  {df.uid.iloc[i]}: stored success={bool(df.success.iloc[i])} class {df.predicted_after.iloc[i]}, "
              f"here success={bool(success[i])} class {pred[i]}")
    raise SystemExit(1 if bad.any() else 0)


if __name__ == "__main__":
    main()
