"""The thread governor keeps the faster of torch's thread count and one thread, and never changes a score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from onepixel.models.pytorch import TorchClassifier
from onepixel.models.threads import GovernedThreads, ThreadGovernor
from toys.nets import tiny_net


def _feed(governor: ThreadGovernor, cost: dict[int, float], calls: int) -> tuple[list[int], float]:
    """Run ``calls`` picks of 10 rows, each taking ``cost[threads]`` seconds per row; the counts picked and the
    seconds they took."""
    picked, seconds = [], 0.0
    for _ in range(calls):
        t = governor.pick()
        governor.record(t, 10, 10 * cost[t])
        picked.append(t)
        seconds += 10 * cost[t]
    return picked, seconds


@pytest.mark.parametrize("cost", [{2: 1.0, 1: 0.25}, {2: 0.14, 1: 0.25}], ids=["busy host", "quiet host"])
def test_the_governor_keeps_the_faster_and_spends_little_on_trying_the_other(cost):
    g = ThreadGovernor(most=2, share=0.05)
    picked, seconds = _feed(g, cost, 400)
    best = min(cost, key=cost.get)
    assert picked[:2] == [2, 1] and g.faster() == best
    assert picked.count(best) < 400 and picked[2:].count(best) > 0.9 * 398  # the other is tried, now and then
    assert seconds <= 1.06 * 400 * 10 * cost[best] + 10 * max(cost.values())  # the tries: within the share


def test_the_governor_follows_the_load_both_ways():
    g = ThreadGovernor(most=2)
    _feed(g, {2: 0.14, 1: 0.25}, 50)
    assert g.faster() == 2
    busy, _ = _feed(g, {2: 1.0, 1: 0.25}, 20)  # a busy process starts: two threads slow down
    assert g.faster() == 1 and busy[-10:] == [1] * 10
    quiet, _ = _feed(g, {2: 0.14, 1: 0.25}, 400)  # and stops: two threads win their next try
    assert g.faster() == 2 and quiet[-10:].count(2) >= 9


def test_one_thread_has_nothing_to_govern():
    g = ThreadGovernor(most=1)
    assert g.options == (1,) and _feed(g, {1: 1.0}, 5)[0] == [1] * 5


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


def test_governed_queries_score_as_torch_s_count_does_and_restore_it(two_threads, monkeypatch):
    clf = TorchClassifier(tiny_net(), precision="fp32", delta=True, delta_batch_size=16)
    first = _query(clf)
    checked = clf.threads.same_bits
    assert any(kind[0] != "full" for kind in checked) and all(checked.values())  # delta chunks, checked once
    monkeypatch.setattr(ThreadGovernor, "pick", lambda self: 1)  # a busy machine
    assert np.array_equal(_query(clf), first) and torch.get_num_threads() == 2
    assert clf.threads.governors  # the chunks ran governed
    ungoverned = TorchClassifier(tiny_net(), precision="fp32", delta=True, delta_batch_size=16)
    ungoverned.delta_engine().threads = GovernedThreads(1)
    assert np.array_equal(_query(ungoverned), first)


def test_the_full_forward_is_governed_too(two_threads, monkeypatch):
    clf = TorchClassifier(tiny_net(), precision="fp32", delta=False)
    first = _query(clf)
    assert ("full", False, (8, 16, 16, 3)) in clf.threads.same_bits
    monkeypatch.setattr(ThreadGovernor, "pick", lambda self: 1)
    assert np.array_equal(_query(clf), first) and torch.get_num_threads() == 2
    assert ("full", False) in clf.threads.governors


def test_no_governor_where_one_thread_would_change_a_score(two_threads, monkeypatch):
    clf = TorchClassifier(tiny_net(), precision="fp32", delta=True, delta_batch_size=16)
    engine = clf.delta_engine()
    run, counts = engine._run, []

    def thread_dependent(*args):  # noqa: ANN002
        counts.append(torch.get_num_threads())
        return run(*args) + 1e-3 * torch.get_num_threads()

    engine._run = thread_dependent
    monkeypatch.setattr(ThreadGovernor, "pick", lambda self: 1)
    first = _query(clf)
    assert not any(clf.threads.same_bits.values())
    counts.clear()
    assert np.array_equal(_query(clf), first) and set(counts) == {2}


def test_a_thread_count_the_user_sets_later_is_the_one_compared(two_threads):
    clf = TorchClassifier(tiny_net(), precision="fp32", delta=True, delta_batch_size=16)
    _query(clf)
    assert clf.threads.most == 2 and clf.threads.same_bits
    torch.set_num_threads(3)
    _query(clf)
    assert clf.threads.most == 3 and torch.get_num_threads() == 3
    assert clf.threads.same_bits and clf.threads.governors["delta"].options == (3, 1)  # checked and governed anew
