"""The contract every search keeps, whatever its algorithm: on a model nothing fools it spends exactly its own
budget (or the runner's cap) and every query is counted; a seed fixes its result; an image's result does not depend
on its batch-mates; a bad setting is refused in one line that names the value. Parametrised over
``onepixel.search.SEARCHES``: a new search is covered by name once it has its entries in SMALL, SPENDS and BAD.
What is particular to one algorithm stays in its own test module (tests/test_search_<name>.py)."""

import numpy as np
import pytest

import onepixel as op
from onepixel.errors import InputError
from onepixel.search import SEARCHES, make_search
from toys.black_boxes import PlantedPair, VulnerableSet

#: settings that keep each search small (DE with dithered F and binomial crossover: its random draws all matter)
SMALL = {
    "de": dict(popsize=10, generations=5, mutation=(0.5, 1.0), crossover=0.5),
    "rs": dict(budget=200, batch=7),
    "corner": dict(budget=700, batch=64, top=8),
    "cma": dict(budget=200, popsize=7),
    "oracle": dict(batch=100),
}
#: (search, k) -> queries an image spends with SMALL's settings on 8x8 RGB images if it never stops early
SPENDS = {
    ("de", 1): 60, ("de", 3): 60,  # population x (generations + 1)
    ("rs", 1): 200, ("rs", 3): 200,
    ("corner", 1): 8 * 8 * 8, ("corner", 3): 700,  # k = 1: the corner scan is the attack
    ("cma", 1): 200, ("cma", 3): 200,
    ("oracle", 1): 8 * 8 * 8,
}
#: settings each search refuses
BAD = {
    "de": [{"strategy": "best2"}, {"popsize": 3}, {"generations": -1}, {"crossover": 1.5}, {"mutation": 2.5},
           {"mutation": -0.1}, {"mutation": (1.0, 0.5)}, {"mutation": (0.5, 3.0)}, {"mutation": (0.1, 0.2, 0.3)}],
    "rs": [{"budget": 0}, {"batch": 0}, {"p_init": 0.0}, {"local": 1.5}, {"radius": 0}, {"temperature": -1.0},
           {"centre": 0.0}, {"elite": 0}, {"refine": -1}, {"sweep": 0.0}, {"sweep": 1.5}],
    "corner": [{"budget": 0}, {"top": 0}, {"batch": 0}, {"levels": 1}],
    "cma": [{"budget": 0}, {"popsize": 1}, {"sigma": 0.0}],
    "oracle": [{"batch": 0}, {"levels": 1}],
}
#: searches whose proposals come from their seed (the others scan in a fixed order)
SEEDED = ("de", "rs", "cma")
CASES = sorted(SPENDS)


def _search(name: str):
    if name == "cma":
        pytest.importorskip("cma")
    return make_search(name, **SMALL[name])


def _strip(res):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in res.to_records()]


def test_every_search_is_covered():
    assert set(SEARCHES) == set(SMALL) == set(BAD) == {name for name, _ in SPENDS}


@pytest.mark.parametrize("cap", [None, 37])
@pytest.mark.parametrize("name,k", CASES)
def test_the_budget_is_spent_exactly_and_every_query_counted(name, k, cap):
    model = VulnerableSet([])  # nothing fools it: every image runs to the end
    imgs = np.full((3, 8, 8, 3), 90, np.uint8)
    search = _search(name)
    res = op.attack(model, imgs, [0] * 3, pixels=k, search=search, max_queries=cap)
    assert search.max_queries() == SPENDS[(name, k)]
    assert [r.queries for r in res] == [min(SPENDS[(name, k)], cap or SPENDS[(name, k)])] * 3
    assert model.rows == 3 + sum(r.model_queries + r.verify_queries for r in res)  # the clean images, then queries


@pytest.mark.parametrize("name,k", CASES)
def test_a_seed_fixes_the_result_and_batch_mates_do_not_change_it(name, k):
    imgs = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3)).astype(np.uint8)

    def run(images, seeds):
        return op.attack(PlantedPair(), images, [0] * len(images), seed=seeds, pixels=k, search=_search(name),
                         max_queries=300)

    state = np.random.get_state()[1].copy()
    together = run(imgs, [5, 6, 7])
    assert np.array_equal(state, np.random.get_state()[1])  # numpy's global generator is left alone
    assert _strip(together) == _strip(run(imgs, [5, 6, 7]))
    for i in range(3):
        assert _strip(together)[i] | {"index": 0} == _strip(run(imgs[i : i + 1], [5 + i]))[0]
    if name in SEEDED:
        other = run(imgs, [15, 16, 17])
        assert [r.pixels for r in together] != [r.pixels for r in other]


@pytest.mark.parametrize("name,opts", [(name, opts) for name, bad in BAD.items() for opts in bad])
def test_a_bad_setting_is_refused_in_one_line_naming_the_value(name, opts):
    with pytest.raises(InputError) as e:
        SEARCHES[name](**opts)
    message = str(e.value)
    assert "\n" not in message and repr(next(iter(opts.values()))) in message


@pytest.mark.parametrize("name", sorted(SMALL))
def test_an_unknown_option_is_refused_by_name(name):
    with pytest.raises(InputError, match=f"bad option for search '{name}'.*'nope'"):
        make_search(name, nope=1)
