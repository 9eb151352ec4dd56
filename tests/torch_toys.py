"""A tiny seeded conv net and the batch-versus-alone check that attack tests share."""

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
