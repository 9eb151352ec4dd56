
import numpy as np
import pytest

import onepixel as op
from onepixel.errors import InputError
from toys.black_boxes import FlatPocket

PROBS = np.array([[[0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4]]])  # (1 attack, 3 candidates, 3 classes)


def test_probability_loss_is_the_papers_fitness():
    np.testing.assert_allclose(op.Untargeted().fitness(PROBS, np.array([0])), [[0.5, 0.2, 0.3]])
    np.testing.assert_allclose(op.Targeted().fitness(PROBS, np.array([0]), np.array([2])), [[-0.2, -0.3, -0.4]])


def test_margin_is_negative_exactly_where_the_candidate_is_adversarial():
    lab, tg = np.array([0]), np.array([2])
    un, ta = op.Untargeted(loss="margin"), op.Targeted(loss="margin")
    np.testing.assert_allclose(un.fitness(PROBS, lab), [[0.2, -0.3, -0.1]])
    np.testing.assert_allclose(ta.fitness(PROBS, lab, tg), [[0.3, 0.2, -0.1]])
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(10), size=(50, 20))
    lab, tg = rng.integers(0, 10, 50), rng.integers(0, 10, 50)
    assert ((un.fitness(p, lab) < 0) == un.is_adversarial(p, lab)).all()
    assert ((ta.fitness(p, lab, tg) < 0) == ta.is_adversarial(p, lab, tg)).all()


def test_early_stopping_does_not_depend_on_the_loss():
    p = np.array([[[0.04, 0.9, 0.06], [0.06, 0.9, 0.04], [0.02, 0.03, 0.95]]])
    lab, tg = np.array([0]), np.array([1])
    for crit in (op.Untargeted, op.Targeted):
        stops = [crit(loss=loss).should_stop(p, lab, tg if crit is op.Targeted else None) for loss in ("probability", "margin")]
        np.testing.assert_array_equal(stops[0], stops[1])
    assert op.Untargeted(loss="margin").should_stop(p, lab).tolist() == [[True, False, True]]
    assert op.Targeted(loss="margin").should_stop(p, lab, tg).tolist() == [[False, False, False]]


def test_unknown_loss_is_named():
    with pytest.raises(InputError, match="unknown loss 'hinge'"):
        op.Targeted(loss="hinge")
    with pytest.raises(InputError, match="unknown loss"):
        op.attack(FlatPocket(), np.zeros((4, 4, 3), np.uint8), 0, loss="ce")


def test_margin_finds_a_pocket_where_the_target_probability_is_flat():
    """CMA-ES on the same seeds: under the paper's targeted fitness the red channel gives no direction."""
    imgs = np.zeros((8, 4, 4, 3), np.uint8)
    found = {loss: sum(r.success for r in op.attack(FlatPocket(), imgs, [0] * 8, targets=2, search="cma", max_queries=1200,
                                                    stop_on_success=True, loss=loss))
             for loss in ("probability", "margin")}
    assert found["margin"] == 8 and found["probability"] < 8
