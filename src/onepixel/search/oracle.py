"""The exhaustive one-pixel scan as an ask/tell search: every location x every grid colour.

:class:`Oracle` is the ceiling of one-pixel searches run like any other search (the runner then stops at the
first verified success, or at the threshold). The same scan judged change by change, with the full map of
which changes fool the model, is :func:`onepixel.oracle.one_pixel_oracle` (it queries the model, so it lives
beside the runner, not among the searches).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..candidates import PixelSpace
from ..errors import InputError
from .base import Search
from .colours import colour_grid, grid_changes


def scan_candidates(space: PixelSpace, colours: np.ndarray, start: int, count: int) -> np.ndarray:
    """Candidates ``start .. start+count-1`` of the location-major scan (location y*W+x, then colour): an
    int start gives (count, dim), an array of starts (n,) gives (n, count, dim).

    Indices past the end wrap around; the runner never evaluates them because the budget ends first.
    """
    i = (np.asarray(start)[..., None] + np.arange(count)) % (space.height * space.width * len(colours))
    return grid_changes(i, space.width, colours)


@dataclass
class Oracle(Search):
    """Exhaustive one-pixel scan as a :class:`~onepixel.search.base.Search` (k = 1 only).

    Args:
        levels: values per channel of the colour grid (2: the 8 RGB-cube corners, 2 for greyscale;
            3: 27 colours; ...). Queries per image: ``H * W * levels**C`` (8,192 on CIFAR-10 corners).
        batch: candidates per image per round.

    The scan order is fixed (seeds are ignored): row-major locations, each with every grid colour.
    """

    levels: int = 2
    batch: int = 256
    _space: PixelSpace | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        colour_grid(1, self.levels)  # validates levels
        if self.batch < 1:
            raise InputError(f"oracle batch must be >= 1 (got {self.batch})")

    def start(self, space: PixelSpace, seeds: list[int]) -> None:
        if space.pixels != 1:
            raise InputError(f"the exhaustive oracle covers one-pixel changes only (asked for {space.pixels} pixels)")
        self._space = space
        self._colours = colour_grid(space.channels, self.levels)
        self._next = np.zeros(len(seeds), dtype=np.int64)

    def max_queries(self) -> int:
        """Every location x every grid colour (known after ``start``)."""
        assert self._space is not None, "call start() first"
        return self._space.height * self._space.width * len(self._colours)

    def ask(self, rows: np.ndarray) -> np.ndarray:
        assert self._space is not None, "call start() first"
        return scan_candidates(self._space, self._colours, self._next[rows], self.batch)

    def tell(self, rows: np.ndarray, fitness: np.ndarray) -> None:
        self._next[rows] += fitness.shape[1]

    def exhausted(self, rows: np.ndarray) -> np.ndarray:
        return self._next[rows] >= self.max_queries()
