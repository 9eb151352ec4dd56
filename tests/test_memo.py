"""Remembered answers: exact, bounded, and invisible in the results."""

from __future__ import annotations

import numpy as np
import pytest

import onepixel.memo as memo_mod
from onepixel.candidates import Pixels
from onepixel.memo import QueryMemo, query_keys
from onepixel.models.callable import CallableClassifier
from onepixel.objectives import Targeted, Untargeted
from onepixel.runner import Runner
from onepixel.search.de import DifferentialEvolution
from toys.black_boxes import CornerPull


def _keys(rows: list[tuple[int, int, int, int, int, int]]) -> np.ndarray:
    return np.array(rows, dtype=np.int64)


def test_query_keys_hold_image_positions_and_colours():
    pix = Pixels(np.array([[3], [4]]), np.array([[5], [6]]), np.array([[[1, 2, 3]], [[7, 8, 9]]], np.uint8))
    assert query_keys(np.array([0, 2]), pix).tolist() == [[0, 3, 5, 1, 2, 3], [2, 4, 6, 7, 8, 9]]


def test_lookup_returns_exactly_what_was_added_and_nothing_else():
    memo = QueryMemo(classes=3)
    keys = _keys([(0, 1, 2, 3, 4, 5), (0, 1, 2, 3, 4, 6), (1, 1, 2, 3, 4, 5)])
    answers = np.array([[0.1, 0.2, 0.7], [0.3, 0.3, 0.4], [0.5, 0.25, 0.25]])
    memo.add(keys, answers)
    asked = _keys([(1, 1, 2, 3, 4, 5), (2, 1, 2, 3, 4, 5), (0, 1, 2, 3, 4, 5)])
    out, found = memo.lookup(asked)
    assert found.tolist() == [True, False, True]
    assert out[0].tolist() == answers[2].tolist() and out[2].tolist() == answers[0].tolist()
    assert memo.hits == 2


def test_a_hash_collision_costs_a_query_not_a_wrong_answer(monkeypatch):
    monkeypatch.setattr(memo_mod, "_hash", lambda keys: np.zeros(len(keys), dtype=np.uint64))
    memo = QueryMemo(classes=2)
    memo.add(_keys([(0, 1, 1, 9, 9, 9)]), np.array([[0.9, 0.1]]))
    memo.add(_keys([(0, 2, 2, 9, 9, 9)]), np.array([[0.2, 0.8]]))  # same hash: not stored
    assert len(memo) == 1
    _, found = memo.lookup(_keys([(0, 2, 2, 9, 9, 9), (0, 1, 1, 9, 9, 9)]))
    assert found.tolist() == [False, True]


def test_forget_drops_only_the_finished_images():
    memo = QueryMemo(classes=2)
    keys = _keys([(0, 1, 1, 5, 5, 5), (1, 1, 1, 5, 5, 5), (2, 1, 1, 5, 5, 5)])
    memo.add(keys, np.array([[0.5, 0.5], [0.4, 0.6], [0.3, 0.7]]))
    memo.forget(np.array([0, 2]))
    out, found = memo.lookup(keys)
    assert found.tolist() == [False, True, False] and out[1].tolist() == [0.4, 0.6]


def test_memory_stays_bounded_and_keeps_the_newest():
    memo = QueryMemo(classes=10, max_bytes=8 * (1 + 6 + 10 + 1) * 100)  # room for 100 rows
    rng = np.random.default_rng(0)
    for r in range(5):
        keys = np.column_stack([np.full(60, r % 2), rng.integers(0, 32, (60, 2)), rng.integers(0, 256, (60, 3))])
        memo.add(keys.astype(np.int64), rng.random((60, 10)))
        assert len(memo) <= 100
    assert memo.lookup(keys.astype(np.int64))[1].mean() > 0.8  # the newest answers survive eviction


def _run(memo: bool, images: np.ndarray, targets: np.ndarray | None):
    model = CallableClassifier(CornerPull())
    criterion = Untargeted() if targets is None else Targeted()
    runner = Runner(model, criterion, DifferentialEvolution(popsize=40, generations=60), pixels=1, memo=memo)
    res = runner.run(images, np.zeros(len(images), dtype=np.int64), targets, seeds=[3, 4, 5])
    return model, res


@pytest.mark.parametrize("targeted", [False, True])
def test_runner_results_are_identical_with_and_without_memo(targeted):
    # 6x6 images: the population collapses onto few integer changes fast, so many trials repeat. Class 0
    # always wins, so every attack runs its whole budget.
    images = np.full((3, 6, 6, 3), 128, np.uint8)
    targets = np.array([2, 2, 2]) if targeted else None
    on_model, with_memo = _run(True, images, targets)
    off_model, without = _run(False, images, targets)
    on_queries, off_queries = (sum(r.model_queries for r in res) for res in (with_memo, without))
    for a, b in zip(with_memo, without, strict=True):
        assert (a.success, a.pixels, a.queries, a.generations) == (b.success, b.pixels, b.queries, b.generations)
        assert a.label_prob_after == b.label_prob_after
    total = sum(r.queries for r in with_memo)
    assert off_queries == total and [r.model_queries for r in without] == [r.queries for r in without]
    # Every search query the model did not see was a repeat; the model saw each of the others once.
    assert total == 3 * 40 * 61 and on_queries < 0.8 * total
    assert on_model.fn.rows == on_queries + 3 + 3  # + clean images + the failures' final check
    assert off_model.fn.rows == total + 3 + 3


def test_answers_stay_exact_through_adds_forgets_and_compactions():
    """A random mix of rounds, repeats and finished images against a plain dict: every answer found is the
    one stored for that exact key, nothing of a forgotten image is found, and with room for all nothing is lost."""
    rng = np.random.default_rng(1)
    memo, truth = QueryMemo(classes=4), {}
    for r in range(60):
        keys = np.column_stack([rng.integers(0, 6, 50), rng.integers(0, 8, (50, 2)), rng.integers(0, 4, (50, 3))])
        keys = np.unique(keys.astype(np.int64), axis=0)
        out, found = memo.lookup(keys)
        for key, row, hit in zip(map(tuple, keys), out, found):
            assert hit == (key in truth) and (not hit or row.tolist() == truth[key])
        answers = rng.random((len(keys), 4))
        memo.add(keys[~found], answers[~found])
        truth.update({tuple(k): a.tolist() for k, a in zip(keys[~found], answers[~found])})
        if r % 7 == 6:
            gone = rng.choice(6, 2, replace=False)
            memo.forget(gone)
            truth = {k: v for k, v in truth.items() if k[0] not in gone}
    assert len(memo) == len(truth)


def test_store_memory_stays_within_the_limit_plus_one_round():
    memo = QueryMemo(classes=1000, max_bytes=8 * (1 + 6 + 1000 + 1) * 500)  # room for 500 answers
    rng = np.random.default_rng(2)
    for _ in range(40):
        keys = np.column_stack([np.zeros(100), rng.integers(0, 224, (100, 2)), rng.integers(0, 256, (100, 3))])
        memo.add(keys.astype(np.int64), rng.random((100, 1000)))
        assert len(memo) <= 500 and len(memo._answers) <= 500 + 100
