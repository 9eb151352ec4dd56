"""A small real one-pixel attack run on ImageNet photos, in the model-input space and the file space.

    python benchmarks/imagenet_attack.py --photos 10 --popsize 100 --generations 10

Attacks the first ``--photos`` sample photos that the model classifies correctly (the paper attacks correctly
classified images), non-targeted, stopping early when the true class falls below 5 % (the paper's rule), with
a reduced DE budget. Prints one JSON line per attack, then JSON totals and a table: success rate, queries,
queries/s and how many successes survive a JPEG re-encode at quality 95. Figures live in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="../shared/models/imagenet/mobilenet_v2_1.0_224_quant.tflite")
    ap.add_argument("--data", default="../shared/data/imagenet-sample")
    ap.add_argument("--photos", type=int, default=10)
    ap.add_argument("--spaces", nargs="+", default=["input", "file"])
    ap.add_argument("--pixels", type=int, default=1)
    ap.add_argument("--popsize", type=int, default=100)
    ap.add_argument("--generations", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None, help="TFLite threads (default: all CPUs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="torch threads for candidate building and resizing (small tensors: its pool only adds contention)")
    args = ap.parse_args()
    torch.set_num_threads(args.torch_threads)

    from onepixel.data.photos import load_imagenet_sample
    from onepixel.models.tflite import TFLiteClassifier
    from onepixel.photo import PhotoPreprocess
    from onepixel.spaces import attack_photo

    clf = TFLiteClassifier(args.model, num_threads=args.threads)
    photos, labels, names = load_imagenet_sample(args.data)
    pre = PhotoPreprocess.imagenet(clf.input_size)
    pred = clf.probs(np.stack([pre(p) for p in photos])).argmax(1)
    chosen = [i for i in range(len(photos)) if pred[i] == labels[i]][: args.photos]

    totals = {}
    for space in args.spaces:
        recs, t0 = [], time.perf_counter()
        for i in chosen:
            pa = attack_photo(clf, photos[i], int(labels[i]), space=space, pixels=args.pixels, search="de", popsize=args.popsize,
                              generations=args.generations, seed=args.seed + i)
            r = pa.result
            rec = {"space": space, "photo": names[i], "label": r.label, "success": r.success,
                   "p_true_before": round(r.label_prob_before, 4), "p_true_after": round(r.label_prob_after, 4),
                   "predicted_after": r.predicted_after, "queries": r.queries, "seconds": round(r.seconds, 2),
                   "jpeg95_survives": pa.jpeg_survives, "pixels": r.pixels}
            print(json.dumps(rec), flush=True)
            recs.append(rec)
        wall = time.perf_counter() - t0
        queries = sum(r["queries"] for r in recs)
        successes = sum(r["success"] for r in recs)
        totals[space] = {"photos": len(recs), "successes": successes, "success_rate": successes / max(1, len(recs)),
                         "jpeg95_survivors": sum(r["jpeg95_survives"] for r in recs), "queries": queries,
                         "mean_queries": queries / max(1, len(recs)), "seconds": round(wall, 1),
                         "queries_per_s": queries / wall}
    load = os.getloadavg()[0]
    print(json.dumps({"model": os.path.basename(args.model), "popsize": args.popsize, "generations": args.generations,
                      "pixels": args.pixels, "loadavg_1min": load, "totals": totals}, indent=1))
    print(f"\n{'space':>6} {'success':>9} {'rate':>6} {'jpeg95 ok':>9} {'mean q':>8} {'q/s':>7} {'s':>7}")
    for space, t in totals.items():
        print(f"{space:>6} {t['successes']:>4}/{t['photos']:<4} {t['success_rate']:>6.0%} {t['jpeg95_survivors']:>9} "
              f"{t['mean_queries']:>8.0f} {t['queries_per_s']:>7.1f} {t['seconds']:>7.1f}")
    print(f"(load average over the last minute: {load:.2f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
