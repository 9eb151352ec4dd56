"""Success rate versus queries for every search (de, rs, corner, cma) and the one-pixel oracle (issue 7).

    nice -n 10 python benchmarks/search.py --models resnet20 --n 200 --pixels 1 --modes untargeted

Strict protocol: the first ``--n`` CIFAR-10 test images the model classifies correctly (fp32). Every attack
runs with ``stop_on_success`` up to its largest budget, so one run gives the whole success-vs-queries curve
(an image counts as fooled at budget b if its first verified success came within b search queries); the
campaign total adds every image's queries, fooled or not. Targeted attacks aim at one random other class per
image (seeded). DE runs with the paper's settings (population 400, 100 generations: 40,400 queries).

One-pixel corner searches (oracle, rs, corner) are *replayed*: each image's 8,192 one-pixel corner changes
are scored once (the search view through the classifier's query path, as a live search sees it: bf16 and delta
inference where they apply; fp32 reference wherever that margin is within 0.1 of the boundary)
and cached; the runner and the real search objects then query that table instead of the net. CornerSearch
for k > 1 takes its scan from the table and sends its combinations to the net. The classifier pads every
chunk to a fixed shape, so a row's scores do not depend on its batch: the replay returns what a live run
would see (checked on 12 images, rs at k = 1 and corner at k = 2: the same successes, queries and pixels;
only a failure's reported fp32 probabilities differ where the table holds bf16). ``--live`` runs it all
on the net.

Per-cell results are cached under ``--cache``. A re-run resumes an interrupted cell from its last finished
batch (``--batch-images``), and a larger ``--n`` starts from a smaller finished cell, when the same code (a
hash of the package and this script, recorded in each cell) wrote them on the same device. The JSON summary
goes to stdout, the table and figure to ``--out`` (search-cells.md between generated markers, search-cells.png):

    python benchmarks/search.py --report-only --threads 1 --cache docs/measurements/search-cells \
        --models resnet20 allconv nin vgg16 --out docs
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import onepixel
from onepixel import zoo
from onepixel.assemble import runner_for, search_for
from onepixel.candidates import PixelSpace
from onepixel.data import load_cifar10
from onepixel.models.base import Classifier
from onepixel.models.pytorch import TorchClassifier
from onepixel.objectives import LOSSES, is_success
from onepixel.oracle import decision_margin, one_pixel_oracle, score_one_pixel
from onepixel.search.colours import colour_grid
from onepixel.search.oracle import scan_candidates

BUDGETS = (100, 400, 1_000, 2_000, 5_000, 10_000, 40_000)
START, END = "<!-- generated:start -->", "<!-- generated:end -->"
COLOURS = {"rs": "tab:red", "corner": "tab:orange", "cma": "tab:blue", "de": "tab:green"}


def load_model(name: str, weights: str | None, device: str = "cpu", precision: str = "auto") -> Classifier:
    """A zoo model on ``device`` searching in ``precision``, optionally from another copy of its shipped weights."""
    if weights is None:
        return zoo.load(name, device=device, precision=precision)
    entry = zoo.entries()[name]
    clf = TorchClassifier(zoo.load_module(name, weights), preprocess=entry.preprocess, num_classes=len(entry.classes),
                          device=device, precision=precision)
    clf.class_names = list(entry.classes)
    clf.sha256 = entry.sha256  # load_module checked the file against it
    return clf


def strict_set(model: Classifier, n: int, data: str | None, exclude: range = range(0)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test indices, images and labels of the first n correctly classified CIFAR-10 test images, skipping
    the ones at positions ``exclude`` of that sequence (e.g. the images a search was tuned on)."""
    x, y = load_cifar10("test", data)
    y = y.astype(np.int64)
    picked: list[int] = []
    for s in range(0, len(x), 1000):  # classify in slices until enough are found
        pred = model.probs(x[s:s + 1000]).argmax(1)
        picked += (s + np.nonzero(pred == y[s:s + 1000])[0]).tolist()
        if len(picked) >= n + len(exclude):
            break
    idx = np.array([i for pos, i in enumerate(picked) if pos not in exclude][:n])
    return idx, x[idx], y[idx]


def targets_for(labels: np.ndarray, seed: int) -> np.ndarray:
    """One random class other than the label per image."""
    rng = np.random.default_rng([seed, 0x7A6])
    return (labels + 1 + rng.integers(0, 9, len(labels))) % 10


