"""Delta inference against the full forward: wall-clock per one-pixel query, same module, same precision.

    nice -n 5 python benchmarks/delta.py                      # zoo models + ResNet-18 at 224 px, bf16 and fp32
    nice -n 5 python benchmarks/delta.py --models allconv --precisions bf16 --reps 5

For each model and precision the same rows (one random pixel and colour on random CIFAR-10 test images, as in
a DE generation) are answered alternately by the full forward (the classifier's chunks of ``batch_size``)
and by delta inference, ``--reps`` short blocks each; the speed-up is the median over blocks of the paired
ratio (robust on a shared, noisy host), with per-query medians and the same ratio in process CPU time. Both wrap the very same module
(BN folded, channels_last): the bf16 one the classifier searches with, or its fp32 twin. The bound is the
plan's full-forward MACs over delta MACs at the worst pixel position (= every candidate batched with the
same window sizes). Prints JSON and a Markdown table; measured figures live in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from onepixel import zoo
from onepixel.candidates import apply
from onepixel.models.delta import DeltaEngine
from onepixel.models.pytorch import Preprocess, fold_batchnorm

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10" / "test.npz"


class _Basic(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    """ResNet-18 for 224 x 224 ImageNet inputs (He et al. 2016), written out here since torchvision is not
    importable beside this torch; random weights (speed does not depend on them)."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [_Basic(cin, cout, stride), _Basic(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


def _randomise_bn(module: nn.Module) -> nn.Module:
    """Plausible BN statistics for a randomly initialised net (keeps activations finite and non-trivial)."""
    g = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return module.eval()


def _model(name: str) -> tuple[nn.Module, Preprocess, np.ndarray]:
    """The fp32 module, its preprocessing and some base images for a zoo name or ``resnet18-224``."""
    if name == "resnet18-224":
        torch.manual_seed(0)
        images = np.random.default_rng(0).integers(0, 256, (8, 224, 224, 3)).astype(np.uint8)
        return _randomise_bn(ResNet18()), Preprocess.imagenet(), images
    entry = zoo.entries()[name]
    images = np.load(DATA)["x"][:8] if DATA.exists() else np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype(np.uint8)
    return zoo.load_module(name), entry.preprocess, images


def measure(name: str, precision: str, rows: int, reps: int, batch_size: int, delta_batch_size: int) -> dict:
    """Per-query medians of the full forward and of delta inference on the same rows, interleaved."""
    module, pre, images = _model(name)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    fast = fold_batchnorm(copy.deepcopy(module)).to(dtype).to(memory_format=torch.channels_last).eval()
    engine = DeltaEngine(fast, pre, delta_batch_size, min_gain=1.0)
    bases = torch.from_numpy(images)
    n, h, w, _ = images.shape
    rng = np.random.default_rng(0)
    which = np.sort(rng.integers(0, n, rows))  # the runner asks image by image, population by population
    x, y = rng.integers(0, w, (rows, 1)), rng.integers(0, h, (rows, 1))
    colours = rng.integers(0, 256, (rows, 1, 3)).astype(np.uint8)
    t = [torch.as_tensor(a) for a in (which, x, y, colours)]
    plan = engine.plan((3, h, w), (1, 1))

    def full() -> torch.Tensor:
        out = []
        for s in range(0, rows, batch_size):
            idx = torch.arange(s, min(rows, s + batch_size))
            idx = torch.cat([idx, idx[-1:].expand(batch_size - len(idx))])  # fixed chunks, as the classifier
            out.append(fast(pre(apply(bases, *(a[idx] for a in t)), dtype))[: min(rows, s + batch_size) - s])
        return torch.cat(out).float()

    def delta() -> torch.Tensor:
        out = torch.empty(rows, 1000 if name == "resnet18-224" else 10)
        for real, _, scores in engine.chunks(bases, which, x, y, colours):
            assert scores is not None
            out[real] = scores[: len(real)].float()
        return out

    with torch.inference_mode():
        ref, got = full(), delta()  # warm-up (oneDNN primitives, cache of clean activations)
        wall: dict[str, list[float]] = {"full": [], "delta": []}
        cpu: dict[str, list[float]] = {"full": [], "delta": []}
        for _ in range(reps):  # short blocks, alternating: both paths sample the same noise
            for key, fn in (("full", full), ("delta", delta)):
                t0, c0 = time.perf_counter(), time.process_time()
                fn()
                wall[key].append((time.perf_counter() - t0) / rows * 1e3)
                cpu[key].append((time.process_time() - c0) / rows * 1e3)
    mf, md = float(np.median(wall["full"])), float(np.median(wall["delta"]))
    paired = float(np.median(np.array(wall["full"]) / np.array(wall["delta"])))
    cpu_ratio = float(np.median(np.array(cpu["full"]) / np.array(cpu["delta"])))
    bound = plan.gain if plan is not None else 1.0
    return {
        "model": name, "precision": precision, "rows": rows, "reps": reps, "batch_size": batch_size,
        "delta_batch_size": delta_batch_size, "full_ms_per_query": round(mf, 4), "delta_ms_per_query": round(md, 4),
        "speedup": round(paired, 3), "speedup_cpu_time": round(cpu_ratio, 3), "bound_worst_position": round(bound, 3),
        "fraction_of_bound": round(paired / bound, 3), "max_abs_diff_logits": float((ref - got).abs().max()),
        "full_ms_all": [round(v, 4) for v in wall["full"]], "delta_ms_all": [round(v, 4) for v in wall["delta"]],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["allconv", "nin", "resnet20", "vgg16", "resnet18-224"])
    ap.add_argument("--precisions", nargs="+", default=["bf16", "fp32"], choices=["bf16", "fp32"])
    ap.add_argument("--rows", type=int, default=800, help="queries per block (CIFAR nets; 224-px nets a quarter, at least one delta chunk)")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=64, help="full-forward chunk (the classifier's CPU default)")
    ap.add_argument("--delta-batch-size", type=int, default=400)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = []
    for name in args.models:
        for prec in args.precisions:
            # 224-px nets: fewer rows (a full forward costs ~50x more), but whole delta chunks still
            rows = max(args.rows // 4, args.delta_batch_size) if name.endswith("-224") else args.rows
            r = measure(name, prec, rows, args.reps, args.batch_size, args.delta_batch_size)
            print(json.dumps(r), flush=True)
            out.append(r)
    meta = {"threads": torch.get_num_threads(), "torch": torch.__version__, "cpu": platform.processor() or platform.machine()}
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": out}, indent=1))
    print(f"\n{json.dumps(meta)}\n")
    print("| model | precision | full ms/query | delta ms/query | speed-up (wall) | speed-up (CPU time) | bound (worst position) | % of bound | max abs diff (logits) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in out:
        print(f"| {r['model']} | {r['precision']} | {r['full_ms_per_query']:.3f} | {r['delta_ms_per_query']:.3f} | "
              f"{r['speedup']:.2f}× | {r['speedup_cpu_time']:.2f}× | {r['bound_worst_position']:.2f}× | "
              f"{r['fraction_of_bound']:.0%} | {r['max_abs_diff_logits']:.1e} |")


if __name__ == "__main__":
    main()
