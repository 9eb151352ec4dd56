"""fewest_pixels: each image gets the smallest pixel count that fools it, and only survivors get more."""

import numpy as np
import pytest

import onepixel as op
from toys.black_boxes import PlantedPair


def _images() -> np.ndarray:
    imgs = np.full((3, 8, 8, 3), 128, np.uint8)
    imgs[0, 1, 1] = 255  # half of the planted pair is already there: one more pixel fools it
    imgs[2, 5, 6] = (0, 0, 255)  # the other half, on the third image
    return imgs


def test_each_image_gets_the_fewest_pixels_that_fool_it():
    model = PlantedPair()
    sweeps = op.fewest_pixels(model, _images(), [0, 0, 0], pixels=(3, 1, 2), search="corner", max_queries=2000)
    assert [s.pixels for s in sweeps] == [1, 2, 1]
    assert [[k for k, _, _ in s.attempts] for s in sweeps] == [[1], [1, 2], [1]]  # survivors only, smallest first
    assert sweeps[1].attempts[0][2] is False and sweeps[1].result.success
    assert {(1, 1, 255, 255, 255), (6, 5, 0, 0, 255)} <= set(sweeps[1].result.pixels)
    assert sweeps[0].result.pixels == [(6, 5, 0, 0, 255)] and sweeps[2].result.pixels == [(1, 1, 255, 255, 255)]
    assert sweeps[1].queries == sum(q for _, q, _ in sweeps[1].attempts) > 512


def test_no_count_fools_it_and_the_last_attack_is_reported():
    (sweep,) = op.fewest_pixels(PlantedPair(), _images()[1], 0, pixels=[1], search="corner", max_queries=600)
    assert sweep.pixels is None and not sweep.result.success and sweep.attempts == [(1, 512, False)]


def test_an_image_sweeps_the_same_alone_or_in_a_batch():
    kw = dict(pixels=(1, 2), search="rs", max_queries=300, seed=[4, 5, 6])
    together = op.fewest_pixels(PlantedPair(), _images(), [0, 0, 0], **kw)
    alone = op.fewest_pixels(PlantedPair(), _images()[1:2], [0], **(kw | {"seed": [5]}))
    assert together[1].attempts == alone[0].attempts and together[1].result.pixels == alone[0].result.pixels


def test_bad_counts_are_refused():
    with pytest.raises(op.InputError, match="pixel counts"):
        op.fewest_pixels(PlantedPair(), _images(), [0, 0, 0], pixels=[0, 1])
