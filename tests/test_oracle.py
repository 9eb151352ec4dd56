import numpy as np
import pytest

import onepixel as op
from onepixel.errors import InputError
from onepixel.oracle import one_pixel_oracle
from onepixel.search import Oracle, make_search
from onepixel.search.colours import colour_grid
from toys.black_boxes import VulnerableSet
from toys.liars import FastMisjudges

CHANGES = [(1, 1, (255, 255, 255)), (3, 2, (0, 0, 0)), (6, 6, (255, 0, 0)), (3, 2, (0, 255, 255))]


def _expected(changes, colours, h=8, w=8):
    want = np.zeros((h, w, len(colours)), bool)
    for x, y, c in changes:
        hit = (colours == np.asarray(c)).all(1)
        want[y, x, hit] = True
    return want


def test_oracle_map_is_exact_on_known_vulnerable_pixels():
    model = op.CallableClassifier(VulnerableSet(CHANGES))
    imgs = np.full((2, 8, 8, 3), 128, np.uint8)
    res = one_pixel_oracle(model, imgs, np.array([0, 0]))
    want = _expected(CHANGES, colour_grid(3))
    assert res.fooling.shape == (2, 8, 8, 8)
    assert (res.fooling == want).all()
    assert res.fooled.tolist() == [True, True] and res.count.tolist() == [4, 4]
    assert res.queries.tolist() == [512, 512]
    assert np.isclose(res.fitness[0][want], 0.1).all() and np.isclose(res.fitness[0][~want], 0.9).all()


def test_oracle_says_no_when_nothing_fools_and_handles_targets():
    model = op.CallableClassifier(VulnerableSet(CHANGES[:2]))  # entry 0 -> class 1, entry 1 -> class 2
    imgs = np.full((1, 8, 8, 3), 128, np.uint8)
    to2 = one_pixel_oracle(model, imgs, np.array([0]), targets=np.array([2]))
    assert (to2.fooling[0] == _expected(CHANGES[1:2], colour_grid(3))).all()
    none = one_pixel_oracle(op.CallableClassifier(VulnerableSet([])), imgs, np.array([0]))
    assert not none.fooled[0] and none.count[0] == 0


def test_finer_grid_finds_a_mid_colour_that_corners_miss():
    mid = [(2, 5, (128, 0, 255))]
    model = op.CallableClassifier(VulnerableSet(mid))
    imgs = np.full((1, 8, 8, 3), 60, np.uint8)
    assert not one_pixel_oracle(model, imgs, np.array([0])).fooled[0]
    fine = one_pixel_oracle(model, imgs, np.array([0]), levels=3, keep_probs=True)
    assert fine.fooled[0] and fine.count[0] == 1 and fine.queries[0] == 64 * 27
    assert (fine.fooling[0] == _expected(mid, colour_grid(3, 3))).all()
    assert fine.probs.shape == (1, 8, 8, 27, 3)


@pytest.mark.parametrize("precision", ["reference", "search"])
def test_search_precision_is_rechecked_in_reference(precision):
    """A model whose fast precision lies near the boundary: the oracle reports the reference truth."""
    # fast precision also "fools" with pixel (0, 0) white, and misses (6, 6) red
    two_faced = FastMisjudges(CHANGES, [((0, 0, (255, 255, 255)), [0.45, 0.55, 0.0]), ((6, 6, (255, 0, 0)), [0.53, 0.47, 0.0])])
    res = one_pixel_oracle(two_faced, np.full((1, 8, 8, 3), 128, np.uint8), np.array([0]), precision=precision)
    assert (res.fooling[0] == _expected(CHANGES, colour_grid(3))).all()
    if precision == "search":
        assert 512 < res.queries[0] < 2 * 512  # only near-boundary changes were re-scored


def test_oracle_as_a_search_through_the_runner(grey_images):
    model = VulnerableSet(CHANGES[2:3])
    res = op.attack(model, grey_images[:2], [0, 0], search="oracle", stop_on_success=True)
    assert all(r.success and r.pixels == [(6, 6, 255, 0, 0)] for r in res)
    assert all(r.queries == 512 for r in res)  # location-major scan, batches of 256: (6, 6) is in the 2nd
    miss = op.attack(VulnerableSet([]), grey_images[:1], [0], search=Oracle(batch=100))
    assert not miss[0].success and miss[0].queries == 512


def test_oracle_is_one_pixel_only(grey_images):
    with pytest.raises(InputError):
        op.attack(VulnerableSet([]), grey_images[:1], [0], pixels=2, search=make_search("oracle"))
    with pytest.raises(InputError):
        one_pixel_oracle(op.CallableClassifier(VulnerableSet([])), grey_images[:1], np.array([0]), precision="fp16")


def test_a_fast_false_positive_does_not_hide_a_true_success_in_the_same_round():
    """The runner verifies the most promising apparent success first and, if the reference rejects it, the
    next one of the same round: a scan that never retries a change must not lose the real success."""
    # fast precision: white at (0, 0) looks like a better success than the real one
    lying = FastMisjudges(CHANGES[2:3], [((0, 0, (255, 255, 255)), [0.01, 0.98, 0.01])])
    res = op.attack(lying, np.full((1, 8, 8, 3), 128, np.uint8), [0], search=Oracle(batch=512), stop_on_success=True)
    assert res[0].success and res[0].pixels == [(6, 6, 255, 0, 0)] and res[0].queries == 512
    assert res[0].verify_queries == 2  # the false positive, then the real one
