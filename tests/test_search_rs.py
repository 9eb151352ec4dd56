import numpy as np
import pytest

import onepixel as op
from onepixel.candidates import PixelSpace, decode
from onepixel.search import RandomSearch
from toys.black_boxes import NearColour, PlantedPair, SmoothSpot, VulnerableSet


def _strip(res):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in res.to_records()]


def test_untargeted_finds_the_planted_pixel(planted, grey_images):
    res = op.attack(planted, grey_images, [0, 0, 0], search="rs", max_queries=600, stop_on_success=True)
    for r in res:
        assert r.success and r.predicted_after != 0
        assert r.pixels == [(5, 2, 255, 0, 0)]
        assert r.queries <= 8 * 8 * 8  # never repeats a change: the whole space is 512
        assert r.model_queries == r.queries  # nothing for the memo to answer
    assert planted.rows == 3 + sum(r.model_queries + r.verify_queries for r in res)


def test_targeted_reaches_the_planted_target(grey_images):
    from toys.black_boxes import PlantedPixel

    res = op.attack(PlantedPixel(strong_target=2), grey_images[:2], [0, 0], targets=2, search="rs", max_queries=600)
    assert all(r.success and r.predicted_after == 2 and r.target_prob_after > 0.9 for r in res)


@pytest.mark.parametrize("k", [2, 3])
def test_greedy_assembles_a_planted_pair(k):
    model = PlantedPair()
    imgs = np.full((3, 8, 8, 3), 128, np.uint8)
    res = op.attack(model, imgs, [0, 0, 0], pixels=k, search=RandomSearch(budget=20_000, batch=8), max_queries=20_000,
                    stop_on_success=True)
    for r in res:
        assert r.success
        assert {(1, 1, 255, 255, 255), (6, 5, 0, 0, 255)} <= set(r.pixels)
    assert model.rows == 3 + sum(r.model_queries + r.verify_queries for r in res)


def test_smooth_landscape_is_climbed_with_many_pixels():
    imgs = np.full((2, 16, 16, 3), 128, np.uint8)
    res = op.attack(SmoothSpot(width=1.5), imgs, [0, 0], pixels=5, search="rs", max_queries=2000, stop_on_success=True)
    assert all(r.success for r in res)


def _drive(search, space, seeds, rounds, fitness):
    rows = np.arange(len(seeds))
    search.start(space, seeds)
    out = []
    for _ in range(rounds):
        cand = search.ask(rows)
        out.append(cand.copy())
        search.tell(rows, fitness(cand))
    return np.stack(out, 1)


def test_one_pixel_proposals_never_repeat_and_stay_in_the_image():
    space = PixelSpace(8, 8, 3, 1)
    cand = _drive(RandomSearch(budget=512, batch=8), space, [0, 1], 64, lambda c: np.random.default_rng(0).random(c.shape[:2]))
    pix = decode(cand.reshape(2, -1, space.dim), space)
    for i in range(2):
        keys = {(int(x), int(y), tuple(c)) for x, y, c in zip(pix.x[i, :, 0], pix.y[i, :, 0], pix.colours[i, :, 0].tolist(), strict=True)}
        assert len(keys) == 512  # all 8 x 8 x 8 corner changes, each once
    assert set(np.unique(pix.colours)) == {0, 255}
    rs = RandomSearch(budget=10_000, batch=7, refine=0)
    rs.start(space, [0])
    rows = np.array([0])
    for _ in range(80):  # past the 512 changes: proposals are padding, never out of range
        c = rs.ask(rows)
        rs.tell(rows, np.ones(c.shape[:2]))
    assert rs.max_queries() == 512 and rs.exhausted(rows).all()


def test_after_the_corners_finer_colours_at_the_best_locations_find_a_non_corner_change():
    imgs = np.full((2, 8, 8, 3), 128, np.uint8)
    res = op.attack(NearColour(), imgs, [0, 0], search="rs", stop_on_success=True)
    for r in res:
        assert r.success and r.pixels == [(5, 2, 0, 64, 255)]
        assert 512 < r.queries <= 512 + 3 * 30  # all 512 corner changes, then its 3rd-nearest colour at the best spot
    model = NearColour()
    res = op.attack(model, imgs, [0, 0], search=RandomSearch(refine=0), stop_on_success=True)
    assert not any(r.success for r in res) and [r.queries for r in res] == [512, 512]  # the corner oracle's answer
    assert model.rows == 2 + sum(r.model_queries + r.verify_queries for r in res)


