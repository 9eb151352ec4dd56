"""The query of an attack's first verified success, apart from where it stopped (DE runs on to its thresholds)."""

import sqlite3

import numpy as np
import pandas as pd
import pytest

import onepixel as op
from onepixel.campaign import load_results
from onepixel.campaign.store import ResultStore
from toys.black_boxes import SmoothSpot
from toys.liars import Optimistic

POP, GENS = 20, 30


def _logged(toy):
    """The toy as a black box that keeps every batch it is asked about, in order."""
    seen: list[np.ndarray] = []

    def fn(images: np.ndarray) -> np.ndarray:
        seen.append(images.copy())
        return toy.probs(images)

    return fn, seen


def _first_fooling_query(toy, seen: list[np.ndarray]) -> int:
    """1-based index of the first search query the toy answered with another class (the clean image comes first)."""
    asked = np.concatenate(seen[1:])
    fooled = np.nonzero(toy.probs(asked).argmax(1) != 0)[0]
    return int(fooled[0]) + 1


@pytest.mark.parametrize("seed", [0, 4])
def test_first_success_is_the_first_query_that_fools_and_de_stops_later(seed):
    toy = SmoothSpot()
    fn, seen = _logged(toy)
    img = np.full((1, 12, 12, 3), 128, np.uint8)
    r = op.attack(op.CallableClassifier(fn), img, [0], search="de", popsize=POP, generations=GENS, seed=seed,
                  memo=False)[0]
    truth = _first_fooling_query(toy, seen)
    assert r.success and r.first_success_query == truth
    assert truth > POP  # found in a later generation than the first, ...
    assert r.queries > truth  # ... and DE went on until its threshold (or budget)
    # the memo answers repeats from memory but counts them as queries: the same first success
    again = op.attack(op.CallableClassifier(toy.probs), img, [0], search="de", popsize=POP, generations=GENS,
                      seed=seed)[0]
    assert (again.first_success_query, again.queries) == (r.first_success_query, r.queries)
    assert r.to_dict()["first_success_query"] == truth


def test_a_failed_attack_has_no_first_success():
    toy = SmoothSpot()
    img = np.full((1, 12, 12, 3), 128, np.uint8)
    r = op.attack(op.CallableClassifier(toy.probs), img, [0], search="de", popsize=10, generations=0, seed=1)[0]
    assert not r.success and r.first_success_query is None and r.queries == 10
    assert op.AttackResults([r]).to_pandas()["first_success_query"].isna().all()


def test_a_store_from_before_the_column_loads_and_is_migrated_when_opened_for_writing(tmp_path):
    db = sqlite3.connect(tmp_path / "results.sqlite")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    db.execute("INSERT INTO meta VALUES ('config', '{\"seed\": 0}')")
    db.execute("CREATE TABLE attacks (uid TEXT PRIMARY KEY, image INTEGER, pixels INTEGER, mode TEXT, target INTEGER, "
               "label INTEGER, success INTEGER, predicted_before INTEGER, predicted_after INTEGER, "
               "predicted_prob_after REAL, label_prob_before REAL, label_prob_after REAL, target_prob_after REAL, "
               "queries INTEGER, verify_queries INTEGER, generations INTEGER, seconds REAL, seed INTEGER, "
               "changes TEXT, finished_at REAL)")
    db.execute("INSERT INTO attacks VALUES ('0:1:u', 0, 1, 'untargeted', NULL, 3, 1, 3, 5, 0.6, 0.9, 0.01, NULL, "
               "800, 2, 1, 0.5, 7, '[[1, 2, 0, 0, 0, 9, 9, 9]]', 0.0)")
    db.commit()
    db.close()
    old = load_results(tmp_path)  # read-only: not migrated, the value is missing (unknown)
    assert old["first_success_query"].isna().all() and old["success"].all()
    store = ResultStore(tmp_path, {"seed": 0})  # opened for writing (a resumed run): the column is added
    row = {**old.iloc[0].to_dict(), "uid": "1:1:u", "image": 1, "first_success_query": 123}
    store.add(row)
    store.close()
    df = load_results(tmp_path).set_index("uid")
    assert pd.isna(df.loc["0:1:u", "first_success_query"]) and df.loc["1:1:u", "first_success_query"] == 123


@pytest.mark.parametrize("seed", [1, 4])
def test_with_a_fast_precision_the_first_success_is_the_first_the_reference_confirms(seed):
    toy = SmoothSpot()
    clf = Optimistic(toy)
    img = np.full((1, 12, 12, 3), 128, np.uint8)
    r = op.attack(clf, img, [0], search="de", popsize=POP, generations=GENS, seed=seed, memo=False)[0]
    asked = np.concatenate(clf.asked)[: r.queries]
    search_says = (toy.probs(asked) * [1, 3, 1]).argmax(1) != 0
    reference_says = toy.probs(asked).argmax(1) != 0
    first = int(np.nonzero(reference_says)[0][0]) + 1
    assert r.success and r.first_success_query == first
    # the search flagged false positives before it in the same generation: they are rejected, not dated
    rejected = np.nonzero(search_says & ~reference_says)[0] + 1
    assert any(q < first and (q - 1) // POP == (first - 1) // POP for q in rejected)