class TableClassifier(Classifier):
    """Answers one-pixel corner queries from cached tables of every such change (both precisions); other
    candidates go to the net."""

    def __init__(self, model: Classifier, fast: np.ndarray, ref: np.ndarray, width: int) -> None:
        self.model, self.fast, self.ref, self.width = model, fast, ref, width
        self.has_fast_precision = model.has_fast_precision
        self.num_classes = fast.shape[-1]
        self.device = model.device  # the runner keeps the clean images there; non-table queries go to the net

    def view(self, rows: slice) -> TableClassifier:
        """The same tables for a slice of the images (the runner numbers a batch's images from 0)."""
        return TableClassifier(self.model, self.fast[rows], self.ref[rows], self.width)

    def _forward(self, images: torch.Tensor, reference: bool) -> torch.Tensor:
        raise NotImplementedError  # every call goes through probs() or query()

    def probs(self, images: Any, reference: bool = True) -> np.ndarray:
        return self.model.probs(images, reference)

    def query(self, bases, which, x, y, colours, reference=False, rows_per_image=None) -> np.ndarray:
        x, y, c, which = np.asarray(x), np.asarray(y), np.asarray(colours), np.asarray(which)
        # k copies of one corner change (CornerSearch's scan phase) are one change, in the table; any other
        # candidate goes to the net (same fixed-shape chunks, so the same scores as in a live run).
        single = (x == x[:, :1]).all(1) & (y == y[:, :1]).all(1) & (c == c[:, :1]).all((1, 2)) & \
            np.isin(c[:, 0], (0, 255)).all(1)
        out = np.empty((len(x), self.num_classes))
        if (~single).any():
            out[~single] = self.model.query(bases, which[~single], x[~single], y[~single], c[~single], reference)
        c0 = c[single, 0]
        ci = (c0[:, 0] > 0) * 4 + (c0[:, 1] > 0) * 2 + (c0[:, 2] > 0)  # colour_grid's order: R is the high bit
        flat = (y[single, 0] * self.width + x[single, 0]) * 8 + ci
        out[single] = (self.ref if reference else self.fast)[which[single], flat]
        return out


