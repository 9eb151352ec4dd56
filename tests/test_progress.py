import io

import numpy as np

from onepixel.progress import progress_bar


def test_eta_of_bursty_work_counts_the_whole_wait():
    """A campaign redraws every second (queries/s) but finishes its attacks in bursts: 18 attacks after 300 s of
    rounds. The rate must be 18 / 300 s, not 18 in the half second since the last redraw (tqdm's moving average,
    which read a 7-hour VGG16 campaign as 3 minutes from its end)."""
    bar = progress_bar(total=936, unit="attack", desc="evaluate", initial=900)
    bar.fp = io.StringIO()
    now = [0.0]
    bar._time = lambda: now[0]
    bar.start_t = bar.last_print_t = 0.0
    for tick in range(1, 601):  # the campaign's loop: every 0.5 s, update by what the store holds now
        now[0] = tick / 2
        bar.update((18 if now[0] >= 300 else 0) + bar.initial - bar.n)  # half the batch ends at t = 300 s
    rate = bar.format_dict["rate"] or (bar.n - bar.initial) / bar.format_dict["elapsed"]
    assert abs(rate - 18 / 300) < 1e-9
    assert "05:00<05:00" in str(bar)  # 5 min spent, 18 left at 0.06/s: 5 min to go
    bar.close()


def _rounds(model, images, labels, targets, search, crit=None):
    """Every progress snapshot of one run, and its results."""
    from onepixel.models.callable import CallableClassifier
    from onepixel.objectives import Targeted, Untargeted
    from onepixel.runner import Runner

    seen = []
    crit = crit or (Untargeted() if targets is None else Targeted())
    res = Runner(CallableClassifier(model), crit, search).run(images, np.asarray(labels), targets,
                                                              list(range(len(labels))), progress=seen.append)
    return seen, res


def test_runner_progress_counts_queries_monotonically_up_to_the_budget(grey_images):
    """Queries only grow, the most the run can spend only shrinks (early stops give budget back), they start at
    0 of every image's whole budget and meet at the queries the results report."""
    from onepixel.search import DifferentialEvolution, RandomSearch
    from toys.black_boxes import PlantedPixel

    for model, targets, search, budget in (
            (PlantedPixel(strong_target=1), np.array([2, 2, 2]), DifferentialEvolution(20, 7), 160),  # unreachable
            (PlantedPixel(), None, RandomSearch(budget=300), 300)):
        seen, res = _rounds(model, grey_images, [0, 0, 0], targets, search)
        queries = [p.queries for p in seen]
        most = [p.max_queries for p in seen]
        assert queries == sorted(queries) and most == sorted(most, reverse=True)
        assert all(q <= m <= 3 * budget for q, m in zip(queries, most))
        assert queries[0] == 3 * (search.batch if isinstance(search, RandomSearch) else search.popsize)
        assert queries[-1] == most[-1] == sum(r.queries for r in res)
        assert [p.finished for p in seen][-1] == 3 and seen[-1].successes == sum(r.success for r in res)
        if targets is not None:
            assert queries[-1] == 3 * budget  # nothing stopped early: the whole budget, reached exactly
        else:
            assert most[-1] < 3 * budget and all(r.success for r in res)  # stopped early: budget given back


def test_runner_progress_best_probability_only_improves(grey_images):
    """The probability the search pushes (here the true class's, down) at the best candidate so far."""
    from onepixel.search import RandomSearch
    from toys.black_boxes import PlantedPixel

    seen, res = _rounds(PlantedPixel(), grey_images[:1], [0], None, RandomSearch(budget=500))
    best = [float(p.best_prob[0]) for p in seen]
    assert best == sorted(best, reverse=True) and best[-1] < 0.05 and res[0].success


def test_api_progress_is_quiet_off_a_terminal_and_shows_queries_and_best_probability(capsys, grey_images):
    import onepixel as op
    from onepixel.progress import interactive
    from toys.black_boxes import PlantedPixel

    assert not interactive()  # pytest captures stderr: not a terminal
    op.attack(PlantedPixel(), grey_images[:1], [0], max_queries=64)
    assert capsys.readouterr().err == ""
    op.attack(PlantedPixel(), grey_images[:1], [0], max_queries=64, progress=True)
    err = capsys.readouterr().err
    assert "queries" in err and "best p(class 0)" in err
    res = op.attack(PlantedPixel(), grey_images, [0, 0, 0], max_queries=600, progress=True)
    assert f"images 3/3, {sum(r.success for r in res)} fooled" in capsys.readouterr().err
