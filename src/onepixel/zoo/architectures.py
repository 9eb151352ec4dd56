"""CIFAR-10 network definitions: the paper's AllConv, NiN and VGG16, plus ResNet-20.

All nets take a normalised float NCHW batch and return logits. Batch-norm is added after every
convolution (the paper's Keras nets did not all have it); it makes the nets train in a fraction of the
epochs and is folded away at inference time, so the deployed maths is still a plain conv net.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, padding: int | None = None) -> list[nn.Module]:
    pad = kernel // 2 if padding is None else padding
    return [
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=pad, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


class AllConv(nn.Sequential):
    """All-CNN-C (Springenberg et al. 2015): strided convolutions instead of pooling, 1.37 M parameters."""

    def __init__(self, num_classes: int = 10, dropout: float = 0.3) -> None:
        super().__init__(
            *_conv_bn(3, 96, 3),
            *_conv_bn(96, 96, 3),
            *_conv_bn(96, 96, 3, stride=2),
            nn.Dropout(dropout),
            *_conv_bn(96, 192, 3),
            *_conv_bn(192, 192, 3),
            *_conv_bn(192, 192, 3, stride=2),
            nn.Dropout(dropout),
            *_conv_bn(192, 192, 3, padding=0),
            *_conv_bn(192, 192, 1),
            nn.Conv2d(192, num_classes, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )


class NiN(nn.Sequential):
    """Network in Network (Lin et al. 2014): mlpconv blocks and global average pooling, 0.97 M parameters."""

    def __init__(self, num_classes: int = 10, dropout: float = 0.3) -> None:
        super().__init__(
            *_conv_bn(3, 192, 5),
            *_conv_bn(192, 160, 1),
            *_conv_bn(160, 96, 1),
            nn.MaxPool2d(3, stride=2, padding=1),
            nn.Dropout(dropout),
            *_conv_bn(96, 192, 5),
            *_conv_bn(192, 192, 1),
            *_conv_bn(192, 192, 1),
            nn.AvgPool2d(3, stride=2, padding=1),
            nn.Dropout(dropout),
            *_conv_bn(192, 192, 3),
            *_conv_bn(192, 192, 1),
            nn.Conv2d(192, num_classes, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )


_VGG16_CFG: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG16(nn.Sequential):
    """VGG16 for 32x32 inputs (13 convs with BN, 512-512-10 head), 15.0 M parameters."""

    def __init__(self, num_classes: int = 10, dropout: float = 0.5) -> None:
        layers: list[nn.Module] = []
        cin = 3
        for item in _VGG16_CFG:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += _conv_bn(cin, int(item), 3)
                cin = int(item)
        layers += [
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(512, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(512, num_classes),
        ]
        super().__init__(*layers)


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        # Option-A shortcut of He et al.: subsample and zero-pad channels, no extra parameters.
        self.pad = cout - cin
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x
        if self.stride != 1 or self.pad:
            shortcut = x[:, :, :: self.stride, :: self.stride]
            shortcut = nn.functional.pad(shortcut, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return self.relu(out + shortcut)


class ResNet20(nn.Module):
    """ResNet-20 for CIFAR (He et al. 2016, 3x3 basic blocks, option-A shortcuts), 0.27 M parameters."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(3, 16, 3))
        blocks: list[nn.Module] = []
        cin = 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                blocks.append(_BasicBlock(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


ARCHITECTURES: dict[str, Callable[[], nn.Module]] = {
    "allconv": AllConv,
    "nin": NiN,
    "vgg16": VGG16,
    "resnet20": ResNet20,
}


def build(name: str) -> nn.Module:
    """Instantiate an untrained network by its zoo name."""
    try:
        return ARCHITECTURES[name]()
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}") from None
