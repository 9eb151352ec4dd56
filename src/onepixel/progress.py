"""The progress bar of long attacks: done/total with a rate and an ETA that stay right when work finishes in
bursts (a batch of attacks ends at once after minutes of rounds)."""

from __future__ import annotations

from typing import Any


def progress_bar(total: int, unit: str, desc: str, initial: int = 0, disable: bool = False) -> Any:
    """A tqdm bar redrawn at most once a second (a redraw per search round floods logs).

    ``smoothing=0`` makes the rate the average since the bar started. tqdm's moving average only takes a sample
    when the count moves, over the time since the last *redraw*; the callers redraw every second to show the
    queries/s, so a burst of 36 attacks after 5 minutes read as 36 attacks in one second (an ETA of minutes
    for a run of hours)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit=unit, desc=desc, disable=disable, smoothing=0,
                mininterval=1.0, miniters=0)


def show_status(bar: Any, fooled: int, finished: int, queries_per_s: float | None) -> None:
    """Put "fooled / finished" and the queries per second after the bar (None: not measured yet). The bar is
    redrawn at its next update, at most once a second."""
    rate = "first round" if not queries_per_s else f"{queries_per_s:,.0f} queries/s"
    bar.set_postfix_str(f"{fooled}/{finished} fooled, {rate}", refresh=False)
