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
