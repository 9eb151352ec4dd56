import io

import numpy as np

from onepixel.progress import progress_bar


def test_eta_of_bursty_work_counts_the_whole_wait():
    """A campaign redraws every second (queries/s) but finishes its attacks in bursts: 18 attacks after 300 s of
    rounds. The rate must be 18 / 300 s, not 18 in the half second since the last redraw (tqdm's moving average,
    which read a 7-hour VGG16 campaign as 3 minutes from its end)."""
    bar = progress_bar(total=936, unit="attack", desc="evaluate", initial=900, log=False)
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


def _synthetic_run(stops, budget=8704, images=20, first=8, widen=64):
    """Per-round snapshots of a batch in lockstep: every running attack spends ``first`` queries in its first
    round, then ``widen`` a round; attack i stops at ``stops[i]`` queries (None: runs its whole budget)."""
    ends = np.array([budget if s is None else s for s in stops] + [budget] * (images - len(stops)))
    q, snaps = np.zeros(images, dtype=np.int64), []
    step = first
    while (q < ends).any():
        q = np.minimum(np.where(q < ends, q + step, q), ends)
        snaps.append((q.copy(), q < ends))
        step = widen
    return snaps, int(ends.sum())


def test_query_forecast_expects_early_stops_within_1_5x_at_a_tenth_of_the_work():
    """A batch like a 20-image strict campaign: some images fooled early (from 20 to 4,000 queries), the rest run
    the whole 8,704. At a tenth of the work the forecast total is within 1.5x of the truth and closer than counting
    every running attack's whole budget (the old ETA); when every stop comes early and no more follow, the
    forecast's optimism stays within 1.5x too."""
    from onepixel.progress import QueryForecast

    for stops in ([20, 30, 50, 80, 120, 200, 300, 500, 800, 1200, 2000, 4000], [40, 90, 150, 260, 500, 900, 1700],
                  [100] * 8, [3000, 5000]):
        snaps, actual = _synthetic_run(stops)
        forecast = QueryForecast()
        for q, running in snaps:
            expected = forecast.expected_total(q, running, 8704)
            if q.sum() >= 0.1 * actual:
                break
        whole = q[~running].sum() + 8704 * running.sum()
        assert 1 / 1.5 < expected / actual < 1.5, (stops, expected / actual)
        assert q.sum() <= expected <= whole
        if len(stops) > 2 and stops[0] != stops[-1]:  # stops still coming: the forecast is the closer one
            assert abs(np.log(expected / actual)) < abs(np.log(whole / actual)), (stops, expected / actual)


def test_query_forecast_bounds_and_its_pieces():
    from onepixel.progress import QueryForecast, StopRate, expected_queries

    assert expected_queries(100, 8704, 0.0, 8) == 8704  # no stop seen: the whole budget
    assert expected_queries(8704, 8704, 0.5, 8) == 8704  # at the budget: nothing more
    less = [float(expected_queries(100, 8704, r, 8)) for r in (0.1, 0.5, 1 / np.log2(np.e), 2.0)]  # c = 1 included
    assert all(100 < a < 8704 for a in less) and less == sorted(less, reverse=True)
    rate = StopRate()
    rate.add(np.array([8, 16, 32, 64]), np.array([False, True, False, True]), 8)  # 0 + 1 + 2 + 3 doublings
    assert rate.stops == 2 and rate.doublings == 6 and rate.per_doubling == 2 / 6
    f = QueryForecast()  # nothing stopped yet: every attack's whole budget, unstarted ones too
    assert f.expected_total(np.array([8, 8]), np.array([True, True]), 100, [(3, 50)]) == 2 * 100 + 3 * 50
    f.expected_total(np.array([16, 100]), np.array([False, False]), 100)  # one stopped early at 16, one ran out
    f.batch_done()
    assert f.finished.stops == 1 and f.finished.doublings == 1 + np.log2(100 / 8)
    later = f.expected_total(np.array([8]), np.array([True]), 100, [(2, 100)])
    assert 3 * 8 < later < 3 * 100  # the next batch expects early stops at the rate seen


