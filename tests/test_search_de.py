import numpy as np
import pytest

from onepixel.candidates import PixelSpace
from onepixel.search.de import DifferentialEvolution, distinct_others


def testdistinct_others_are_distinct_and_uniform():
    rng = np.random.default_rng(0)
    for p in (5, 7, 400):
        a, b, c = distinct_others(rng, p)
        i = np.arange(p)
        assert ((a != i) & (b != i) & (c != i) & (a != b) & (a != c) & (b != c)).all()
        assert max(a.max(), b.max(), c.max()) < p
    counts = np.bincount(np.concatenate([distinct_others(rng, 5)[2] for _ in range(4000)]), minlength=5)
    assert counts.min() > 0.9 * 4000 and counts.max() < 1.1 * 4000


@pytest.mark.parametrize("strategy", ["rand1", "best1", "current-to-best1"])
@pytest.mark.parametrize("crossover", [None, 0.7])
def test_de_minimises_a_smooth_function_and_stays_in_bounds(strategy, crossover):
    space = PixelSpace(32, 32, 3, 1)
    de = DifferentialEvolution(popsize=40, generations=60, strategy=strategy, crossover=crossover)
    de.start(space, [0, 1])
    goal = np.array([20.0, 7.0, 200.0, 30.0, 90.0])
    rows = np.arange(2)
    lo, hi = space.bounds()
    first = None
    while not de.exhausted(rows).all():
        trials = de.ask(rows)
        assert (trials >= lo).all() and (trials <= hi).all()
        fit = np.abs(trials - goal).sum(-1)
        first = fit.min(1) if first is None else first
        de.tell(rows, fit)
    best, fit = de.best(rows)
    assert (fit < 0.25 * first).all(), (strategy, crossover, first, fit)


def test_unevaluated_trials_never_replace_parents():
    space = PixelSpace(8, 8, 3, 1)
    de = DifferentialEvolution(popsize=6, generations=3)
    de.start(space, [0])
    rows = np.array([0])
    de.tell(rows, de.ask(rows).sum(-1))
    before = de._pop.copy()
    de.ask(rows)
    de.tell(rows, np.full((1, 6), np.inf))
    assert np.array_equal(de._pop, before)
