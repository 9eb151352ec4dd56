"""A full-resolution photo attacked in file space with the CLI's defaults: wall time and peak memory.

    python benchmarks/large_photo.py --megapixels 12
    git worktree add /tmp/onepixel-old <commit>
    python benchmarks/large_photo.py --megapixels 12 --baseline-tree /tmp/onepixel-old   # side by side

A sample photo (default the ImageNet sample's Shetland sheepdog) is upscaled to the requested size and saved
as JPEG; each repeat runs ``onepixel attack PHOTO --space file`` (random search, ``--max-queries`` queries,
the small MobileNetV1-0.25) in a fresh process per source tree, alternating trees, and reads the child's wall
time and peak resident memory. The trees' adversarial PNGs are compared byte for byte. Prints JSON and a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def run_once(tree: Path, photo: Path, model: Path, queries: int, out: Path) -> tuple[float, float]:
    """(seconds, peak MiB) of one attack in a fresh process importing onepixel from ``tree``."""
    code = "import sys; from onepixel.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["attack", str(photo), "--model", str(model), "--labels", "imagenet", "--space", "file",
            "--max-queries", str(queries), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own resource usage
    seconds = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"the attack with {tree} failed (status {status}); run it by hand to see why")
    return seconds, usage.ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megapixels", type=float, default=12.0)
    ap.add_argument("--photo", type=Path, default=SHARED / "data/imagenet-sample/n02105855_Shetland_sheepdog.JPEG")
    ap.add_argument("--model", type=Path, default=SHARED / "models/imagenet/mobilenet_v1_0.25_128_quant.tflite")
    ap.add_argument("--max-queries", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--baseline-tree", type=Path, help="another onepixel checkout to run beside this one")
    args = ap.parse_args()
    from PIL import Image

    trees = {"current": ROOT} | ({"baseline": args.baseline_tree.resolve()} if args.baseline_tree else {})
    with tempfile.TemporaryDirectory() as tmp:
        src = Image.open(args.photo).convert("RGB")
        scale = (args.megapixels * 1e6 / (src.width * src.height)) ** 0.5
        size = (round(src.width * scale), round(src.height * scale))
        photo = Path(tmp) / "large.jpg"
        src.resize(size, Image.BICUBIC).save(photo, quality=92)
        seconds: dict[str, list[float]] = {k: [] for k in trees}
        peaks: dict[str, list[float]] = {k: [] for k in trees}
        for _ in range(args.repeats):
            for name in trees:
                s, p = run_once(trees[name], photo, args.model, args.max_queries, Path(tmp) / f"{name}.png")
                seconds[name].append(s)
                peaks[name].append(p)
        same = None
        if args.baseline_tree:
            same = (Path(tmp) / "current.png").read_bytes() == (Path(tmp) / "baseline.png").read_bytes()
    rows = [{"tree": k, "path": str(trees[k]), "seconds": statistics.median(seconds[k]), "all_seconds": seconds[k],
             "peak_mib": max(peaks[k])} for k in trees]
    report = {"photo": f"{size[0]}x{size[1]}", "megapixels": size[0] * size[1] / 1e6, "max_queries": args.max_queries,
              "model": args.model.name, "identical_png": same, "rows": rows}
    print(json.dumps(report, indent=1))
    print(f"\n{size[0]}x{size[1]} photo, file space, rs {args.max_queries} queries, {args.model.name}")
    print("| tree | wall s (median) | peak memory MiB |\n|---|---:|---:|")
    for r in rows:
        print(f"| {r['tree']} | {r['seconds']:.1f} | {r['peak_mib']:,.0f} |")
    if same is not None:
        print(f"adversarial PNGs identical: {same}")


if __name__ == "__main__":
    main()