def tables(model: Classifier, images: np.ndarray, labels: np.ndarray, idx: np.ndarray, folder: Path,
           recheck: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Every one-pixel corner change of every image scored in both precisions: (n, H*W*8, K) twice (cached).

    The reference table is computed where it can matter: changes whose search-precision margin to the label's
    decision boundary is above ``-recheck`` (every change that could fool, untargeted or targeted, since a
    target can only win where the label loses); elsewhere it repeats the search-precision scores, which then
    only enter the reported probabilities of a failed attack.
    """
    folder.mkdir(parents=True, exist_ok=True)
    n, h, w, c = images.shape
    space, colours = PixelSpace(h, w, c, 1), colour_grid(c)
    cand = scan_candidates(space, colours, 0, h * w * len(colours))
    cx, cy, cc = cand[:, 0].astype(int), cand[:, 1].astype(int), cand[:, 2:].astype(np.uint8)
    bases = torch.from_numpy(np.ascontiguousarray(images)).to(model.device)
    fast, ref = [], []
    t0 = time.perf_counter()
    for j, i in enumerate(idx):
        f = folder / f"{int(i):05d}.npz"
        if not f.exists():
            # The search view as a live search sees it: through query(), i.e. delta inference where the model
            # uses it for one-pixel changes (a live k = 1 search never sees the full forward's rounding).
            which = np.full(len(cx), j)
            fp = np.concatenate([model.query(bases, which[s:s + 4096], cx[s:s + 4096, None], cy[s:s + 4096, None],
                                             cc[s:s + 4096, None]) for s in range(0, len(cx), 4096)])
            rp = fp.copy()
            if model.has_fast_precision:
                near = np.nonzero(decision_margin(fp, np.full(len(fp), labels[j]), None) > -recheck)[0]
                rp[near] = score_one_pixel(model, bases, j, cx[near], cy[near], cc[near], True)
            np.savez(f, fast=fp.astype(np.float32), ref=rp.astype(np.float32))
            print(f"  table {j + 1}/{n} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        d = np.load(f)
        fast.append(d["fast"])
        ref.append(d["ref"])
    return np.stack(fast), np.stack(ref)


def run_cell(model: Classifier, search: str, k: int, images: np.ndarray, labels: np.ndarray,
             targets: np.ndarray | None, budget: int, seed: int, batch_images: int,
             loss: str = "probability", start: dict[str, Any] | None = None,
             on_batch: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """One search at k pixels on all images: per-image success, search queries and verification queries.

    ``start`` holds the results of the leading images from an earlier run (they are not run again);
    ``on_batch`` gets the results so far after every batch of images (a checkpoint)."""
    if search == "oracle":
        return oracle_cell(model, images, labels, targets)
    cap = None if search in ("de", "oracle") else budget  # DE runs the paper's settings to their end
    srch = search_for(search, cap)
    out: dict[str, list] = {key: list(start[key]) if start else [] for key in ("success", "queries", "verify")}
    t0 = time.perf_counter() - (start["seconds"] if start else 0.0)
    for s in range(len(out["success"]), len(images), batch_images):
        sl = slice(s, s + batch_images)
        box = model.view(sl) if isinstance(model, TableClassifier) else model
        runner = runner_for(box, srch, targeted=targets is not None, pixels=k, max_queries=cap, stop_on_success=True,
                            loss=loss)  # type: ignore[arg-type]
        res = runner.run(images[sl], labels[sl], None if targets is None else targets[sl],
                         [seed + i for i in range(s, min(len(images), s + batch_images))])
        out["success"] += [bool(r.success) for r in res]
        out["queries"] += [int(r.queries) for r in res]
        out["verify"] += [int(r.verify_queries) for r in res]
        if on_batch is not None:
            on_batch({**out, "seconds": time.perf_counter() - t0})
    return {**out, "seconds": time.perf_counter() - t0, "max_queries": int(srch.max_queries())}


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` whole or not at all (a run killed mid-write must not leave a cell it cannot read back)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj))
    tmp.replace(path)


def code_stamp() -> str:
    """A hash of the code that decides a cell's numbers (the onepixel package and this script)."""
    h = hashlib.sha256()
    for p in sorted(Path(onepixel.__file__).parent.rglob("*.py")) + [Path(__file__)]:
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def head_start(f: Path, partial: Path, meta: dict[str, Any]) -> dict[str, Any] | None:
    """What an interrupted run of cell ``f`` (its checkpoint ``partial``), or a smaller finished cell of the
    same search, already computed for the leading images, if the same code wrote it on the same device.

    Reusing it is exact: an image's result depends only on the image, its seed (seed + position) and its
    target (a prefix-stable draw), not on the batch it ran in (fixed-shape chunks; see the docstring)."""
    n_at = f.name.rindex("-n") + 2
    tail = f.name[f.name.index("-", n_at):]
    smaller = sorted(f.parent.glob(f"{f.name[:n_at]}*{tail}"), key=lambda p: -int(p.name[n_at:-len(tail)]))
    for c in [partial, *smaller]:
        if c == f or not c.exists():
            continue
        d = json.loads(c.read_text())
        done = len(d["success"])
        if 0 < done <= len(meta["indices"]) and d["indices"] == meta["indices"][:done] and \
                all(d.get(key) == meta[key] for key in ("code", "device", "replayed")):
            return d
    return None


def oracle_cell(model: Classifier, images: np.ndarray, labels: np.ndarray, targets: np.ndarray | None) -> dict[str, Any]:
    """The exhaustive scan, judged change by change in fp32 (the runner verifies only each round's most
    promising candidate, so a bf16 false positive can hide a true success in the same round)."""
    t0 = time.perf_counter()
    if isinstance(model, TableClassifier):
        pred = model.ref.argmax(-1)
        fooled = is_success(pred, labels[:, None], None if targets is None else targets[:, None]).any(1)
        near = np.array([(decision_margin(f, np.full(len(f), lab), None) > -0.1).sum() for f, lab in zip(model.fast, labels, strict=True)])
        queries, verify = np.full(len(images), model.fast.shape[1]), near
    else:
        res = one_pixel_oracle(model, images, labels, targets, precision="search")
        fooled, queries, verify = res.fooled, np.full(len(images), res.fooling[0].size), res.queries - res.fooling[0].size
    return {"success": fooled.tolist(), "queries": queries.tolist(), "verify": np.asarray(verify).tolist(),
            "seconds": time.perf_counter() - t0, "max_queries": int(queries[0]) if len(queries) else 0}


def curve(cell: dict[str, Any], budgets=BUDGETS) -> list[float]:
    ok = np.array(cell["success"]) & (np.array(cell["queries"])[None, :].T <= np.array(budgets)).T
    return ok.mean(1).tolist()


def common_images(cells: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every cell cut down to the images all searches of its panel (model, k, mode) ran on."""
    shared: dict[str, set[int]] = {}
    for key, cell in cells.items():
        panel = key.rsplit("|", 1)[0]
        shared[panel] = shared.get(panel, set(cell["indices"])) & set(cell["indices"])
    out = {}
    for key, cell in cells.items():
        keep = np.array([i in shared[key.rsplit("|", 1)[0]] for i in cell["indices"]], dtype=bool)
        out[key] = {**cell, **{f: np.asarray(cell[f])[keep].tolist() for f in ("success", "queries", "verify", "indices")}}
    return out


def summarise(cells: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for key, cell in cells.items():
        model, k, mode, search = key.split("|")
        q = np.array(cell["queries"])
        rows.append({
            "model": model, "pixels": int(k), "mode": mode, "search": search, "images": len(q),
            "success": dict(zip(map(str, BUDGETS), curve(cell), strict=True)),
            "max_queries": cell["max_queries"], "campaign_queries": int(q.sum()),
            "campaign_verify_queries": int(np.sum(cell["verify"])), "mean_queries": float(q.mean()),
            "seconds": round(cell.get("seconds", 0.0), 1), "replayed": bool(cell.get("replayed", False)),
        })
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    head = "| model | k | mode | search | images | " + " | ".join(f"{b:,}" for b in BUDGETS) + \
        " | max q | campaign queries (mean/image) |\n"
    head += "|---|---:|---|---|---:|" + "---:|" * len(BUDGETS) + "---:|---:|\n"
    body = ""
    for r in sorted(rows, key=lambda r: (r["model"], r["pixels"], r["mode"], r["search"] != "oracle", r["search"])):
        cells = []
        for b in BUDGETS:
            v = r["success"][str(BUDGETS[-1] if r["search"] == "oracle" else b)]  # the oracle: its ceiling
            # beyond a search's own maximum its curve is flat: show it in italics
            cells.append(f"{100 * v:.1f}" if b <= r["max_queries"] or r["search"] == "oracle" else f"*{100 * v:.1f}*")
        name = {"de": "de (paper)", "oracle": "oracle (ceiling)"}.get(r["search"], r["search"]) + (" ‡" if r["replayed"] else "")
        body += (f"| {r['model']} | {r['pixels']} | {r['mode']} | {name} | {r['images']} | " + " | ".join(cells) +
                 f" | {r['max_queries']:,} | {r['campaign_queries']:,} ({r['mean_queries']:,.0f}) |\n")
    return head + body


def figure(rows: list[dict[str, Any]], cells: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["model"], r["pixels"], r["mode"]) for r in rows})
    cols = min(4, len(panels))
    nrows = -(-len(panels) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.4 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    grid = np.unique(np.geomspace(10, 40_400, 200).astype(int))
    for ax, (model, k, mode) in zip(axes.flat, panels):
        for r in rows:
            if (r["model"], r["pixels"], r["mode"]) != (model, k, mode):
                continue
            cell = cells[f"{model}|{k}|{mode}|{r['search']}"]
            y = np.array(curve(cell, grid)) * 100
            if r["search"] == "oracle":
                ax.axhline(y[-1], color="k", ls="--", lw=1, label=f"oracle ({y[-1]:.1f} %)")
            else:
                ax.plot(grid, y, color=COLOURS.get(r["search"]), label=r["search"] + (" (paper)" if r["search"] == "de" else ""))
        ax.set_xscale("log")
        ax.set_xlabel("queries per image")
        ax.set_ylabel("success (%)")
        ax.set_title(f"{model}, {k} px, {mode}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_doc(path: Path, block: str) -> None:
    """Replace the generated block of ``path`` (creating the file if needed), keeping hand-written text."""
    text = path.read_text() if path.exists() else "# Searches compared\n\n" + START + "\n" + END + "\n"
    if START not in text:
        text += "\n" + START + "\n" + END + "\n"
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1] if END in rest else ""
    path.write_text(head + START + "\n" + block + END + tail)


def cell_label(search: str, loss: str) -> str:
    """A cell's search name: the paper's fitness keeps the bare name, other losses append ``+LOSS``."""
    return search if loss == "probability" else f"{search}+{loss}"


def cell_tail(args: argparse.Namespace) -> str:
    """The end of a cell file's name, after ``k{k}-{mode}-{search}-n{n}``: the run's budget, seed and exclusion,
    and the search precision where one was forced (such cells are tabulated apart from the default ones)."""
    forced = "" if args.precision == "auto" else f"-{args.precision}"
    return f"-b{args.budget}-s{args.seed}-x{args.exclude.replace(':', '_')}{forced}.json"


def cached_cells(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Every cached cell of ``args.models`` with the run's budget, seed and exclusion, largest n first; with
    ``--loss margin`` the margin cells (and the oracle, which has no loss), else the paper-fitness cells."""
    tail = cell_tail(args)
    found: dict[str, tuple[int, dict[str, Any]]] = {}
    for name in args.models:
        for f in sorted(args.cache.glob(f"{name}-*/k*{tail}")):
            k, mode, search, n = f.name[: -len(tail)].split("-")
            if search != "oracle" and search != cell_label(search.split("+")[0], args.loss):
                continue
            key = f"{name}|{k[1:]}|{mode}|{search}"
            if int(n[1:]) > found.get(key, (0, {}))[0]:
                found[key] = (int(n[1:]), json.loads(f.read_text()))
    return {key: cell for key, (_, cell) in sorted(found.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["resnet20"])
    ap.add_argument("--n", type=int, default=200, help="correctly classified test images (strict protocol)")
    ap.add_argument("--n-live", type=int, default=None, help="images for the cells run on the net (cma; any "
                    "search at k > 1) [default: --n]")
    ap.add_argument("--n-de", type=int, default=None, help="images for DE at the paper's budget [default: --n]")
    ap.add_argument("--pixels", type=int, nargs="+", default=[1, 3, 5])
    ap.add_argument("--modes", nargs="+", default=["untargeted", "targeted"], choices=["untargeted", "targeted"])
    ap.add_argument("--searches", nargs="+", default=["oracle", "rs", "corner", "cma", "de"])
    ap.add_argument("--budget", type=int, default=10_000, help="per-image budget of rs, corner and cma")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--exclude", default="100:200", help="strict-set positions A:B left out (rs was tuned on "
                    "ResNet-20 images #100-199); '' for none")
    ap.add_argument("--batch-images", type=int, default=100)
    ap.add_argument("--live", action="store_true", help="run one-pixel corner searches on the net, not replayed")
    ap.add_argument("--loss", default="probability", choices=LOSSES, help="what the searches "
                    "minimise (margin: cells are named SEARCH+margin; the oracle does not depend on it)")
    ap.add_argument("--report-only", action="store_true", help="run nothing: tabulate every cached cell of the "
                    "models (same budget, seed and --exclude; the most images where several runs exist)")
    ap.add_argument("--data", default=None, help="CIFAR-10 folder [default: ONEPIXEL_DATA, cache]")
    ap.add_argument("--cache", type=Path, default=Path("runs/bench-search"))
    ap.add_argument("--out", type=Path, default=Path("docs"))
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads [default: torch's]")
    ap.add_argument("--device", default="cpu", help="where the net runs: cpu or cuda (bf16 rounds a little "
                    "differently there; each cell records its device)")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"], help="what the searches "
                    "query in (auto: bf16 where it is fast); every success is verified in fp32 either way")
    ap.add_argument("--weights", nargs="*", default=[], metavar="NAME=FILE",
                    help="load a zoo model's weights from FILE (still checked against the registry's sha256)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # a shared CPU: more threads than free cores spin against each other

    cells: dict[str, dict[str, Any]] = {}
    stamp = code_stamp()  # cells and checkpoints record it: only the same code's results are resumed
    if args.report_only:
        cells = cached_cells(args)
    for name in [] if args.report_only else args.models:
        model = load_model(name, dict(w.split("=", 1) for w in args.weights).get(name), args.device, args.precision)
        cache = args.cache / f"{name}-{model.sha256[:12]}"  # results belong to one set of weights
        lo, hi = (int(v) for v in args.exclude.split(":")) if args.exclude else (0, 0)
        idx, images, labels = strict_set(model, args.n, args.data, range(lo, hi))
        tg_all = targets_for(labels, args.seed)
        # scored in that precision, through query() (older caches' "tables" were scored by the full forward)
        tables_dir = "tables-query" if args.precision == "auto" else f"tables-query-{args.precision}"
        replay = None
        for k in args.pixels:
            for mode in args.modes:
                for search in args.searches:
                    if search == "oracle" and (k != 1 or args.loss != "probability"):
                        continue
                    label = cell_label(search, args.loss)
                    # k = 1 corner searches cost nothing on the tables; the rest runs on the net
                    replayed = (search in ("oracle", "rs", "corner") if k == 1 else search == "corner") and not args.live
                    n = args.n_de or args.n if search == "de" else args.n if k == 1 and replayed else args.n_live or args.n
                    key = f"{name}|{k}|{mode}|{label}"
                    f = cache / f"k{k}-{mode}-{label}-n{n}{cell_tail(args)}"
                    if f.exists():
                        cells[key] = json.loads(f.read_text())
                        continue
                    tg = None if mode == "untargeted" else tg_all[:n]
                    if replayed and (replay is None or len(replay.fast) < n):
                        # tables for the images this cell replays, not all --n (each costs ~15 s of a core)
                        fast, ref = tables(model, images[:n], labels[:n], idx[:n], cache / tables_dir)
                        replay = TableClassifier(model, fast, ref, images.shape[2])
                    meta = {"replayed": replayed, "indices": idx[:n].tolist(), "device": args.device, "code": stamp,
                            "precision": getattr(model, "precision", "fp32")}
                    partial = f.with_name(f.name + ".partial")
                    start = None if search == "oracle" else head_start(f, partial, meta)
                    done = len(start["success"]) if start else 0
                    print(f"{key}: {n} images{' (replayed)' if replayed else ''}"
                          f"{f', {done} reused from an earlier run' if done else ''}", file=sys.stderr, flush=True)
                    f.parent.mkdir(parents=True, exist_ok=True)

                    def checkpoint(part: dict[str, Any], partial: Path = partial, meta: dict[str, Any] = meta) -> None:
                        write_json(partial, part | meta | {"indices": meta["indices"][:len(part["success"])]})

                    cell = run_cell(replay if replayed else model, search, k, images[:n], labels[:n], tg,
                                    args.budget, args.seed, args.batch_images, args.loss, start, checkpoint)
                    cell |= meta
                    write_json(f, cell)
                    partial.unlink(missing_ok=True)
                    cells[key] = cell
                    print(f"  {np.mean(cell['success']):.1%} in {cell['seconds']:.0f} s", file=sys.stderr, flush=True)

    rows = summarise(cells)
    same = common_images(cells)
    same_rows = summarise(same)
    print(json.dumps({"all_images": rows, "same_images": same_rows}, indent=1))
    table, same_table = markdown(rows), markdown(same_rows)
    print(same_table + "\n" + table)
    args.out.mkdir(parents=True, exist_ok=True)
    figure(same_rows, same, args.out / "search-cells.png")
    cmd = "python benchmarks/search.py " + " ".join(sys.argv[1:])
    held = f", leaving out strict positions {args.exclude} (the tuning set)" if args.exclude else ""
    # one table when every search of a (model, k, mode) ran on the same images, else both views
    shown = (same_table if same_table == table else
              "**Same images** (per model, k and mode: the images every search there ran on)\n\n" + same_table +
              "\n**Every image each search ran on**\n\n" + table)
    block = (f"Generated by `{cmd}` ({platform.processor() or platform.machine()}, torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads). Images: the first correctly "
             f"classified CIFAR-10 test images{held}. Success (%) at each per-image query budget (first verified "
             "success within that many search queries); *italics*: beyond the search's own maximum (flat); "
             "‡: replayed from the cached one-pixel corner tables (exact, see the script's docstring); "
             "campaign queries: all search queries of all images, fooled or not.\n\n" + shown +
             "\n![success vs queries on the same images](search-cells.png)\n")
    write_doc(args.out / "search-cells.md", block)


if __name__ == "__main__":
    main()
