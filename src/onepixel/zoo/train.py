"""Train a zoo network on CIFAR-10 with a documented, resumable recipe.

Recipe (the same on CPU and GPU): random crop (4 px zero padding) + horizontal flip, SGD with Nesterov
momentum 0.9, weight decay 5e-4, label smoothing 0.1, batch 256, one linear warm-up epoch to the peak
learning rate and then a cosine decay to zero. bf16 autocast + channels_last where the hardware has fast
bf16 (CUDA, or CPUs with AMX/AVX512-BF16). Augmentation runs on tensors on the training device, so a GPU is
never starved by a Python data loader.

A checkpoint (safetensors: weights, momentum buffers, epoch) is written after every epoch; calling
:func:`train` again with the same output folder resumes from it. Each epoch re-seeds the random number
generators from (seed, epoch), so a resumed run is the same as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..models.pytorch import Preprocess, fast_bf16_available
from .architectures import build

# The zoo models' preprocessing (kept in one place: what training uses is what attacks use).
_PRE = Preprocess.cifar10()


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (all of them are written to the JSON log)."""

    arch: str
    epochs: int | None = 60
    batch_size: int = 256
    lr: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup_epochs: int = 1
    seed: int = 0
    device: str = "cpu"
    bf16: bool | None = None  # None: use it where the hardware is fast at it
    time_budget_s: float | None = None  # epochs=None: choose the epoch count from the first epoch's time
    eval_every: int = 1
    extra: dict = field(default_factory=dict)


def _normalise(x_uint8_nchw: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(_PRE.mean, device=x_uint8_nchw.device).view(1, 3, 1, 1)
    std = torch.tensor(_PRE.std, device=x_uint8_nchw.device).view(1, 3, 1, 1)
    return (x_uint8_nchw.float() * _PRE.scale - mean) / std


def _augment(batch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random 32x32 crop from a 4-px zero-padded uint8 NCHW batch, then random horizontal flip."""
    n, _, h, w = batch.shape
    padded = nn.functional.pad(batch, (4, 4, 4, 4))
    dev = batch.device
    oy = torch.randint(0, 9, (n,), generator=gen, device=dev)
    ox = torch.randint(0, 9, (n,), generator=gen, device=dev)
    flip = torch.rand(n, generator=gen, device=dev) < 0.5
    rows = oy[:, None] + torch.arange(h, device=dev)[None, :]
    cols = ox[:, None] + torch.arange(w, device=dev)[None, :]
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    idx_n = torch.arange(n, device=dev)[:, None, None]
    # (n, h, w, c) gather, then back to NCHW
    out = padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2)


def evaluate_accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, device: str = "cpu", bf16: bool = False) -> float:
    """Top-1 accuracy of ``model`` on uint8 NHWC images ``x`` with labels ``y``."""
    model.eval()
    correct = 0
    with torch.inference_mode(), torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
        for i in range(0, len(x), 500):
            xb = torch.from_numpy(x[i : i + 500]).to(device).permute(0, 3, 1, 2)
            xb = _normalise(xb).contiguous(memory_format=torch.channels_last)
            pred = model(xb).argmax(1).cpu().numpy()
            correct += int((pred == y[i : i + 500]).sum())
    return correct / len(x)


def _lr_at(step: float, steps_per_epoch: int, cfg: TrainConfig, epochs: int) -> float:
    warm = cfg.warmup_epochs * steps_per_epoch
    if step < warm:
        return cfg.lr * (step + 1) / warm
    total = max(1, epochs * steps_per_epoch - warm)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / total)))


def train(
    cfg: TrainConfig,
    train_data: tuple[np.ndarray, np.ndarray],
    test_data: tuple[np.ndarray, np.ndarray] | None,
    out_dir: str | Path,
    progress: bool = True,
    verbose: bool = False,
) -> dict:
    """Train ``cfg.arch``; checkpoints and ``log.json`` go to ``out_dir``; returns the final log."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = cfg.device
    bf16 = fast_bf16_available(dev) if cfg.bf16 is None else cfg.bf16
    torch.manual_seed(cfg.seed)
    model = build(cfg.arch).to(dev).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt, params = _optimiser(model, cfg)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

    log: dict = {"config": asdict(cfg), "bf16": bf16, "epochs": []}
    epochs = cfg.epochs
    ckpt = out / "checkpoint.safetensors"
    if ckpt.exists():
        log = _resume(ckpt, out / "log.json", model, opt, params, dev)
        epochs = log.get("total_epochs", epochs)

    xtr = torch.from_numpy(train_data[0]).to(dev).permute(0, 3, 1, 2).contiguous()
    ytr = torch.from_numpy(train_data[1].astype(np.int64)).to(dev)
    epoch = len(log["epochs"])
    while epochs is None or epoch < epochs:
        entry = _train_epoch(model, opt, loss_fn, (xtr, ytr), cfg, epoch, epochs, bf16, progress)
        if epochs is None and epoch + 1 >= cfg.warmup_epochs:
            # Time-budget mode: the last warm-up epoch's time (past one-off start-up costs such as cuDNN
            # autotuning) fixes how many epochs fit in what is left of the budget.
            elapsed = sum(e["seconds"] for e in log["epochs"]) + entry["seconds"]
            epochs = epoch + 1 + max(1, int((cfg.time_budget_s - elapsed) / entry["seconds"]))
        if test_data is not None and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == epochs):
            entry["test_acc"] = evaluate_accuracy(model, *test_data, device=dev, bf16=bf16)
        log["total_epochs"] = epochs
        log["epochs"].append(entry)
        if verbose:
            print(json.dumps({"arch": cfg.arch, **entry}), flush=True)
        _save_checkpoint(ckpt, out / "log.json", model, opt, params, log)
        epoch += 1
    export_weights(model, out / f"{cfg.arch}.safetensors")
    return log


def _optimiser(model: nn.Module, cfg: TrainConfig) -> tuple[torch.optim.SGD, list[nn.Parameter]]:
    """SGD with Nesterov momentum, weight decay on weights only (not biases or BN); and the parameters in the
    order their momentum buffers are checkpointed."""
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=True,
    )
    return opt, decay + no_decay


