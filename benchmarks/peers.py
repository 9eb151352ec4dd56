"""onepixel against torchattacks ``OnePixel`` and ART ``PixelAttack``: same model, images and budget.

    pip install -e ".[peers]" && pip install --no-deps torchattacks==3.5.1   # see docs/benchmarks.md
    nice -n 5 python benchmarks/peers.py --quick --peer-images 10            # 5 generations
    nice -n 5 python benchmarks/peers.py --models allconv --peer-images 3 --batched-images 20   # paper's budget
    OMP_NUM_THREADS=1 python benchmarks/peers.py --models allconv --first 4 --images 3 --batched-images 0  # images 4-6

Every library attacks the same shipped zoo model (fp32 weights) on the same CIFAR-10 test images (the first
``--images`` that the model classifies correctly) with one pixel, untargeted, population 400 and 100
generations (``--quick``: 5), each stopping an image at its first success (the peers' rule; onepixel with
``stop_on_success=True``). onepixel runs as a user would run it (bf16 search where the CPU has it, delta
inference by its automatic rule, every success verified in fp32); the peers get the fp32 module wrapped with
its normalisation. The peers report no query counts, so every row through their model is counted.

The host is shared and its load swings several-fold within minutes, so on the first ``--peer-images`` images
the libraries run interleaved, image by image (onepixel then attacking one image at a time, as the peers do,
once with the paper's DE and once as users run it: ``attack()``'s default search and budget): their ratios
compare like with like. Each attack's CPU seconds (``time.process_time``: this process's own, far less
sensitive to neighbours than wall time) are recorded beside its wall time. A long run can be split over
processes with ``--first`` (each then attacks the images and seeds one whole run would). onepixel is also run on all ``--images`` at once, its normal
mode (images batched together), twice: with the paper's DE, and as users run it (``attack()``'s default
search, rs with its own 10,000-query budget); each peer's seconds per image over those rows are the bracketed
ratios. Every success is re-checked here with the fp32 module. Prints JSON and a Markdown table; measured
figures live in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

import onepixel as op
from onepixel import zoo

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10" / "test.npz"

#: one attack of one image: (uint8 HWC image, label) -> (adversarial uint8 HWC image, queries)
AttackFn = Callable[[np.ndarray, int, int], tuple[np.ndarray, int]]


class Counted(nn.Module):
    """A zoo module behind its normalisation, taking float NCHW pixels in [0, ``scale``]; counts its rows."""

    def __init__(self, module: nn.Module, mean: tuple[float, ...], std: tuple[float, ...], scale: float) -> None:
        super().__init__()
        self.module = module
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        self.scale = scale
        self.rows = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += len(x)
        return self.module((x / self.scale - self.mean) / self.std)


def _pick_images(name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` CIFAR-10 test images the model gets right (in fp32)."""
    data = np.load(DATA)
    x, y = data["x"][:2000], data["y"][:2000].astype(np.int64)
    pred = zoo.load(name, precision="fp32", delta=False).probs(x).argmax(1)
    keep = np.nonzero(pred == y)[0][:n]
    return x[keep], y[keep]


def _onepixel(name: str, **settings) -> tuple[str, AttackFn]:
    """onepixel attacking one image at a time with ``settings`` (attack()'s keywords) on top of its defaults."""
    clf = zoo.load(name)

    def attack(image: np.ndarray, label: int, seed: int) -> tuple[np.ndarray, int]:
        r = op.attack(clf, image[None], np.array([label]), seed=seed, stop_on_success=True, **settings)[0]
        return r.adversarial, r.queries + r.verify_queries

    return op.__version__, attack


def onepixel_attacker(name: str, popsize: int, generations: int) -> tuple[str, AttackFn]:
    # search="de": the paper's DE like the peers (attack()'s default is the random search)
    return _onepixel(name, search="de", popsize=popsize, generations=generations)


def onepixel_default_attacker(name: str, popsize: int, generations: int) -> tuple[str, AttackFn]:
    """onepixel as users run it: attack()'s default search and budget, nothing else set (population and
    generations are the peers' and not used)."""
    return _onepixel(name)


def torchattacks_attacker(name: str, popsize: int, generations: int) -> tuple[str, AttackFn]:
    import torchattacks

    pre = zoo.entries()[name].preprocess
    model = Counted(zoo.load_module(name), pre.mean, pre.std, 1.0).eval()
    # torchattacks passes popsize // 5 to scipy-style DE, whose population is that times the 5 parameters
    atk = torchattacks.OnePixel(model, pixels=1, steps=generations, popsize=popsize, inf_batch=128)

    def attack(image: np.ndarray, label: int, seed: int) -> tuple[np.ndarray, int]:
        np.random.seed(seed)  # its DE draws from numpy's global generator
        before = model.rows
        x = torch.from_numpy(image[None]).permute(0, 3, 1, 2).float() / 255.0
        adv = atk(x, torch.tensor([label]))
        # it writes continuous colours; the image a user saves is rounded to 8 bits
        out = (adv[0].permute(1, 2, 0).numpy() * 255.0).round().clip(0, 255).astype(np.uint8)
        return out, model.rows - before

    return torchattacks.__version__, attack