def test_a_partial_sweep_walks_the_first_share_of_the_order_completes_the_best_locations_then_refines():
    space = PixelSpace(16, 16, 3, 1)  # 2,048 corner changes
    rows = np.array([0])
    images = np.random.default_rng(1).integers(0, 256, (1, 16, 16, 3)).astype(np.uint8)

    def fitness(c):  # every location its own level; a pixel's nearest corner (walked last) scores best there
        loc = c[0, :, 1] * 16 + c[0, :, 0]
        near = np.linalg.norm(c[0, :, 2:] - images[0, c[0, :, 1].astype(int), c[0, :, 0].astype(int)], axis=1) < 128
        return (1.0 - 0.001 * ((loc * 37) % 256) - 0.5 * near)[None]

    runs = {}
    for name, rs in (("full", RandomSearch(batch=8, sweep=1.0)), ("half", RandomSearch(batch=8, sweep=0.5))):
        rs.start(space, [3])
        rs.observe(images)
        out, snapshot = [], None
        while not rs.exhausted(rows).all():
            if name == "half" and rs.algorithm.used[0] == 1024:
                snapshot = rs.algorithm.locfit[0].copy(), rs.algorithm.visited[0].copy()
            c = rs.ask(rows)
            size = int(rs.round_sizes(rows)[0])
            out += [tuple(v) for v in c[0, :size].tolist()]
            rs.tell(rows, np.where(np.arange(c.shape[1]) < size, fitness(c), np.inf))
        runs[name] = out, snapshot
    full, half = runs["full"][0], runs["half"][0]
    assert len(full) == 2048 + 512
    assert len(half) == len(set(half)) == 1024 + 256 + 512  # half the corners, 256 completing them, the refinement
    assert half[:1024] == full[:1024]  # the same walk, cut at half its length
    locfit, visited = runs["half"][1]
    ranked = np.argsort(locfit, kind="stable")
    want = [int(loc) * 8 + j for loc in ranked for j in range(8) if not visited[loc * 8 + j]][:256]
    got = [(int(y) * 16 + int(x)) * 8 + int((r > 0) * 4 + (g > 0) * 2 + (b > 0)) for x, y, r, g, b in half[1024:1280]]
    assert got == want  # the untried corners at the best locations so far, best location first
    assert all(set(v[2:]) - {0.0, 255.0} for v in half[1280:])  # then finer colours only


def test_refinement_stays_inside_the_budget():
    model = VulnerableSet([])
    imgs = np.full((2, 8, 8, 3), 90, np.uint8)
    for budget, spent in ((600, 600), (10_000, 512 + 512), (300, 300)):
        res = op.attack(model, imgs, [0, 0], search=RandomSearch(budget=budget, batch=7))
        assert [r.queries for r in res] == [spent, spent]
    rs = RandomSearch(budget=10_000, batch=8)
    rs.start(PixelSpace(8, 8, 3, 1), [0])
    rows = np.array([0])
    seen = set()
    while not rs.exhausted(rows).all():
        c = rs.ask(rows)
        seen |= {tuple(v) for v in c[0].tolist()}
        rs.tell(rows, np.ones(c.shape[:2]))
    assert rs.max_queries() == 1024 and len(seen) == 1024  # no change is proposed twice, corner or not


def test_schedule_resamples_fewer_pixels_as_the_budget_is_used():
    rs = RandomSearch(budget=1000, p_init=0.5)
    rs.start(PixelSpace(32, 32, 3, 20), [0])
    counts = []
    for used in (0, 10, 60, 300, 900):
        rs.algorithm.used[0] = used
        counts.append(int(rs.algorithm.resampled(np.array([0]))[0]))
    assert counts == sorted(counts, reverse=True) and counts[0] == 10 and counts[-1] == 1


