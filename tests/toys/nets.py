"""Small torch toys: seeded conv nets, nets with a planted weak pixel, and the batch-versus-alone check that
attack tests share."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import onepixel as op


def tiny_net() -> nn.Module:
    """4 classes on any HxW RGB input; seeded, so every call builds the same weights."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()


def small_net(classes: int = 4, width: int = 4) -> nn.Module:
    """A seeded conv -> global average -> linear net with ``classes`` outputs on any HxW RGB input."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(width, classes)).eval()


class PlantedRed(nn.Module):
    """Class 0 unless the pixel at (x=5, y=2) turns red enough (r - g - b > 0.3 on a 0..1 scale), then class 1;
    every other pixel is ignored; ``classes`` outputs. Input scaled to [0, 1] (the default preprocessing)."""

    def __init__(self, classes: int = 3):
        super().__init__()
        self.classes = classes

    def forward(self, x):
        p = x[:, :, 2, 5]
        logits = torch.zeros(x.shape[0], self.classes)
        logits[:, 1] = 12.0 * (p[:, 0] - p[:, 1] - p[:, 2] - 0.3)
        return logits


def assert_batch_equals_one_by_one(clf: op.TorchClassifier, **attack_kw) -> None:
    """Attacking 5 random 10x10 images together gives, image by image, what attacking each alone gives
    with the same seed: batching must never change a result."""
    imgs = np.random.default_rng(0).integers(0, 256, (5, 10, 10, 3)).astype(np.uint8)
    labels = clf.probs(imgs).argmax(1)
    together = op.attack(clf, imgs, labels, seed=[7, 8, 9, 10, 11], **attack_kw)
    for i in range(5):
        alone = op.attack(clf, imgs[i : i + 1], labels[i : i + 1], seed=[7 + i], **attack_kw)[0]
        assert alone.pixels == together[i].pixels
        assert alone.queries == together[i].queries
        assert alone.label_prob_after == together[i].label_prob_after
        assert np.array_equal(alone.adversarial, together[i].adversarial)


class CentrePixel(nn.Module):
    """A 10-class toy for CIFAR-10 images that looks at pixel (16, 16) only: its class is the nearest of the eight
    colour-cube corners and two greys. A correctly classified image falls to one changed pixel at once."""

    def __init__(self) -> None:
        super().__init__()
        corners = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]]
        self.register_buffer("palette", torch.tensor(corners + [[0.33] * 3, [0.66] * 3]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = x[:, :, 16, 16]
        return -40.0 * ((p[:, None, :] - self.palette[None]) ** 2).sum(-1)
