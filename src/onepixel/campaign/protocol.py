"""The evaluation protocols as lists of work units (one unit = one attack on one image).

* ``paper`` (their "Kaggle" tables): random images, misclassified ones included; every image is attacked
  toward each of the other classes; "non-targeted" success = at least one of those targeted attacks.
* ``strict``: correctly classified images only; a true untargeted attack (mode ``untargeted``), plus
  the targeted attacks toward every other class (mode ``targeted``).

With more than ten classes (ImageNet) ``paper`` is the paper's ImageNet experiment instead: one untargeted
attack per random image, misclassified ones included (999 targeted attacks per photo would be absurd).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

PROTOCOLS = ("paper", "strict")
MODES = ("untargeted", "targeted", "both")


@dataclass(frozen=True)
class WorkUnit:
    """One attack: dataset image ``image`` with ``pixels`` changed, untargeted (target None) or targeted."""

    image: int
    label: int
    pixels: int
    target: int | None
    seed: int

    @property
    def uid(self) -> str:
        return f"{self.image}:{self.pixels}:{'u' if self.target is None else self.target}"

    @property
    def mode(self) -> str:
        return "untargeted" if self.target is None else "targeted"


def sample_images(n_total: int, n: int, seed: int) -> np.ndarray:
    """A reproducible random order of dataset indices (the first ``n`` are the paper protocol's sample)."""
    return np.random.default_rng(np.random.SeedSequence([seed, 0x5A3])).permutation(n_total)[: max(0, n)]


def unit_seed(seed: int, image: int, pixels: int, target: int | None) -> int:
    """A per-attack seed that depends only on the campaign seed and the attack itself, so results do not
    depend on batching, order or interruptions."""
    return zlib.crc32(f"{seed}/{image}/{pixels}/{target}".encode())


def imagenet_rule(protocol: str, num_classes: int) -> bool:
    """Whether the paper protocol means the paper's ImageNet experiment (one untargeted attack per image)."""
    return protocol == "paper" and num_classes > 10


def attack_kinds(protocol: str, mode: str, num_classes: int) -> tuple[bool, bool]:
    """``(untargeted, targeted)``: which attacks each image gets (targeted: one per other class)."""
    if imagenet_rule(protocol, num_classes):
        return True, False
    return protocol == "strict" and mode in ("untargeted", "both"), protocol == "paper" or mode in ("targeted", "both")


def attacks_per_image(protocol: str, mode: str, num_classes: int) -> int:
    """How many attacks one image gets for one pixel count."""
    untargeted, targeted = attack_kinds(protocol, mode, num_classes)
    return int(untargeted) + (num_classes - 1) * int(targeted)


#: how many attacks a campaign runs when no image count is given: minutes on a CPU
QUICK_ATTACKS = 50


def quick_images(protocol: str, mode: str, dataset: str) -> int:
    """Images for about :data:`QUICK_ATTACKS` attacks (CIFAR-10, CIFAR-100), or 5 photos: a run of minutes on a
    CPU, the size of a campaign started without an image count."""
    classes = {"cifar10": 10, "cifar100": 100}.get(dataset)
    if classes is None:  # photos: larger models, slower queries
        return 5
    return max(1, -(-QUICK_ATTACKS // attacks_per_image(protocol, mode, classes)))


def make_units(images: np.ndarray, labels: np.ndarray, pixels: list[int], protocol: str, mode: str,
               num_classes: int, seed: int) -> list[WorkUnit]:
    """Work units for dataset ``images`` (indices) with their true ``labels``."""
    untargeted, targeted = attack_kinds(protocol, mode, num_classes)
    units = []
    for k in pixels:
        for img, lab in zip(images.tolist(), labels.tolist()):
            if untargeted:
                units.append(WorkUnit(img, lab, k, None, unit_seed(seed, img, k, None)))
            if targeted:
                for t in range(num_classes):
                    if t != lab:
                        units.append(WorkUnit(img, lab, k, t, unit_seed(seed, img, k, t)))
    return units
