"""Search strategies: each proposes candidates (``ask``) and learns from their fitness (``tell``).

Searches never touch the model; the runner owns it. Every search keeps one state row per image, so a batch
of images is searched at once, and each image draws from its own random stream so that its result does not
depend on which other images share the batch.
"""

from .base import Search
from .de import DifferentialEvolution

__all__ = ["DifferentialEvolution", "Search"]