def test_log_bar_prints_a_plain_line_every_tenth_or_minute_never_a_carriage_return():
    import io

    from onepixel.progress import LogBar

    now = [0.0]
    out = io.StringIO()
    bar = LogBar(1000, " queries", "evaluate", file=out, clock=lambda: now[0])
    for i in range(100):  # 1 % every second: a line per 10 %
        now[0] += 1.0
        bar.set_postfix_str(f"attacks {i}/100")
        bar.update(10)
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and len(lines) == 11  # the first round, then every 10 %, the end
    assert lines[-1].startswith("evaluate: 100%") and "1000/1000" in lines[-1] and "attacks 99/100" in lines[-1]
    out.truncate(0), out.seek(0)
    bar = LogBar(1000, " queries", "evaluate", file=out, clock=lambda: now[0])
    for _ in range(5):  # slow work: a line a minute even though a tenth is not done
        now[0] += 61.0
        bar.update(1)
    assert len(out.getvalue().splitlines()) == 5 and "<" in out.getvalue()  # elapsed<ETA


def test_the_cli_progress_in_a_log_is_plain_lines(tmp_path, capfd, grey_images):
    """stderr not a terminal (a log, a pipe): no carriage-return redraws, a few whole lines."""
    import torch
    from torch import nn

    from onepixel.cli import main
    from onepixel.imageio import write_png

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()
    torch.jit.save(torch.jit.script(net), str(tmp_path / "net.pt"))
    write_png(tmp_path / "img.png", grey_images[0])
    assert main(["attack", str(tmp_path / "img.png"), "-m", str(tmp_path / "net.pt"), "--max-queries", "300",
                 "--figure", "none"]) == 0
    err = capfd.readouterr().err
    assert "\r" not in err and 1 <= len(err.splitlines()) <= 12 and "queries" in err, err


def test_progress_shows_in_a_notebook(monkeypatch):
    """A Jupyter kernel counts as a person watching (tqdm.auto then draws a notebook widget), a plain script not."""
    import sys
    import types

    from onepixel.progress import interactive

    assert not interactive()
    shell = types.SimpleNamespace(config={"IPKernelApp": {}})
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    assert interactive()


def test_the_eta_uses_the_rate_after_the_first_round():
    """The first round pays one-off costs (8 s for 160 queries in the demo, then ~200 queries/s): the rate and
    ETA shown are those since the first round ended, not the average since the start."""
    import io

    from onepixel.progress import LogBar, show_queries

    now = [0.0]
    out = io.StringIO()
    bar = LogBar(None, " queries", "evaluate", file=out, clock=lambda: now[0])
    now[0] = 8.0
    show_queries(bar, 160, 16_000, 16_000, "")  # the first round: slow
    for t in range(1, 11):  # then 200 queries/s
        now[0] = 8.0 + t
        show_queries(bar, 160 + 200 * t, 16_000, 16_000, "")
    assert bar.steady_rate == 200.0
    last = str(bar)
    assert "200.00 queries/s" in last and "<01:09" in last  # (16,000 - 2,160) / 200 queries/s = 69 s


def test_the_expected_total_moves_only_for_a_real_change_and_ends_exact():
    import io

    from onepixel.progress import LogBar, show_queries

    bar = LogBar(19_500, " queries", "attack", file=io.StringIO())  # a total set before the first round
    totals = []
    for spent, expected in [(160, 19_008), (800, 15_601), (1_600, 16_425), (2_400, 15_878), (3_000, 15_700),
                            (9_000, 14_000), (13_950, 13_950)]:
        show_queries(bar, spent, expected, 19_008, "")
        totals.append(bar.total)
    # never above the most (19,500 -> 19,008), within 5 % of the total shown (16,425 -> 15,878, 15,700) it
    # stays; the end is exact
    assert totals == [19_008, 15_601, 16_425, 16_425, 16_425, 14_000, 13_950]


def test_a_download_in_a_log_is_plain_lines(tmp_path, capfd):
    """The CIFAR-10 download's bar (here from a local file: no network) in a log: whole lines, bytes scaled."""
    from onepixel.data.download import fetch_url

    src = tmp_path / "archive.bin"
    src.write_bytes(bytes(3_000_000))
    fetch_url(src.as_uri(), tmp_path / "copy.bin", progress=True)
    err = capfd.readouterr().err
    assert (tmp_path / "copy.bin").read_bytes() == src.read_bytes()
    assert "\r" not in err and err.splitlines()[-1].startswith("CIFAR-10: 100% 3.00M/3.00M"), err