def art_attacker(name: str, popsize: int, generations: int) -> tuple[str, AttackFn]:
    import art
    from art.attacks.evasion import PixelAttack
    from art.estimators.classification import PyTorchClassifier

    if popsize != 400:
        raise ValueError(f"ART's PixelAttack fixes its population at 400 (asked for {popsize})")
    pre = zoo.entries()[name].preprocess
    model = Counted(zoo.load_module(name), pre.mean, pre.std, 255.0).eval()
    clf = PyTorchClassifier(model, loss=nn.CrossEntropyLoss(), input_shape=(3, 32, 32), nb_classes=10,
                            clip_values=(0.0, 255.0), channels_first=True, device_type="cpu")
    atk = PixelAttack(clf, th=1, es=1, max_iter=generations, targeted=False, verbose=False)  # th: pixels; es=1: DE

    def attack(image: np.ndarray, label: int, seed: int) -> tuple[np.ndarray, int]:
        np.random.seed(seed)  # its DE copy draws from numpy's global generator
        before = model.rows
        adv = atk.generate(image[None].transpose(0, 3, 1, 2).astype(np.float32), np.array([label]))
        return adv[0].transpose(1, 2, 0).round().clip(0, 255).astype(np.uint8), model.rows - before

    return art.__version__, attack


ATTACKERS = {"onepixel": onepixel_attacker, "onepixel-default": onepixel_default_attacker,
             "torchattacks": torchattacks_attacker, "art": art_attacker}
LABELS = {"onepixel": "onepixel", "onepixel-default": "onepixel (default search)",
          "torchattacks": "torchattacks OnePixel", "art": "ART PixelAttack"}


