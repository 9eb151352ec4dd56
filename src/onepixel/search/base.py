"""The ask/tell interface every search implements."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..candidates import PixelSpace


class Search(Protocol):
    """A batched black-box minimiser over :class:`PixelSpace` candidates.

    ``start`` prepares one state row per image with its own seed. Then, repeatedly, ``ask(rows)`` returns
    candidates (len(rows), n, dim) for the given state rows and ``tell(rows, fitness)`` hands back their
    fitness (len(rows), n), lower is better; ``inf`` marks a candidate that was not evaluated (budget spent),
    which must never be preferred. ``exhausted(rows)`` says which rows have nothing left to try.

    Two members have defaults that a search inherits by subclassing :class:`Search` (the built-in ones do):

    - ``observe(images)``: the runner calls it right after ``start`` with the clean uint8 (n, H, W, C) images,
      one per state row (an attacker always has its own input; the random search uses it to prefer colours far
      from each pixel's own). The model stays out of reach. Default: nothing.
    - ``round_sizes(rows)``: how many of the columns of the next ``ask`` are real proposals for each row (the
      rest is padding that is never evaluated; its fitness comes back as ``inf``). The random search uses it to
      keep small greedy rounds for some images and wide rounds for others in one batch; each row's model chunks
      then follow its own round size, never its batch-mates'. Default: None, every column is a proposal.
    """

    def start(self, space: PixelSpace, seeds: list[int]) -> None: ...

    def ask(self, rows: np.ndarray) -> np.ndarray: ...

    def tell(self, rows: np.ndarray, fitness: np.ndarray) -> None: ...

    def exhausted(self, rows: np.ndarray) -> np.ndarray: ...

    def max_queries(self) -> int:
        """Queries a row spends if it never stops early (used for budgets and progress)."""
        ...

    def observe(self, images: np.ndarray) -> None:
        """See the clean images, one per state row (called once, right after ``start``)."""
        return None

    def round_sizes(self, rows: np.ndarray) -> np.ndarray | None:
        """Real proposals per row in the next ``ask``; None: every column."""
        return None


def started(space: PixelSpace | None) -> PixelSpace:
    """The space a search's ``start`` was given (a search used before ``start`` fails here, by name)."""
    if space is None:
        raise RuntimeError("the search was used before start(); call start(space, seeds) first")
    return space
