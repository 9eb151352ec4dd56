"""Analytic black boxes with known answers (numpy uint8 NHWC in, probabilities out), for any test that attacks one."""

from __future__ import annotations

import numpy as np


class Counting:
    """Counts every image row the black box sees, like conftest's PlantedPixel."""

    def __init__(self) -> None:
        self.rows = 0

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.rows += len(images)
        return self.probs(images)

    def probs(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class VulnerableSet(Counting):
    """3 classes; class 0 unless some pixel (x, y) listed in ``changes`` has exactly its colour, then class
    ``1 + (i % 2)`` for the i-th matching entry. The one-pixel changes that fool it are exactly ``changes``."""

    def __init__(self, changes: list[tuple[int, int, tuple[int, ...]]]) -> None:
        super().__init__()
        self.changes = changes

    def probs(self, images: np.ndarray) -> np.ndarray:
        out = np.tile([0.9, 0.06, 0.04], (len(images), 1))
        for i, (x, y, colour) in enumerate(self.changes):
            hit = (images[:, y, x, :] == np.asarray(colour)).all(-1)
            out[hit] = [0.1, 0.8, 0.1] if i % 2 == 0 else [0.1, 0.1, 0.8]
        return out


class PlantedPair(Counting):
    """3 classes; every pixel of ``pairs`` set to its colour adds one unit of evidence for class 1 (each alone
    is not enough: both are needed to flip class 0). Fitness therefore rewards finding either one first."""

    def __init__(self, pairs=((1, 1, (255, 255, 255)), (6, 5, (0, 0, 255)))) -> None:
        super().__init__()
        self.pairs = pairs

    def probs(self, images: np.ndarray) -> np.ndarray:
        score = sum((images[:, y, x, :] == np.asarray(c)).all(-1).astype(float) for x, y, c in self.pairs)
        logits = np.stack([np.full(len(images), 1.5), score, np.full(len(images), -1.0)], 1)
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)


class SmoothSpot(Counting):
    """3 classes with a smooth landscape: a changed pixel's pull towards class 1 falls off as a Gaussian of
    its distance to (x0, y0) and grows with how close its colour comes to ``colour``. Only changes near the
    spot with a near-matching colour fool it (class 1 then wins; class 2 never does)."""

    def __init__(self, x0=9, y0=4, colour=(255, 0, 255), base=128, width=3.0) -> None:
        super().__init__()
        self.x0, self.y0, self.colour, self.base, self.width = x0, y0, np.asarray(colour, float), base, width

    def probs(self, images: np.ndarray) -> np.ndarray:
        n, h, w, _ = images.shape
        ys, xs = np.mgrid[0:h, 0:w]
        g = np.exp(-((xs - self.x0) ** 2 + (ys - self.y0) ** 2) / (2 * self.width ** 2))
        close = 1.0 - np.linalg.norm(images.astype(float) - self.colour, axis=-1) / 441.7
        base = 1.0 - np.linalg.norm(np.full(3, self.base, float) - self.colour) / 441.7
        pull = ((close - base).clip(0) * g).sum((1, 2)) / (1.0 - base)
        logits = np.stack([np.full(n, 2.0), 5.0 * pull, 4.0 * pull - 0.5], 1)
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)


class NearColour(Counting):
    """3 classes; a change at (x0, y0) pulls towards class 1 the closer its colour comes to ``colour`` (a
    Gaussian of the RGB distance), and fools the model only within ~50 of it. ``colour`` (0, 64, 255) is 64
    from the nearest cube corner: no corner change fools it, but the corner (0, 0, 255) there lowers the true
    class more than any other change, as a near miss does on a real net."""

    def __init__(self, x0=5, y0=2, colour=(0, 64, 255)) -> None:
        super().__init__()
        self.x0, self.y0, self.colour = x0, y0, np.asarray(colour, float)

    def probs(self, images: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(images[:, self.y0, self.x0, :].astype(float) - self.colour, axis=-1)
        s = np.exp(-((d / 60.0) ** 2))
        return np.stack([0.9 - 0.85 * s, 0.06 + 0.85 * s, np.full(len(images), 0.04)], 1)


class FlatPocket(Counting):
    """3 classes on a black image; only pixel (x0, y0) matters. Its blue raises the target class 2 (to at most
    ``top``); its red splits the rest between the true class 0 (red 0) and class 1 (red 255). The target wins
    only where both are below it: red 127-128 with full blue. Along red the target's probability is flat (the
    paper's targeted fitness gives no direction) while the margin to the strongest rival points to the pocket,
    like ResNet-20's test image #56 (docs/results.md)."""

    def __init__(self, x0=2, y0=1, top=0.335) -> None:
        super().__init__()
        self.x0, self.y0, self.top = x0, y0, top

    def probs(self, images: np.ndarray) -> np.ndarray:
        px = images[:, self.y0, self.x0, :].astype(float) / 255.0
        target = self.top * px[:, 2]
        rest = 1.0 - target
        return np.stack([rest * (1.0 - px[:, 0]), rest * px[:, 0], target], 1)


class PlantedPixel:
    """A 3-class black box on HxW RGB images that leaves class 0 only when the pixel at (x0, y0) comes
    close to ``colour``: then class 1 (70 %) or 2 (30 %) take over. Every other pixel is ignored."""

    def __init__(self, x0: int = 5, y0: int = 2, colour=(255, 0, 0), strong_target: int = 1):
        self.x0, self.y0 = x0, y0
        self.colour = np.asarray(colour, dtype=float)
        self.strong = strong_target
        self.calls = 0
        self.rows = 0

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.rows += len(images)
        p = images[:, self.y0, self.x0, :].astype(float)
        d = np.linalg.norm(p - self.colour, axis=1) / 441.7
        other = 1.0 / (1.0 + np.exp((d - 0.1) * 60.0))
        out = np.zeros((len(images), 3))
        out[:, 0] = 1.0 - other
        out[:, self.strong] = 0.97 * other
        out[:, 3 - self.strong] = 0.03 * other
        return out


class CornerPull:
    """3 classes, class 0 always wins; class 1's and 2's scores grow as a changed pixel gets brighter and
    nearer the top-left corner, so DE's population piles up on the box's corner (0, 0, 255, 255, 255)."""

    def __init__(self) -> None:
        self.rows = 0

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.rows += len(images)
        n, h, w, _ = images.shape
        ys, xs = np.mgrid[0:h, 0:w]
        score = ((images.astype(float) - 128).mean(-1) / 127 * np.exp(-(xs + ys) / 3.0)).sum((1, 2))
        logits = np.stack([np.full(n, 2.0), score / 2, score], 1)
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)