def _fooled(name: str, adv: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Whether each adversarial image (uint8 NHWC) is misclassified by the fp32 module."""
    return zoo.load(name, precision="fp32", delta=False).probs(adv).argmax(1) != labels


def _summary(lib: str, version: str, ok: np.ndarray, q: np.ndarray, wall: float, **extra) -> dict:
    n = len(ok)
    return {"library": lib, "version": version, "images": n, "success_rate": float(ok.mean()),
            "mean_queries": float(q.mean()), "median_queries": float(np.median(q)), "wall_s_per_image": wall / n,
            "queries_per_s": float(q.sum() / wall), **extra}


def interleaved(name: str, libs: list[str], images: np.ndarray, labels: np.ndarray, popsize: int, generations: int,
                first: int = 0) -> list[dict]:
    """Each image attacked by each library in turn; per library its summary over the images. Image ``i`` of the
    list is the ``first + i``-th correctly classified one and gets seed ``first + i``, so runs split by --first
    attack exactly what one whole run would."""
    attackers = {}
    for lib in libs:
        try:
            attackers[lib] = ATTACKERS[lib](name, popsize, generations)
        except ImportError as e:
            print(f"skipping {lib}: it does not import here ({e}); install it as the docstring says", flush=True)
    advs: dict[str, list[np.ndarray]] = {k: [] for k in attackers}
    queries: dict[str, list[int]] = {k: [] for k in attackers}
    secs: dict[str, list[float]] = {k: [] for k in attackers}
    cpu: dict[str, list[float]] = {k: [] for k in attackers}
    for i in range(len(images)):
        for lib, (_, fn) in attackers.items():
            t0, c0 = time.perf_counter(), time.process_time()
            adv, q = fn(images[i], int(labels[i]), first + i)
            secs[lib].append(time.perf_counter() - t0)
            cpu[lib].append(time.process_time() - c0)
            advs[lib].append(adv)
            queries[lib].append(q)
        ok = {k: bool(_fooled(name, advs[k][-1][None], labels[i:i + 1])[0]) for k in attackers}
        print(f"  image {first + i}: " + ", ".join(
            f"{k} {secs[k][-1]:.1f}s ({cpu[k][-1]:.1f} CPU-s)/{queries[k][-1]}q/{'fooled' if ok[k] else 'not fooled'}"
            for k in attackers), flush=True)
    rows = []
    for lib, (version, _) in attackers.items():
        ok = _fooled(name, np.stack(advs[lib]), labels)
        rows.append(_summary(LABELS[lib], version, ok, np.array(queries[lib]), float(np.sum(secs[lib])),
                             mode="interleaved, one image at a time", seconds_per_image=[round(s, 2) for s in secs[lib]],
                             cpu_seconds_per_image=[round(s, 2) for s in cpu[lib]], first_image=first,
                             cpu_s_per_image=float(np.mean(cpu[lib]))))
    base = next((r for r in rows if r["library"] == "onepixel"), None)
    for r in rows:
        if base is not None and r is not base:
            r["wall_ratio_vs_onepixel"] = r["wall_s_per_image"] / base["wall_s_per_image"]
            r["qps_ratio_vs_onepixel"] = r["queries_per_s"] / base["queries_per_s"]
            r["cpu_ratio_vs_onepixel"] = r["cpu_s_per_image"] / base["cpu_s_per_image"]
    return rows


def batched(name: str, images: np.ndarray, labels: np.ndarray, popsize: int, generations: int,
            default_search: bool = False) -> dict:
    """onepixel's normal mode: all images attacked together, with the paper's DE, or (``default_search``) as
    users run it: ``attack()``'s default search (rs, its own 10,000-query budget) and nothing else set."""
    clf = zoo.load(name)
    if default_search:
        op.attack(clf, images[:2], labels[:2], max_queries=16)  # warm-up
        t0 = time.perf_counter()
        res = op.attack(clf, images, labels, seed=0, stop_on_success=True)
        mode = "as users run it: default search (rs), all images together"
    else:
        op.attack(clf, images[:2], labels[:2], search="de", popsize=popsize, generations=1)  # warm-up
        t0 = time.perf_counter()
        res = op.attack(clf, images, labels, search="de", popsize=popsize, generations=generations, seed=0,
                        stop_on_success=True)
        mode = "all images together"
    wall = time.perf_counter() - t0
    ok = np.array([r.success for r in res]) & _fooled(name, res.adversarials, labels)
    q = np.array([r.queries + r.verify_queries for r in res])
    return _summary("onepixel", op.__version__, ok, q, wall, mode=mode, precision=clf.precision,
                    delta=bool(clf._delta_used))


def peer_ratios(row: dict, peers: list[dict]) -> None:
    """Each peer's seconds per image over this row's (peers measured interleaved on their images)."""
    for p in peers:
        row[f"peer_s_per_image_over_this[{p['library']}]"] = p["wall_s_per_image"] / row["wall_s_per_image"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["allconv", "nin"])
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--peer-images", type=int, default=10, help="images attacked by every library, interleaved")
    ap.add_argument("--libraries", nargs="+", default=list(ATTACKERS), choices=list(ATTACKERS))
    ap.add_argument("--first", type=int, default=0,
                    help="skip the first FIRST correctly classified images (split a long run over processes)")
    ap.add_argument("--quick", action="store_true", help="5 generations instead of 100 (population 400 still)")
    ap.add_argument("--batched-images", type=int, default=None, help="images for onepixel's all-together run (default: --images; 0 skips it)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    popsize, generations = (400, 5) if args.quick else (400, 100)
    rows: list[dict] = []
    for name in args.models:
        images, labels = _pick_images(name, args.first + args.images)
        images, labels = images[args.first:], labels[args.first:]
        m = min(args.peer_images, len(images))
        for r in interleaved(name, args.libraries, images[:m], labels[:m], popsize, generations, args.first):
            default = r["library"] == LABELS["onepixel-default"]  # its own search and budget
            r.update(model=name, popsize=None if default else popsize, generations=None if default else generations)
            rows.append(r)
            print(json.dumps(r), flush=True)
        peers = [r for r in rows if r.get("model") == name and not r["library"].startswith("onepixel")]
        nb = len(images) if args.batched_images is None else min(args.batched_images, len(images))
        if nb and "onepixel" in args.libraries:
            for default in (False, True):
                r = batched(name, images[:nb], labels[:nb], popsize, generations, default_search=default)
                r.update(model=name, popsize=None if default else popsize, generations=None if default else generations)
                peer_ratios(r, peers)
                rows.append(r)
                print(json.dumps(r), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print("\n| model | library | mode | images | pop × gen (or budget) | success | mean queries | median queries | s / image | queries / s | s / image ÷ onepixel's | CPU-s / image | CPU-s ÷ onepixel's |")
    print("|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = f"{r['wall_ratio_vs_onepixel']:.1f}×" if "wall_ratio_vs_onepixel" in r else "—"
        over = [f"{v:.1f}×" for k, v in r.items() if k.startswith("peer_s_per_image_over_this")]
        if over:  # a batched onepixel row: each peer's s / image over it
            ratio = "(" + " / ".join(over) + ")"
        budget = "rs, ≤ 10,000 queries" if r["popsize"] is None else f"{r['popsize']} × {r['generations']}"
        print(f"| {r['model']} | {r['library']} {r['version']} | {r['mode']} | {r['images']} | {budget} | "
              f"{r['success_rate']:.0%} | {r['mean_queries']:,.0f} | {r['median_queries']:,.0f} | {r['wall_s_per_image']:.2f} | "
              f"{r['queries_per_s']:,.0f} | {ratio} | {_cpu_cells(r)} |")


def _cpu_cells(row: dict) -> str:
    """CPU seconds per image (interleaved rows only: they are timed per attack) and the ratio to onepixel's."""
    if "cpu_s_per_image" not in row:
        return "— | —"
    ratio = f"{row['cpu_ratio_vs_onepixel']:.1f}×" if "cpu_ratio_vs_onepixel" in row else "—"
    return f"{row['cpu_s_per_image']:.2f} | {ratio}"


if __name__ == "__main__":
    main()
