"""The random search (the default): Sparse-RS-style greedy search over k pixels with colour-cube corner colours
(Croce et al., AAAI 2022), one random stream per image.

:class:`RandomSearch` holds the settings and is what users build; at ``start`` it hands the work to one of
two algorithms, by the number of pixels:

* k = 1, :class:`~onepixel.search.corner_walk.CornerWalk`: the space is small (H * W * 8 changes), so it
  walks the best-looking half of the corner changes (``sweep``), each once, in rounds that widen once the
  greedy start is over, then scores the untried corners at its best locations and tries finer colours there;
* k > 1, :class:`~onepixel.search.sparse_rs.SparseRS`: Sparse-RS's schedule of resampling fewer of the k
  pixels as the budget is used, never proposing a set twice.

Both use what the one-pixel changes that fool a net look like (a median of a few dozen of the 8,192 on a
CIFAR-10 ResNet-20; clustered, mostly central and often far from the pixel's own colour):

* a new pixel lands, with probability ``local``, within ``radius`` pixels of the one it replaces (for
  k = 1: of one of the ``elite`` best locations found so far), otherwise anywhere;
* "anywhere" favours the image centre: a Gaussian of width ``centre`` (in image sizes) over locations,
  since classification datasets frame their objects (on ResNet-20 strict images #100-199 two thirds of
  the fooling locations lie in the central quarter of the area, half the fooling changes use one of the
  two corners farthest from the pixel's colour, and the best location by fitness is a fooling one in 37
  of 39 images);
* colours are corners weighted by how far they are from the image's own pixel (``softmax(distance /
  temperature)``) once the runner has shown the search the clean images (:meth:`RandomSearch.observe`): a
  corner close to the original colour barely changes the image. Without images all corners are equally likely.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..candidates import PixelSpace
from ..errors import InputError
from .base import Search
from .colours import colour_grid
from .corner_walk import CornerWalk
from .sparse_rs import SparseRS


@dataclass
class RandomSearch(Search):
    """Greedy random search over k pixels and corner colours, one random stream per image.

    Args:
        budget: queries per image the schedule is planned for (default 10,000).
        batch: proposals per image per round (more: fewer, larger model calls; fewer: more greedy steps).
        p_init: share of the k pixels resampled at first (Sparse-RS's alpha_init; at least one pixel).
        local: probability that a new pixel is drawn near the pixel it replaces (k = 1: near one of the
            ``elite`` best locations so far, including the location itself with another colour).
        radius: half-width of that neighbourhood (a (2r+1)^2 square).
        temperature: colour weighting ``exp(distance / temperature)`` over corners (distances in 0..441;
            10: the farthest corner first, nearly always); None draws corners uniformly. Applies once
            :meth:`observe` has seen the images.
        elite: k = 1: how many of the best locations so far local proposals explore around (the lone
            fooling change of an image is often a 2nd-4th colour at the 2nd-5th best location).
        centre: width of the Gaussian location prior around the image centre, in image sizes (0.2: the
            corner pixels are ~350x less likely than the centre ones); None: uniform.
        levels: colour values per channel (2: cube corners).
        refine: k = 1 with corner colours: queries spent on non-corner colours at the best locations once
            the corner changes are done (never beyond ``budget``).
        greedy: k = 1: queries spent in rounds of ``batch`` before the rounds widen to ``wide``.
        wide: k = 1: proposals per image per round after the first ``greedy`` queries.
        sweep: k = 1: share of the H * W * M corner changes walked, in the walk's order, before the untried
            corners at the best locations so far (256 of them) and the refinement. 0.5: an image that resists
            costs 4,864 queries on CIFAR-10; 1: every corner change (8,704 with the refinement), the corner
            oracle's exact answer before refining. In every stored 200-image cell of the four zoo nets no
            corner change fooled an image after its 2,624th query (docs/benchmarks.md).

    Defaults (batch 8, local 0.5, radius 1, temperature 10, centre 0.2, elite 4) were tuned for k = 1 on ResNet-20
    strict-protocol images #100-199 (benchmarks/search.py reports held-out images #0-99). ``greedy`` 1024 and
    ``wide`` 256 keep the first 1,024 queries exactly as rounds of 8 would make them (where nearly all k = 1
    successes fall) and then cut the rounds of an image that resists from ~960 to ~30; ``sweep`` 0.5 then keeps
    the same successes on 200 held-out AllConv images, untargeted and targeted, with 44 % fewer queries for an image
    that resists (docs/benchmarks.md).
    """

    budget: int = 10_000
    batch: int = 8
    p_init: float = 0.3
    local: float = 0.5
    radius: int = 1
    temperature: float | None = 10.0
    centre: float | None = 0.2
    elite: int = 4
    levels: int = 2
    refine: int = 512
    greedy: int = 1024
    wide: int = 256
    sweep: float = 0.5
    _algo: CornerWalk | SparseRS | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        colour_grid(1, self.levels)
        if self.budget < 1 or self.batch < 1:
            raise InputError(f"budget and batch must be >= 1 (got budget={self.budget}, batch={self.batch})")
        if not 0.0 < self.p_init <= 1.0:
            raise InputError(f"p_init must be in (0, 1] (got {self.p_init})")
        if self.elite < 1:
            raise InputError(f"elite must be >= 1 (got {self.elite})")
        if not 0.0 <= self.local <= 1.0 or self.radius < 1:
            raise InputError(f"local must be in [0, 1] and radius >= 1 (got {self.local}, {self.radius})")
        if self.temperature is not None and self.temperature <= 0:
            raise InputError(f"temperature must be > 0 or None (got {self.temperature})")
        if self.centre is not None and self.centre <= 0:
            raise InputError(f"centre must be > 0 or None (got {self.centre})")
        if self.refine < 0:
            raise InputError(f"refine must be >= 0 queries (got {self.refine})")
        if not 0.0 < self.sweep <= 1.0:
            raise InputError(f"sweep must be in (0, 1] (got {self.sweep})")
        if self.greedy < 0 or self.wide < 1:
            raise InputError(f"greedy must be >= 0 queries and wide >= 1 (got {self.greedy}, {self.wide})")

    @property
    def algorithm(self) -> CornerWalk | SparseRS:
        """The running algorithm's state (after :meth:`start`)."""
        if self._algo is None:
            raise RuntimeError("the search was used before start(); call start(space, seeds) first")
        return self._algo

    def max_queries(self) -> int:
        """The budget; for k = 1 at most H * W * M (every change tried: the oracle's answer) plus the refinement."""
        return self._algo.max_queries() if self._algo is not None else self.budget

    def start(self, space: PixelSpace, seeds: list[int]) -> None:
        if space.pixels > space.height * space.width:
            raise InputError(f"{space.pixels} pixels do not fit a {space.width}x{space.height} image")
        self._algo = CornerWalk(self, space, seeds) if space.pixels == 1 else SparseRS(self, space, seeds)

    def observe(self, images: np.ndarray) -> None:
        """Weight corners by their distance to each image's own pixels (uint8 (n, H, W, C) clean images)."""
        self.algorithm.observe(images)

    def round_sizes(self, rows: np.ndarray) -> np.ndarray:
        """Proposals per row in the next :meth:`ask` (its columns past a row's size are padding, not to be
        evaluated): ``batch``; for k = 1 ``wide`` after the first ``greedy`` queries."""
        return self.algorithm.round_sizes(rows)

    def ask(self, rows: np.ndarray) -> np.ndarray:
        return self.algorithm.ask(rows)

    def tell(self, rows: np.ndarray, fitness: np.ndarray) -> None:
        self.algorithm.tell(rows, fitness)

    def exhausted(self, rows: np.ndarray) -> np.ndarray:
        return self.algorithm.exhausted(rows)
