import builtins

import numpy as np
import pytest

import onepixel as op
from onepixel.candidates import PixelSpace
from onepixel.errors import OnepixelError
from onepixel.search import CMAES
from toys.black_boxes import SmoothSpot

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