def test_colour_prior_prefers_far_corners():
    rs = RandomSearch(budget=10_000, batch=16, local=0.0)
    space = PixelSpace(8, 8, 3, 1)
    rs.start(space, [0])
    rs.observe(np.zeros((1, 8, 8, 3), np.uint8))  # a black image: white is the farthest corner
    cand = rs.ask(np.array([0]))
    colours = decode(cand, space).colours[0, :, 0]
    assert (colours == 255).all(-1).mean() > 0.5


def test_unevaluated_proposals_are_never_accepted():
    rs = RandomSearch(budget=100, batch=4)
    space = PixelSpace(8, 8, 3, 2)
    rs.start(space, [0])
    rows = np.array([0])
    rs.tell(rows, rs.ask(rows).sum(-1))
    before = rs.algorithm.loc.copy(), rs.algorithm.fit.copy()
    rs.ask(rows)
    rs.tell(rows, np.full((1, 4), np.inf))
    assert np.array_equal(rs.algorithm.loc, before[0]) and np.array_equal(rs.algorithm.fit, before[1])


def test_attack_defaults_to_rs_and_de_settings_need_de(planted, grey_images):
    from onepixel.api import DEFAULT_SEARCH
    from onepixel.errors import InputError
    from onepixel.search import DifferentialEvolution

    assert DEFAULT_SEARCH == "rs"
    rs = op.attack(planted, grey_images[:1], [0], stop_on_success=True)
    assert rs[0].success and rs[0].queries % 8 == 0 and rs[0].queries < 400  # rounds of 8, not generations of 400
    for search in (None, "rs", DifferentialEvolution(popsize=20)):  # never a silent switch, nor a setting ignored
        with pytest.raises(InputError, match="popsize=20, generations=3: DE settings"):
            op.attack(planted, grey_images[:1], [0], search=search, popsize=20, generations=3)
    de = op.attack(planted, grey_images[:1], [0], search="de", popsize=20, generations=3)
    assert de[0].queries % 20 == 0 and de[0].generations <= 3
    same = op.attack(planted, grey_images[:1], [0], search=DifferentialEvolution(popsize=20, generations=3))
    assert same[0].queries == de[0].queries and same[0].pixels == de[0].pixels
    paper = op.attack(planted, grey_images[:1], [0], search="de", stop_on_success=True)
    assert paper[0].queries % 400 == 0


def _distinct_share(monkeypatch, redraws):
    """Share of distinct pixel sets among a stuck k = 2 search's proposals (its first set is never beaten)."""
    from onepixel.search import sparse_rs as rs_module

    monkeypatch.setattr(rs_module, "REDRAWS", redraws)
    space = PixelSpace(8, 8, 3, 2)
    fitness = iter([np.zeros((3, 8))] + [np.ones((3, 8))] * 59)
    cand = _drive(RandomSearch(budget=1200, batch=8), space, [0, 1, 2], 60, lambda c: next(fitness))
    pix = decode(cand.reshape(3, -1, space.dim), space)
    shares = []
    for i in range(3):
        sets = {frozenset(zip(pix.x[i, j].tolist(), pix.y[i, j].tolist(), map(tuple, pix.colours[i, j].tolist()), strict=True))
                for j in range(pix.x.shape[1])}
        shares.append(len(sets) / pix.x.shape[1])
    return min(shares)


def test_many_pixel_proposals_do_not_repeat(monkeypatch):
    # Stuck late in the budget, one pixel moved to a neighbour in the far corner leaves few variants.
    assert _distinct_share(monkeypatch, redraws=0) < 0.8
    assert _distinct_share(monkeypatch, redraws=8) == 1.0