def _resume(ckpt: Path, log_path: Path, model: nn.Module, opt: torch.optim.SGD, params: list[nn.Parameter],
            dev: str) -> dict:
    """Load the weights and momentum buffers of the last finished epoch; returns the log so far."""
    state = load_file(ckpt, device=dev)
    model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")})
    for i, p in enumerate(params):
        opt.state[p]["momentum_buffer"] = state[f"momentum.{i}"]
    return json.loads(log_path.read_text())


def _train_epoch(model: nn.Module, opt: torch.optim.SGD, loss_fn: nn.Module, data: tuple[torch.Tensor, torch.Tensor],
                 cfg: TrainConfig, epoch: int, epochs: int | None, bf16: bool, progress: bool) -> dict:
    """One epoch over ``data`` (uint8 NCHW images and labels on the device), re-seeded from (seed, epoch) so a
    resumed run is the same as an uninterrupted one; returns the epoch's log entry."""
    from ..progress import progress_bar

    xtr, ytr = data
    dev = cfg.device
    n = len(ytr)
    steps = n // cfg.batch_size  # drop the ragged last batch: constant batch statistics
    torch.manual_seed(cfg.seed * 100_003 + epoch)
    gen = torch.Generator(device=dev).manual_seed(cfg.seed * 100_003 + epoch)
    perm = torch.randperm(n, generator=gen, device=dev)
    model.train()
    t0 = time.perf_counter()
    loss_sum = torch.zeros((), device=dev)
    correct = torch.zeros((), device=dev, dtype=torch.long)
    bar = progress_bar(steps, " steps", f"{cfg.arch} epoch {epoch + 1}/{epochs or '?'}", disable=not progress,
                       leave=False)
    for s in range(steps):
        idx = perm[s * cfg.batch_size : (s + 1) * cfg.batch_size]
        xb = _normalise(_augment(xtr[idx], gen)).contiguous(memory_format=torch.channels_last)
        yb = ytr[idx]
        for g in opt.param_groups:
            g["lr"] = _lr_at(epoch * steps + s, steps, cfg, epochs or cfg.warmup_epochs + 1)
        with torch.autocast(dev.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
            logits = model(xb)
            loss = loss_fn(logits.float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.detach()
        correct += (logits.argmax(1) == yb).sum()
        if progress and s % 20 == 0:
            done = (s + 1) * cfg.batch_size
            bar.set_postfix_str(f"loss={loss_sum.item() / (s + 1):.3f}, acc={correct.item() / done:.3f}, "
                                f"img_s={done / (time.perf_counter() - t0):.0f}", refresh=False)
        bar.update(1)
    bar.close()
    seconds = time.perf_counter() - t0
    return {
        "epoch": epoch + 1,
        "loss": loss_sum.item() / steps,
        "train_acc": correct.item() / (steps * cfg.batch_size),
        "seconds": seconds,
        "images_per_s": steps * cfg.batch_size / seconds,
        "lr_end": opt.param_groups[0]["lr"],
    }


def _save_checkpoint(ckpt: Path, log_path: Path, model: nn.Module, opt: torch.optim.SGD, params: list[nn.Parameter],
                     log: dict) -> None:
    """Weights, momentum buffers and the log, each written then renamed: an interruption never leaves a
    half-written checkpoint."""
    state = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    for i, p in enumerate(params):
        buf = opt.state[p].get("momentum_buffer")
        if buf is not None:
            state[f"momentum.{i}"] = buf.contiguous()
    save_file(state, str(ckpt) + ".tmp")
    Path(str(ckpt) + ".tmp").replace(ckpt)
    tmp = log_path.with_name(log_path.name + ".tmp")
    tmp.write_text(json.dumps(log, indent=1))
    tmp.replace(log_path)


def export_weights(model: nn.Module, path: Path) -> None:
    """Save inference weights as fp16 safetensors (integer buffers such as BN counters dropped)."""
    state = {
        k: v.detach().to("cpu", torch.float16).contiguous()
        for k, v in model.state_dict().items()
        if v.is_floating_point()
    }
    save_file(state, str(path))
