"""Train all zoo nets at once on one GPU (one process per net) within a time budget.

Used once on the lent H100 to produce the shipped weights; see docs/training.md.
Usage: python scripts/train_zoo_gpu.py DATA_DIR OUT_DIR BUDGET_S [ARCH ...]
"""

import subprocess
import sys
from pathlib import Path

import numpy as np

if len(sys.argv) == 5 and sys.argv[1] in ('allconv', 'nin', 'vgg16', 'resnet20'):  # worker
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import torch

    from onepixel.zoo.train import TrainConfig, train

    torch.backends.cudnn.benchmark = True

    arch, data, out, budget = sys.argv[1:]
    tr, te = np.load(f"{data}/train.npz"), np.load(f"{data}/test.npz")
    cfg = TrainConfig(arch=arch, epochs=None, time_budget_s=float(budget), device="cuda", bf16=True, warmup_epochs=2)
    if arch == "vgg16":
        cfg.lr = 0.1
    train(cfg, (tr["x"], tr["y"]), (te["x"], te["y"]), f"{out}/{arch}", progress=False, verbose=True)
    sys.exit(0)

data, out, budget, *archs = sys.argv[1:]
procs = [
    subprocess.Popen([sys.executable, __file__, a, data, out, budget], stdout=open(f"{out}/{a}.log", "w"), stderr=subprocess.STDOUT)
    for a in (archs or ("allconv", "nin", "vgg16", "resnet20"))
]
print([p.wait() for p in procs])
