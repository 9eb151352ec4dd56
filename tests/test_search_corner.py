import numpy as np
import pytest

import onepixel as op
from onepixel.candidates import PixelSpace, decode
from onepixel.search import CornerSearch
from toys.black_boxes import PlantedPair, VulnerableSet


def _strip(res):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in res.to_records()]


def test_one_pixel_scan_finds_the_planted_pixel_within_the_scan(planted, grey_images):
    res = op.attack(planted, grey_images, [0, 0, 0], search="corner", stop_on_success=True)
    for r in res:
        assert r.success and r.pixels == [(5, 2, 255, 0, 0)]
        assert r.queries <= 8 * 8 * 8
    assert planted.rows == 3 + sum(r.model_queries + r.verify_queries for r in res)


def test_targeted_scan_reaches_the_planted_target(grey_images):
    from toys.black_boxes import PlantedPixel

    res = op.attack(PlantedPixel(strong_target=2), grey_images[:2], [0, 0], targets=2, search="corner")
    assert all(r.success and r.predicted_after == 2 for r in res)


def test_one_pixel_scan_covers_every_corner_change_once():
    space = PixelSpace(4, 6, 3, 1)
    cs = CornerSearch(batch=10)
    cs.start(space, [3])
    rows = np.array([0])
    seen = []
    while not cs.exhausted(rows).all():
        cand = cs.ask(rows)
        n = min(10, cs.max_queries() - int(cs._next[0]))
        seen.append(cand[0, :n])
        cs.tell(rows, np.where(np.arange(10) < n, 1.0, np.inf)[None])
    pix = decode(np.concatenate(seen), space)
    keys = {(int(x), int(y), tuple(c)) for x, y, c in zip(pix.x[:, 0], pix.y[:, 0], pix.colours[:, 0].tolist(), strict=True)}
    assert cs.max_queries() == 4 * 6 * 8 and len(keys) == 4 * 6 * 8


@pytest.mark.parametrize("k", [2, 3])
def test_combinations_of_top_pixels_find_a_planted_pair(k):
    model = PlantedPair()
    imgs = np.full((2, 8, 8, 3), 128, np.uint8)
    res = op.attack(model, imgs, [0, 0], pixels=k, search=CornerSearch(budget=2000, top=10), max_queries=2000,
                    stop_on_success=True)
    for r in res:
        assert r.success and {(1, 1, 255, 255, 255), (6, 5, 0, 0, 255)} <= set(r.pixels)
        assert 512 < r.queries <= 2000  # the scan alone cannot fool it: combinations did
        assert r.model_queries <= r.queries  # a combination drawn twice is answered from memory
    assert model.rows == 2 + sum(r.model_queries + r.verify_queries for r in res)


def test_combinations_are_distinct_pixels_from_the_top_ranks():
    space = PixelSpace(8, 8, 3, 3)
    cs = CornerSearch(budget=1000, top=5, batch=32)
    cs.start(space, [0])
    rows = np.array([0])
    rng = np.random.default_rng(1)
    fit_by_loc = rng.random(64)
    while cs._next[0] < 512:  # scan phase: fitness depends on the location only
        pix = decode(cs.ask(rows), space)
        cs.tell(rows, fit_by_loc[pix.y[..., 0] * 8 + pix.x[..., 0]])
    pix = decode(cs.ask(rows), space)
    locs = pix.y[0] * 8 + pix.x[0]
    assert all(len(set(row)) == 3 for row in locs.tolist())
    assert set(locs.ravel()) <= set(np.argsort(fit_by_loc)[:5])


def test_greyscale_scan_uses_two_corners(grey_images):
    from toys.black_boxes import PlantedPixel

    res = op.attack(PlantedPixel(colour=(255,)), grey_images[:2, :, :, :1], [0, 0], search="corner", stop_on_success=True)
    assert all(r.success and r.pixels == [(5, 2, 255)] and r.queries <= 8 * 8 * 2 for r in res)
    miss = op.attack(VulnerableSet([]), grey_images[:1, :, :, :1], [0], search="corner")
    assert miss[0].queries == 8 * 8 * 2
