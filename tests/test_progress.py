import io

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
