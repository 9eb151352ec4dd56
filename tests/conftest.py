"""Shared fixtures (the toy models themselves live in tests/toys/) and the shared CIFAR-10 copy."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from toys.black_boxes import PlantedPixel

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CIFAR_DIR = SHARED / "data" / "cifar10"

# No test reaches the Hugging Face hub: checkpoints are built locally (tests/test_hf.py).
os.environ["HF_HUB_OFFLINE"] = "1"

# Tests read CIFAR-10 from the read-only shared copy; they never download.
if "ONEPIXEL_DATA" not in os.environ and CIFAR_DIR.is_dir():
    os.environ["ONEPIXEL_DATA"] = str(CIFAR_DIR)


def needs_shared(path: Path):
    return pytest.mark.skipif(not path.exists(), reason=f"{path} is absent (the read-only ../shared folder of the build machines)")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module: its small tensors on a shared 2-core machine only gain contention
    from the thread pool. Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def planted() -> PlantedPixel:
    return PlantedPixel()


@pytest.fixture
def grey_images() -> np.ndarray:
    return np.full((3, 8, 8, 3), 128, dtype=np.uint8)


@pytest.fixture
def tiny_attack_args(tmp_path) -> list[str]:
    """``onepixel attack`` arguments for a random 8x8 PNG and a tiny 3-class TorchScript net, JSON out, no figure."""
    import torch
    from torch import nn

    from onepixel.imageio import write_png

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()
    torch.jit.save(torch.jit.script(net), str(tmp_path / "net.pt"))
    write_png(tmp_path / "img.png", np.random.default_rng(0).integers(0, 256, (8, 8, 3)).astype(np.uint8))
    return ["attack", str(tmp_path / "img.png"), "-m", str(tmp_path / "net.pt"), "--figure", "none", "--json"]


@pytest.fixture
def scripted(tmp_path):
    """For the command-line tests: a TorchScript net that a red pixel fools (PlantedRed) and an 8x8 grey PNG."""
    import torch
    from PIL import Image

    from toys.nets import PlantedRed

    path = tmp_path / "planted.pt"
    torch.jit.script(PlantedRed()).save(str(path))
    img = tmp_path / "grey.png"
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(img)
    return path, img

