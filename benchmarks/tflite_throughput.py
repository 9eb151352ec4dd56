"""Queries per second of a TFLite model through onepixel's adapter, per batch size and thread count.

    python benchmarks/tflite_throughput.py --model ../shared/models/imagenet/mobilenet_v2_1.0_224_quant.tflite

For each (threads, batch size) it times ``TFLiteClassifier.probs`` on real preprocessed photos (or noise) and the
bare ``interpreter.invoke`` loop, and says whether the interpreter's batch dimension could be resized (the
classic ImageNet MobileNets reshape to a fixed [1, 1001], so they always run one image per invoke). Prints JSON
and a table; measured figures live in docs/benchmarks.md.

``--layouts`` instead compares the two ways to use every core, side by side: one process whose interpreter has
N threads against N processes of one thread each, all invoking at once (as ``onepixel evaluate --workers``
does), alternating in blocks; it prints the median total queries/s of each layout.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch


def timed(fn, seconds: float) -> tuple[int, float]:
    """Call ``fn`` (which returns how many images it ran) for about ``seconds``; (images, elapsed)."""
    fn()  # warm-up: first invoke allocates and packs weights
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += fn()
    return n, time.perf_counter() - t0


def _invoke_for(model: str, threads: int, seconds: float, start: float, images: np.ndarray) -> int:
    """One process of a layout: wait for the common start, then invoke for ``seconds``; images run."""
    from onepixel.models.tflite import TFLiteClassifier

    torch.set_num_threads(1)
    clf = TFLiteClassifier(model, batch_size=1, num_threads=threads)
    clf.probs(images[:1])  # warm-up before the clock starts
    while time.time() < start:
        time.sleep(0.001)
    n = 0
    while time.time() < start + seconds:
        n += len(clf.probs(images[n % len(images):][:1]))
    return n


def layouts(model: str, images: np.ndarray, cores: int, seconds: float, repeats: int) -> list[dict]:
    """Median total queries/s of 1 process x ``cores`` threads and of ``cores`` processes x 1 thread."""
    import multiprocessing as mp
    import statistics

    ctx = mp.get_context("spawn")
    plans = {f"1 process x {cores} threads": [cores], f"{cores} processes x 1 thread": [1] * cores}
    rates: dict[str, list[float]] = {k: [] for k in plans}
    with ctx.Pool(cores) as pool:
        pool.starmap(_invoke_for, [(model, 1, 0.1, time.time() + 10.0, images)] * cores)  # imports, untimed
        for _ in range(repeats):
            for name, threads in plans.items():
                start = time.time() + 3.0  # every process loaded and warm before the clock starts
                counts = pool.starmap(_invoke_for, [(model, t, seconds, start, images) for t in threads])
                rates[name].append(sum(counts) / seconds)
    return [{"layout": k, "queries_per_s": statistics.median(v), "all": v} for k, v in rates.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="../shared/models/imagenet/mobilenet_v2_1.0_224_quant.tflite")
    ap.add_argument("--photos", default="../shared/data/imagenet-sample", help="photo folder with labels.csv ('' for noise)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--layouts", action="store_true", help="compare 1 process x N threads with N processes x 1 thread")
    ap.add_argument("--repeats", type=int, default=3, help="--layouts: alternating blocks per layout")
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="torch threads for the batch indexing around the interpreter (its pool only adds contention)")
    args = ap.parse_args()
    torch.set_num_threads(args.torch_threads)

    from onepixel.models.tflite import TFLiteClassifier
    from onepixel.photo import PhotoPreprocess

    probe = TFLiteClassifier(args.model, batch_size=1)
    h, w = probe.input_size
    if args.photos and os.path.isdir(args.photos):
        from onepixel.data.photos import load_imagenet_sample

        photos, _, _ = load_imagenet_sample(args.photos, limit=32)
        pre = PhotoPreprocess.imagenet(probe.input_size)
        images = np.stack([pre(p) for p in photos])
    else:
        images = np.random.default_rng(0).integers(0, 256, (32, h, w, 3), dtype=np.uint8)
    if args.layouts:
        cores = os.cpu_count() or 1
        rows = layouts(args.model, images, cores, args.seconds, args.repeats)
        print(json.dumps({"model": os.path.basename(args.model), "cpus": cores, "loadavg_1min": os.getloadavg()[0],
                          "seconds": args.seconds, "rows": rows}, indent=1))
        print(f"\n{'layout':>28} {'queries/s':>10}   blocks")
        for r in rows:
            print(f"{r['layout']:>28} {r['queries_per_s']:>10.1f}   " + ", ".join(f"{v:.0f}" for v in r["all"]))
        return
    rows = []
    for threads in args.threads:
        for bs in args.batch_sizes:
            clf = TFLiteClassifier(args.model, batch_size=bs, num_threads=threads)
            batch = np.resize(images, (bs, h, w, 3))
            n, dt = timed(lambda clf=clf, batch=batch: len(clf.probs(batch)), args.seconds)
            rows.append({"threads": threads, "batch_size": bs, "interpreter_batch": clf.interpreter_batch,
                         "queries_per_s": n / dt, "ms_per_query": 1000 * dt / n})
        interp = TFLiteClassifier(args.model, batch_size=1, num_threads=threads)._interp
        idx = interp.get_input_details()[0]["index"]

        def bare(interp=interp, idx=idx) -> int:
            interp.set_tensor(idx, images[:1])
            interp.invoke()
            return 1

        n, dt = timed(bare, args.seconds)
        rows.append({"threads": threads, "batch_size": "bare invoke", "interpreter_batch": 1,
                     "queries_per_s": n / dt, "ms_per_query": 1000 * dt / n})
    load = os.getloadavg()
    print(json.dumps({"model": os.path.basename(args.model), "cpus": os.cpu_count(), "loadavg_1min": load[0],
                      "rows": rows}, indent=1))
    print(f"\n{'threads':>7} {'batch':>12} {'interp. batch':>13} {'queries/s':>10} {'ms/query':>9}")
    for r in rows:
        print(f"{r['threads']:>7} {r['batch_size']!s:>12} {r['interpreter_batch']:>13} {r['queries_per_s']:>10.1f} {r['ms_per_query']:>9.2f}")
    print(f"(load average over the last minute: {load[0]:.2f} on {os.cpu_count()} CPUs; other processes share them)")


if __name__ == "__main__":
    main()
