"""Differential evolution over (images x population), with the paper's settings as defaults.

Su, Vargas & Sakurai use DE/rand/1 with F = 0.5, no crossover, a population of 400 and at most 100
generations, initialised with x, y uniform over the image and colours ~ N(128, 127). Like scipy's
``differential_evolution`` this offers other strategies (best1, current-to-best1), binomial crossover
and mutation dithering, but each image's population evolves independently, all of them in one array.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..candidates import PixelSpace
from ..errors import InputError
from .base import Search, started

STRATEGIES = ("rand1", "best1", "current-to-best1")


@dataclass
class DifferentialEvolution(Search):
    """DE/strategy/1 with greedy parent-vs-trial selection.

    Args:
        popsize: candidates per image (paper: 400).
        generations: generations after the initial population (paper: 100), so at most
            ``popsize * (generations + 1)`` queries per image.
        strategy: ``rand1`` (paper), ``best1`` or ``current-to-best1``.
        mutation: F, or a (low, high) pair to draw F anew each generation (dithering).
        crossover: binomial crossover rate, or None for none (paper: trial = mutant).
    """

    popsize: int = 400
    generations: int = 100
    strategy: str = "rand1"
    mutation: float | tuple[float, float] = 0.5
    crossover: float | None = None
    _space: PixelSpace | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise InputError(f"unknown DE strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        if self.popsize < 5:
            raise InputError(f"DE population must be at least 5 (got {self.popsize})")
        if self.generations < 0:
            raise InputError(f"generations must be >= 0 (got {self.generations})")
        if self.crossover is not None and not 0.0 <= self.crossover <= 1.0:
            raise InputError(f"crossover rate must be in [0, 1] (got {self.crossover})")
        if isinstance(self.mutation, (list, tuple)):  # dithering: one (low, high) pair, kept as a tuple
            if len(self.mutation) != 2 or not 0.0 <= self.mutation[0] < self.mutation[1] <= 2.0:
                raise InputError(f"mutation must be F in [0, 2] or a (low, high) pair with 0 <= low < high <= 2 "
                                 f"(got {self.mutation})")
            self.mutation = (float(self.mutation[0]), float(self.mutation[1]))
        elif not 0.0 <= self.mutation <= 2.0:  # scipy's range for F: beyond it the mutants leave the space
            raise InputError(f"mutation F must be in [0, 2] (got {self.mutation}; the paper's is 0.5)")

    @classmethod
    def paper(cls) -> DifferentialEvolution:
        """Su, Vargas & Sakurai's settings: DE/rand/1, F = 0.5, no crossover, population 400, 100 generations
        (the defaults; written here so that callers name them instead of restating the numbers)."""
        return cls(popsize=400, generations=100, strategy="rand1", mutation=0.5, crossover=None)

    def max_queries(self) -> int:
        return self.popsize * (self.generations + 1)

    @property
    def _sp(self) -> PixelSpace:
        return started(self._space)

    def start(self, space: PixelSpace, seeds: list[int]) -> None:
        self._space = space
        n = len(seeds)
        self._rngs = [np.random.default_rng(np.random.SeedSequence([s, 0x0DE])) for s in seeds]
        self._pop = np.stack([space.sample_paper(r, self.popsize) for r in self._rngs]) if n else np.empty((0, self.popsize, space.dim))
        self._fit = np.full((n, self.popsize), np.inf)
        self._gen = np.zeros(n, dtype=np.int64)  # 0 = initial population not yet evaluated
        self._trials = np.empty_like(self._pop)

    def ask(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self.popsize, self._sp.dim))
        for j, r in enumerate(rows):
            if self._gen[r] == 0:
                out[j] = self._pop[r]
            else:
                out[j] = self._mutate(r)
        self._trials[rows] = out
        return out

    def _mutate(self, r: int) -> np.ndarray:
        """One generation of trials for image row r, drawn from its own random stream."""
        rng, pop, fit, p = self._rngs[r], self._pop[r], self._fit[r], self.popsize
        f = rng.uniform(*self.mutation) if isinstance(self.mutation, tuple) else self.mutation
        i = np.arange(p)
        a, b, c = distinct_others(rng, p)
        if self.strategy == "rand1":
            mutant = pop[a] + f * (pop[b] - pop[c])
        elif self.strategy == "best1":
            mutant = pop[np.argmin(fit)] + f * (pop[a] - pop[b])
        else:  # current-to-best1
            mutant = pop[i] + f * (pop[np.argmin(fit)] - pop[i]) + f * (pop[a] - pop[b])
        if self.crossover is not None:
            take = rng.random(pop.shape) < self.crossover
            take[i, rng.integers(0, pop.shape[1], p)] = True  # at least one gene from the mutant
            mutant = np.where(take, mutant, pop)
        return self._sp.clip(mutant)

    def exhausted(self, rows: np.ndarray) -> np.ndarray:
        """True for rows that have run all their generations."""
        return self._gen[rows] > self.generations

    def tell(self, rows: np.ndarray, fitness: np.ndarray) -> None:
        trials = self._trials[rows]
        first = self._gen[rows] == 0
        # Greedy selection; "<=" lets the population drift across plateaus. The initial population is taken
        # as it is (an unevaluated member keeps fitness inf).
        better = (fitness <= self._fit[rows]) | first[:, None]
        better &= np.isfinite(fitness) | first[:, None]
        self._pop[rows] = np.where(better[..., None], trials, self._pop[rows])
        self._fit[rows] = np.where(better, fitness, self._fit[rows])
        self._gen[rows] += 1

    def best(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The best candidate and its fitness for each row."""
        k = np.argmin(self._fit[rows], axis=1)
        return self._pop[rows, k], self._fit[rows, k]


def distinct_others(rng: np.random.Generator, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every member i, three indices drawn without replacement from {0..p-1} minus {i} (vectorized)."""
    i = np.arange(p)
    taken = i[:, None]
    picks = []
    for k in range(3):
        u = rng.integers(0, p - 1 - k, p)
        # Map u onto the k+1 excluded values in ascending order: each excluded value at or below u shifts it up.
        for s in np.sort(taken, axis=1).T:
            u = u + (u >= s)
        picks.append(u)
        taken = np.concatenate([taken, u[:, None]], axis=1)
    return picks[0], picks[1], picks[2]
