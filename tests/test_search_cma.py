import builtins

import numpy as np
import pytest

import onepixel as op
from onepixel.candidates import PixelSpace
from onepixel.errors import InputError, OnepixelError
from onepixel.search import CMAES, make_search
from search_toys import SmoothSpot, VulnerableSet

pytest.importorskip("cma")


def _strip(res):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in res.to_records()]


@pytest.mark.parametrize("targets", [None, 1])
def test_finds_the_smooth_spot(targets):
    model = SmoothSpot(width=1.5)
    imgs = np.full((3, 16, 16, 3), 128, np.uint8)
    res = op.attack(model, imgs, [0, 0, 0], targets=targets, search="cma", max_queries=1500, stop_on_success=True)
    for r in res:
        assert r.success and r.predicted_after == 1
        (x, y, *rgb), = r.pixels
        assert abs(x - 9) <= 2 and abs(y - 4) <= 2
    assert model.rows == 3 + sum(r.model_queries + r.verify_queries for r in res)


def test_three_pixels():
    res = op.attack(SmoothSpot(width=1.5), np.full((2, 16, 16, 3), 128, np.uint8), [0, 0], pixels=3,
                    search=CMAES(budget=1500), stop_on_success=True)
    assert all(r.success for r in res)


def test_budget_is_never_exceeded():
    model = VulnerableSet([])
    imgs = np.full((3, 8, 8, 3), 60, np.uint8)
    res = op.attack(model, imgs, [0] * 3, search=CMAES(budget=500), max_queries=203)
    assert [r.queries for r in res] == [203] * 3
    res = op.attack(model, imgs[:1], [0], search=CMAES(budget=100, popsize=7))
    assert res[0].queries == 100
    assert model.rows == 3 + 1 + sum(r.verify_queries for r in res) + 203 * 3 + 100 + 3


def test_deterministic_per_seed_and_independent_of_the_batch():
    imgs = np.random.default_rng(0).integers(0, 256, (3, 12, 12, 3)).astype(np.uint8)
    kw = dict(pixels=2, search="cma", max_queries=400)
    together = op.attack(SmoothSpot(), imgs, [0] * 3, seed=[5, 6, 7], **kw)
    alone = op.attack(SmoothSpot(), imgs[1:2], [0], seed=[6], **kw)
    assert _strip(together)[1] | {"index": 0} == _strip(alone)[0]
    assert _strip(together) == _strip(op.attack(SmoothSpot(), imgs, [0] * 3, seed=[5, 6, 7], **kw))
    state = np.random.get_state()[1].copy()
    op.attack(SmoothSpot(), imgs, [0] * 3, **kw)
    assert np.array_equal(state, np.random.get_state()[1])  # numpy's global generator is left alone


def test_candidates_stay_in_the_box():
    space = PixelSpace(8, 8, 3, 2)
    es = CMAES(budget=1000, sigma=1.0)
    es.start(space, [0, 1])
    lo, hi = space.bounds()
    rows = np.arange(2)
    for _ in range(20):
        c = es.ask(rows)
        assert (c >= lo).all() and (c <= hi).all()
        es.tell(rows, -np.abs(c).sum(-1))


def test_missing_cma_is_one_clear_line(monkeypatch):
    real = builtins.__import__

    def fake(name, *a, **kw):
        if name == "cma":
            raise ImportError("no cma")
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(OnepixelError, match=r"pip install 'onepixel\[cma\]'"):
        CMAES().start(PixelSpace(8, 8, 3, 1), [0])


@pytest.mark.parametrize("opts", [{"budget": 0}, {"popsize": 1}, {"sigma": 0.0}])
def test_bad_settings_are_named(opts):
    with pytest.raises(InputError):
        make_search("cma", **opts)
