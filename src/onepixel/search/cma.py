"""CMA-ES on the continuous (x, y, colour) encoding, through the optional ``cma`` package (``onepixel[cma]``).

Each image runs its own ``cma.CMAEvolutionStrategy`` in the unit box (every coordinate scaled to [0, 1], so
one step size fits x, y and colours alike), seeded from that image's own random stream, and restarts from a
fresh random point whenever CMA-ES declares convergence, until the query budget is spent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..candidates import PixelSpace
from ..errors import InputError, OnepixelError
from .base import Search, started


def _cma_module() -> Any:
    """Import ``cma`` on first use: it is an optional dependency."""
    try:
        import cma
    except ImportError:
        raise OnepixelError("the CMA-ES search needs the 'cma' package: pip install 'onepixel[cma]'") from None
    return cma


@dataclass
class CMAES(Search):
    """CMA-ES per image with restarts (a baseline for the continuous encoding).

    Args:
        budget: queries per image (default 10,000).
        popsize: candidates per generation; None: CMA-ES's default ``4 + 3 ln(dim)`` (8 for one RGB pixel).
        sigma: initial step size in the unit box (0.3: about a third of the image and of the colour range).
    """

    budget: int = 10_000
    popsize: int | None = None
    sigma: float = 0.3
    _space: PixelSpace | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise InputError(f"CMA-ES budget must be >= 1 (got {self.budget})")
        if self.popsize is not None and self.popsize < 2:
            raise InputError(f"CMA-ES population must be >= 2 (got {self.popsize})")
        if not 0.0 < self.sigma <= 1.0:
            raise InputError(f"CMA-ES sigma must be in (0, 1] (got {self.sigma})")

    def max_queries(self) -> int:
        return self.budget

    @property
    def _sp(self) -> PixelSpace:
        return started(self._space)

    def start(self, space: PixelSpace, seeds: list[int]) -> None:
        self._cma = _cma_module()
        self._space = space
        self._lo, self._hi = space.bounds()
        self._n = self.popsize or 4 + int(3 * math.log(space.dim))
        self._rngs = [np.random.default_rng(np.random.SeedSequence([s, 0xC3A])) for s in seeds]
        self._es: list[Any] = [self._new(r) for r in range(len(seeds))]
        self._asked: dict[int, list[np.ndarray]] = {}
        self._used = np.zeros(len(seeds), dtype=np.int64)

    def _new(self, r: int) -> Any:
        """A fresh CMA-ES for row r from a random start; its Gaussian draws come from the row's own stream
        (``randn``) and ``seed=nan`` keeps cma off numpy's global generator, so rows never share randomness."""
        rng = self._rngs[r]
        x0 = (self._sp.sample_paper(rng, 1)[0] - self._lo) / (self._hi - self._lo)
        opts = {"popsize": self._n, "bounds": [0.0, 1.0], "seed": float("nan"), "verbose": -9,
                "randn": lambda lam, dim: rng.standard_normal((lam, dim))}
        return self._cma.CMAEvolutionStrategy(x0, self.sigma, opts)

    def ask(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self._n, self._sp.dim))
        for j, r in enumerate(rows):
            if self._es[r].stop():
                self._es[r] = self._new(r)
            sols = self._es[r].ask()
            self._asked[int(r)] = sols
            out[j] = self._lo + np.clip(np.asarray(sols), 0.0, 1.0) * (self._hi - self._lo)
        return out

    def tell(self, rows: np.ndarray, fitness: np.ndarray) -> None:
        for j, r in enumerate(rows):
            f = fitness[j]
            self._used[r] += int(np.isfinite(f).sum())
            # cma needs finite values: an unevaluated candidate (budget spent) ranks below every real one.
            worst = f[np.isfinite(f)].max() + 1.0 if np.isfinite(f).any() else 1.0
            self._es[r].tell(self._asked.pop(int(r)), np.where(np.isfinite(f), f, worst).tolist())

    def exhausted(self, rows: np.ndarray) -> np.ndarray:
        return self._used[rows] >= self.budget
