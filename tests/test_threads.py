"""The thread governor keeps the faster of torch's thread count and one thread, and never changes a score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from onepixel.models.pytorch import TorchClassifier
from onepixel.models.threads import ThreadGovernor
from toys.nets import tiny_net


def _feed(governor: ThreadGovernor, cost: dict[int, float], calls: int) -> list[int]:
    """Run ``calls`` picks, each taking ``cost[threads]`` seconds per row; the counts picked."""
    picked = []
    for _ in range(calls):
        t = governor.pick()
        governor.record(t, 10, 10 * cost[t])
        picked.append(t)
    return picked


def test_the_governor_tries_both_then_keeps_the_faster_and_tries_the_slower_less_often():
    g = ThreadGovernor(most=2, patience=4, longest=16)
    picked = _feed(g, {2: 1.0, 1: 0.25}, 60)  # a busy machine: one thread is 4x faster
    assert picked[:2] == [2, 1]
    tries = [i for i, t in enumerate(picked) if t == 2][1:]  # the slower count's later tries
    assert tries[0] == 4  # after the two first calls and two more
    assert np.diff(tries).tolist() == [9, 17, 17]  # waits of 8, then 16 calls (the longest), plus the try
    assert g.faster() == 1


def test_the_governor_switches_back_when_the_load_goes():
    g = ThreadGovernor(most=2, patience=4, longest=64)
    _feed(g, {2: 1.0, 1: 0.25}, 40)
    picked = _feed(g, {2: 0.14, 1: 0.25}, 80)  # quiet again: two threads win their next try
    assert g.faster() == 2 and picked[-10:].count(2) >= 9


def test_one_thread_has_nothing_to_govern():
    g = ThreadGovernor(most=1)
    assert g.options == (1,) and _feed(g, {1: 1.0}, 5) == [1] * 5


def _query(clf: TorchClassifier, rows: int = 96) -> np.ndarray:
    rng = np.random.default_rng(2)
    images = torch.from_numpy(rng.integers(0, 256, (3, 16, 16, 3)).astype(np.uint8))
    which = rng.integers(0, 3, rows)
    x, y = rng.integers(0, 16, (rows, 1)), rng.integers(0, 16, (rows, 1))
    colours = (rng.integers(0, 2, (rows, 1, 3)) * 255).astype(np.uint8)
    return clf.query(images, which, x, y, colours, rows_per_image=8)


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_governed_queries_score_as_torch_s_count_does_and_restore_it(two_threads):
    clf = TorchClassifier(tiny_net(), precision="fp32", delta=True, delta_batch_size=16)
    engine = clf.delta_engine()
    assert engine is not None and engine.governor is not None
    first = _query(clf)
    assert all(engine._thread_free.values()) and engine._thread_free
    engine.governor.pick = lambda: 1  # a busy machine
    assert np.array_equal(_query(clf), first) and torch.get_num_threads() == 2
    ungoverned = TorchClassifier(tiny_net(), precision="fp32", delta=True, delta_batch_size=16)
    ungoverned.delta_engine().governor = None
    assert np.array_equal(_query(ungoverned), first)


def test_no_governor_where_one_thread_would_change_a_score(two_threads):
    clf = TorchClassifier(tiny_net(), precision="fp32", delta=True, delta_batch_size=16)
    engine = clf.delta_engine()
    run, counts = engine._run, []

    def thread_dependent(*args):  # noqa: ANN002
        counts.append(torch.get_num_threads())
        return run(*args) + 1e-3 * torch.get_num_threads()

    engine._run = thread_dependent
    engine.governor.pick = lambda: 1
    first = _query(clf)
    assert not any(engine._thread_free.values())
    counts.clear()
    assert np.array_equal(_query(clf), first) and set(counts) == {2}