def test_refinement_starts_at_its_first_change_when_the_batch_does_not_divide_the_corners():
    rs = RandomSearch(budget=10_000, batch=7, sweep=1.0)  # 512 corner changes = 73 rounds of 7 + a round of 1
    rs.start(PixelSpace(8, 8, 3, 1), [0])
    rows = np.array([0])
    fine, sizes = [], []
    while not rs.exhausted(rows).all():
        c = rs.ask(rows)
        sizes.append(int(rs.round_sizes(rows)[0]))
        if rs.algorithm.used[0] >= 512:
            fine += [tuple(v) for v in c[0, : sizes[-1]].tolist()]
        rs.tell(rows, np.where(np.arange(c.shape[1]) < sizes[-1], 1.0, np.inf)[None])
    walk = rs.algorithm
    loc = walk.plan_locs[0, 0]
    first = tuple(np.r_[loc % 8, loc // 8, walk.fine[walk.plan_colours[0, 0, 0]]].tolist())
    assert sizes[:74] == [7] * 73 + [1]  # no round crosses the end of the corners: nothing is padded
    assert fine[0] == first and len(set(fine)) == len(fine) == 512  # 74 rounds from 512 used, all new


def test_a_large_image_orders_only_what_the_budget_can_reach_and_in_the_same_order():
    """On a large image the fixed order is partitioned, not sorted: its head must be exactly the stable sort's."""
    rs = RandomSearch(budget=300)
    rs.start(PixelSpace(64, 48, 3, 1), seeds=[3, 4])
    rs.observe(np.random.default_rng(0).integers(0, 256, (2, 48, 64, 3)).astype(np.uint8))
    walk = rs.algorithm
    full = np.argsort(-walk.keys, axis=1, kind="stable")
    assert walk.order.shape == (2, 300 + 4 * rs.wide + 64) and walk.keys.shape == (2, 64 * 48 * 8)
    assert (walk.order == full[:, : walk.order.shape[1]]).all()


def test_the_elite_kept_up_to_date_is_what_sorting_every_location_would_give():
    """k = 1 keeps its best locations incrementally; with tied and missing fitness it must match a stable sort."""
    rs = RandomSearch(budget=400, batch=8)
    rs.start(PixelSpace(6, 5, 3, 1), seeds=[1, 2, 3])
    rng = np.random.default_rng(0)
    rows = np.arange(3)
    for _ in range(20):
        rs.ask(rows)
        fitness = rng.choice([0.25, 0.5, 0.75, np.inf], size=(3, rs.batch))  # ties, and unanswered slots
        rs.tell(rows, fitness)
        full = np.argsort(rs.algorithm.locfit, axis=1, kind="stable")[:, : rs.elite]
        assert (rs.algorithm.elite == full).all()


def test_one_pixel_rounds_widen_after_the_greedy_start_and_keep_its_proposals():
    """k = 1: rounds of ``batch`` for the first ``greedy`` queries (the same proposals as never widening), then
    rounds of ``wide``, the last corner round cut at the end of the corners."""
    space = PixelSpace(8, 8, 3, 1)
    fitness = lambda c: np.random.default_rng(int(c.sum()) % 2**32).random(c.shape[:2])  # noqa: E731
    runs = {}
    for wide in (8, 48):
        rs = RandomSearch(budget=10_000, batch=8, greedy=64, wide=wide, refine=0)
        rs.start(space, [0, 1])
        rows, sizes, seen = np.arange(2), [], []
        while not rs.exhausted(rows).all():
            c = rs.ask(rows)
            size = rs.round_sizes(rows)
            sizes.append(int(size[0]))
            seen += [tuple(v) for v in c[0, : size[0]].tolist()]
            rs.tell(rows, np.where(np.arange(c.shape[1]) < size[:, None], fitness(c), np.inf))
        runs[wide] = sizes, seen
    (narrow, seen8), (wide, seen48) = runs[8], runs[48]
    assert narrow == [8] * 64
    assert wide == [8] * 8 + [48] * 9 + [16]  # 64 + 432 + the last 16 of the 512 corner changes
    assert seen48[:64] == seen8[:64] and sorted(seen48) == sorted(seen8) and len(set(seen48)) == 512


def test_wide_rounds_are_independent_of_the_batch():
    imgs = np.random.default_rng(1).integers(0, 256, (3, 8, 8, 3)).astype(np.uint8)
    search = dict(budget=10_000, greedy=40, wide=24)
    together = op.attack(VulnerableSet([]), imgs, [0] * 3, seed=[4, 5, 6], search=RandomSearch(**search))
    alone = op.attack(VulnerableSet([]), imgs[1:2], [0], seed=[5], search=RandomSearch(**search))
    assert together[1].queries == 512 + 512 and together[1].generations + 1 == 5 + 19 + 1 + 21 + 1  # greedy, corners, their cut end, refinement, its end
    assert _strip(together)[1] | {"index": 0} == _strip(alone)[0]
