"""benchmarks/search.py resumes a cell from a checkpoint or a smaller cell, and only when that is exact."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import onepixel as op
from toys.nets import tiny_net

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "search.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_search", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_resumed_cell_equals_a_fresh_run(bench):
    clf = op.TorchClassifier(tiny_net())
    imgs = np.random.default_rng(1).integers(0, 256, (6, 10, 10, 3)).astype(np.uint8)
    labels = clf.probs(imgs).argmax(1)
    targets = (labels + 1) % 4
    args = ("rs", 2, imgs, labels, targets, 150, 0, 2)
    fresh = bench.run_cell(clf, *args)
    seen: list[int] = []
    first = bench.run_cell(clf, "rs", 2, imgs[:4], labels[:4], targets[:4], 150, 0, 2,
                           on_batch=lambda part: seen.append(len(part["success"])))
    assert seen == [2, 4]  # a checkpoint after every batch
    resumed = bench.run_cell(clf, *args, start=first, on_batch=lambda part: seen.append(len(part["success"])))
    assert seen == [2, 4, 6]  # only the last batch ran again
    for key in ("success", "queries", "verify"):
        assert resumed[key] == fresh[key]
    assert len(fresh["success"]) == 6 and sum(fresh["queries"]) > 0


def _write(path: Path, n: int, **meta) -> None:
    path.write_text(json.dumps({"success": [True] * n, "indices": list(range(n)), "seconds": 1.0,
                                "code": "abc", "device": "cpu", "replayed": False} | meta))


def test_head_start_takes_only_what_the_same_code_computed(bench, tmp_path):
    f = tmp_path / "k3-targeted-rs-n10-b300-s0-x100_200.json"
    partial = f.with_name(f.name + ".partial")
    meta = {"indices": list(range(10)), "code": "abc", "device": "cpu", "replayed": False}
    assert bench.head_start(f, partial, meta) is None

    _write(tmp_path / "k3-targeted-rs-n4-b300-s0-x100_200.json", 4)
    _write(tmp_path / "k3-targeted-rs-n6-b300-s0-x100_200.json", 6)
    _write(tmp_path / "k3-targeted-rs-n8-b300-s0-x100_200.json", 8, code="old")  # other code
    _write(tmp_path / "k3-targeted-rs-n9-b300-s0-x100_200.json", 9, device="cuda")  # other device
    _write(tmp_path / "k3-targeted-cma-n9-b300-s0-x100_200.json", 9)  # other search
    _write(tmp_path / "k3-targeted-rs-n7-b999-s0-x100_200.json", 7)  # other budget
    assert len(bench.head_start(f, partial, meta)["success"]) == 6  # the largest usable smaller cell

    _write(partial, 7)
    assert len(bench.head_start(f, partial, meta)["success"]) == 7  # an interrupted run of this cell first
    _write(partial, 7, indices=[0, 1, 2, 3, 4, 5, 99])  # other images (another strict set)
    assert len(bench.head_start(f, partial, meta)["success"]) == 6
    _write(partial, 7, code="old")
    assert len(bench.head_start(f, partial, meta)["success"]) == 6


def test_cells_record_the_code_that_wrote_them(bench, monkeypatch, tmp_path):
    stamp = bench.code_stamp()
    assert len(stamp) == 12 and stamp == bench.code_stamp()
    src = tmp_path / "bench.py"
    src.write_text(BENCH.read_text() + "\n# an edit\n")
    monkeypatch.setattr(bench, "__file__", str(src))
    assert bench.code_stamp() != stamp  # any edit of the script (or the package) is other code


def test_a_forced_search_precision_gets_cells_of_its_own(bench):
    from argparse import Namespace

    base = {"budget": 10_000, "seed": 0, "exclude": "100:200"}
    assert bench.cell_tail(Namespace(**base, precision="auto")) == "-b10000-s0-x100_200.json"  # the stored cells' names
    fp32 = bench.cell_tail(Namespace(**base, precision="fp32"))
    assert fp32 == "-b10000-s0-x100_200-fp32.json"
    assert not ("k3-untargeted-de-n200" + fp32).endswith(bench.cell_tail(Namespace(**base, precision="auto")))
