"""Delta inference must give the full forward's logits (fp32: within 1e-4) wherever the pixels are."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import onepixel as op
from onepixel.candidates import apply
from onepixel.models.pytorch import Preprocess, TorchClassifier
from onepixel.models.threads import GovernedThreads
from onepixel.zoo.architectures import build
from toys.nets import assert_batch_equals_one_by_one, tiny_net


def _randomise_bn(module: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics, so that folding them into the convolutions is really exercised."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return module.eval()


def _positions(rng: np.random.Generator, n: int, k: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Random pixels, the first rows pinned to corners, edges and next-to-edge rows and columns."""
    x, y = rng.integers(0, w, (n, k)), rng.integers(0, h, (n, k))
    edge_x = [0, w - 1, 0, w - 1, 1, w - 2, w // 2, 0, w - 1, 2]
    edge_y = [0, 0, h - 1, h - 1, h - 2, 1, 0, h // 2, h // 2, h - 3]
    x[: len(edge_x), 0], y[: len(edge_y), 0] = edge_x, edge_y
    if k > 1:  # some clustered changes too: small boxes, the delta classes above 1x1
        c = slice(len(edge_x) // 2, n)
        m = n - len(edge_x) // 2
        x[c] = np.clip(x[c, :1] + rng.integers(-2, 3, (m, k)), 0, w - 1)
        y[c] = np.clip(y[c, :1] + rng.integers(-2, 3, (m, k)), 0, h - 1)
    return x, y


def _compare(module: nn.Module, images: np.ndarray, k: int, n: int = 32, seed: int = 0, cache_bytes: int | None = None,
             **options) -> tuple[float, int]:
    """Max |delta - full| over fp32 logits, and how many rows delta inference answered."""
    torch.manual_seed(seed)
    clf = TorchClassifier(module, preprocess=Preprocess.cifar10(), precision="fp32", delta=True, **options)
    engine = clf.delta_engine()
    assert engine is not None
    if cache_bytes is not None:
        engine.cache.budget = cache_bytes
    rng = np.random.default_rng(seed)
    _, h, w, _ = images.shape
    which = rng.integers(0, len(images), n)
    x, y = _positions(rng, n, k, h, w)
    colours = rng.integers(0, 256, (n, k, 3)).astype(np.uint8)
    bases = torch.from_numpy(images)
    with torch.inference_mode():
        perturbed = apply(bases, *(torch.as_tensor(a) for a in (which, x, y, colours)))
        full = clf.reference(clf.preprocess(perturbed))
        worst, rows = 0.0, 0
        for real, _, scores in engine.chunks(bases, which, x, y, colours):
            if scores is not None:
                worst = max(worst, float((scores[: len(real)] - full[real]).abs().max()))
                rows += len(real)
    return worst, rows


@pytest.fixture(scope="module")
def cifar_like() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3)).astype(np.uint8)


@pytest.mark.parametrize("arch", ["allconv", "nin", "vgg16", "resnet20"])
@pytest.mark.parametrize("k", [1, 3])
def test_zoo_models_match_the_full_forward(arch, k, cifar_like):
    torch.manual_seed(0)
    module = _randomise_bn(build(arch))
    # k = 3 spreads rows over several window classes, each a padded chunk: fewer, smaller chunks keep it quick
    worst, rows = _compare(module, cifar_like, k, n=24 if k == 1 else 16, delta_batch_size=16 if k == 1 else 4)
    assert rows > 0, "delta inference answered no row"
    assert worst <= 1e-4


class _Mixed(nn.Module):
    """Ops beyond the zoo: dilation, groups, 'same' padding, max/avg pooling with padding, a strided-slice
    shortcut with channel padding, channel concatenation, and an unknown op (a flip) late in the net."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=2, dilation=2)
        self.b = nn.Conv2d(8, 8, 3, padding=1, groups=4)
        self.c = nn.Conv2d(8, 8, 4, padding="same")
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.avg = nn.AvgPool2d(3, stride=1, padding=1)
        self.d = nn.Conv2d(16, 12, 1)
        self.e = nn.Conv2d(12, 12, 3, stride=2, padding=1)
        self.head = nn.Linear(12, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.a(x))
        x = torch.sigmoid(self.b(x)) + x
        x = self.pool(F.leaky_relu(self.c(x), 0.1))
        x = torch.cat([x, self.avg(x)], dim=1)
        x = self.d(x)
        s = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 0, 0))
        x = F.relu(self.e(x) + s)
        x = torch.flip(x, dims=[3])
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


@pytest.mark.parametrize("k", [1, 3])
def test_general_ops_and_non_square_images(k):
    torch.manual_seed(0)
    images = np.random.default_rng(2).integers(0, 256, (3, 21, 30, 3)).astype(np.uint8)
    worst, rows = _compare(_Mixed().eval(), images, k, n=40, delta_batch_size=8)
    assert rows > 0 and worst <= 1e-4


def test_plans_window_every_known_op_and_stop_at_the_unknown_one():
    from onepixel.models import delta_plan
    from onepixel.models.delta_graph import trace

    plan = delta_plan.build(trace(_Mixed().eval(), (3, 21, 30)), (21, 30), (1, 1))
    modes = {s.op.node.name: s.mode for s in plan.steps}
    assert all(modes[n] == "window" for n in ("a", "b", "add", "pool", "avg", "cat", "getitem", "pad", "add_1"))
    assert modes["flip"] == "full" and plan.steps[plan.first_full].op.node.name == "flip"
    assert plan.gain > 2


def test_a_tiny_cache_evicts_and_stays_exact(cifar_like):
    torch.manual_seed(0)
    module = _randomise_bn(build("allconv"))
    # a budget of 1 byte leaves room for one chunk's images only: every chunk evicts
    worst, rows = _compare(module, cifar_like, 1, n=16, delta_batch_size=4, cache_bytes=1)
    assert rows == 16 and worst <= 1e-4


def test_rows_do_not_depend_on_their_batch_mates(cifar_like):
    torch.manual_seed(0)
    clf = TorchClassifier(_randomise_bn(build("allconv")), preprocess=Preprocess.cifar10(), precision="bf16",
                          delta=True, delta_batch_size=16)
    rng = np.random.default_rng(3)
    n = 40
    which, x, y = rng.integers(0, 4, n), rng.integers(0, 32, (n, 1)), rng.integers(0, 32, (n, 1))
    colours = rng.integers(0, 256, (n, 1, 3)).astype(np.uint8)
    bases = torch.from_numpy(cifar_like)
    together = clf.query(bases, which, x, y, colours)
    order = rng.permutation(n)[:7]
    alone = clf.query(bases, which[order], x[order], y[order], colours[order])
    assert np.array_equal(together[order], alone)
    assert clf.has_fast_precision


def _small_round_query(clf: TorchClassifier, images: np.ndarray, rows: int = 160) -> np.ndarray:
    """A campaign's greedy round: 8 one-pixel proposals for each of rows / 8 images."""
    rng = np.random.default_rng(5)
    which = np.repeat(np.arange(20) % len(images), 8)
    x, y = rng.integers(0, 32, (160, 1)), rng.integers(0, 32, (160, 1))
    colours = (rng.integers(0, 2, (160, 1, 3)) * 255).astype(np.uint8)
    return clf.query(torch.from_numpy(images), which[:rows], x[:rows], y[:rows], colours[:rows], rows_per_image=8)


def _chunk_sizes(engine) -> list[int]:  # noqa: ANN001
    """Spy on the rows of every delta chunk the engine runs."""
    sizes: list[int] = []
    run = engine._run

    def spied(plan, chw, bases, which, *rest):  # noqa: ANN001
        sizes.append(len(which))
        return run(plan, chw, bases, which, *rest)

    engine._run = spied
    return sizes


def _bf16_allconv(delta_batch_size: int) -> TorchClassifier:
    torch.manual_seed(0)
    return TorchClassifier(_randomise_bn(build("allconv")), preprocess=Preprocess.cifar10(), precision="bf16",
                           delta=True, delta_batch_size=delta_batch_size)


def test_small_search_rounds_run_in_wide_chunks_that_change_no_score(cifar_like):
    clf = _bf16_allconv(64)
    clf.delta_engine().threads = GovernedThreads(1)  # its own check of thread counts is tested in test_threads.py
    sizes = _chunk_sizes(clf.delta_engine())
    wide = _small_round_query(clf, cifar_like)
    assert set(sizes[-3:]) == {64}  # 160 rows in 3 chunks of 64, not 20 of 8
    assert sum(sizes[:-3]) == 4 * 64  # after one check of 64 rows in chunks of 8, 16, 32 and 64
    sizes.clear()
    again = _small_round_query(clf, cifar_like)
    assert sizes == [64] * 3 and np.array_equal(again, wide)  # checked once per plan
    eights = _bf16_allconv(8)  # every chunk 8 rows: the search's own size
    assert np.array_equal(_small_round_query(eights, cifar_like), wide)


def test_chunks_stay_the_search_s_size_where_a_bigger_chunk_would_change_scores(cifar_like):
    clf = TorchClassifier(tiny_net(), precision="fp32", delta=True, delta_batch_size=64)
    engine = clf.delta_engine()
    engine.threads = GovernedThreads(1)
    sizes = _chunk_sizes(engine)
    spied = engine._run
    engine._run = lambda plan, chw, bases, which, *rest: spied(plan, chw, bases, which, *rest) + 1e-3 * len(which)
    together = _small_round_query(clf, cifar_like)
    assert sizes == [8] * 8 + [16] * 4 + [32] * 2 + [64] + [8] * 20  # the check failed: chunks of the search's 8 rows
    sizes.clear()
    assert np.array_equal(_small_round_query(clf, cifar_like, rows=8), together[:8])
    assert sizes == [8]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_batch_equals_one_by_one_with_delta(precision):
    clf = TorchClassifier(tiny_net(), precision=precision, batch_size=32, delta=True, delta_batch_size=8)
    assert_batch_equals_one_by_one(clf, search="de", popsize=12, generations=6, pixels=2)
    assert clf._delta_used


class _DataDependent(nn.Module):
    """Untraceable: control flow on a tensor value."""

    def __init__(self) -> None:
        super().__init__()
        self.net = tiny_net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return self.net(x)
        return -self.net(x)


def test_untraceable_models_fall_back_to_the_full_forward():
    imgs = np.random.default_rng(0).integers(0, 256, (2, 10, 10, 3)).astype(np.uint8)
    on = TorchClassifier(_DataDependent().eval(), precision="fp32", delta=True)
    off = TorchClassifier(_DataDependent().eval(), precision="fp32", delta=False)
    args = (torch.from_numpy(imgs), np.array([0, 1]), np.array([[3], [9]]), np.array([[0], [4]]),
            np.array([[[255, 0, 0]], [[0, 9, 9]]], dtype=np.uint8))
    with pytest.warns(UserWarning, match="delta inference is off"):
        a = on.query(*args)
    assert np.array_equal(a, off.query(*args)) and not on.has_fast_precision


def test_auto_rule_and_options():
    clf = TorchClassifier(tiny_net(), precision="fp32")
    assert clf.delta == "auto" and clf.delta_engine() is not None
    assert TorchClassifier(tiny_net(), precision="fp32", delta=False).delta_engine() is None
    with pytest.raises(op.InputError, match="delta must be"):
        TorchClassifier(tiny_net(), delta="yes")


def test_new_base_images_are_never_scored_on_old_ones_activations():
    # Each round is a new batch of images in a new tensor, freed before the next: CPython and the allocator
    # readily hand the next tensor the same id() and address. The engine must still see new images.
    torch.manual_seed(0)
    clf = TorchClassifier(_randomise_bn(build("resnet20")), preprocess=Preprocess.cifar10(), precision="fp32",
                          delta=True, delta_batch_size=8)
    engine = clf.delta_engine()
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 32, (8, 1)), rng.integers(0, 32, (8, 1))
    which, colours = np.zeros(8, dtype=np.int64), rng.integers(0, 256, (8, 1, 3)).astype(np.uint8)
    for _ in range(12):
        bases = torch.from_numpy(rng.integers(0, 256, (1, 32, 32, 3)).astype(np.uint8))
        with torch.inference_mode():
            perturbed = apply(bases, *(torch.as_tensor(a) for a in (which, x, y, colours)))
            full = clf.reference(clf.preprocess(perturbed))
            (real, _, scores), = engine.chunks(bases, which, x, y, colours)
        assert float((scores[: len(real)] - full[real]).abs().max()) <= 1e-4
        del bases, perturbed
    with torch.inference_mode():  # an inference tensor has no version counter: identity alone must do
        bases = torch.from_numpy(rng.integers(0, 256, (1, 32, 32, 3)).astype(np.uint8)) + 0
        full = clf.reference(clf.preprocess(apply(bases, *(torch.as_tensor(a) for a in (which, x, y, colours)))))
        (real, _, scores), = engine.chunks(bases, which, x, y, colours)
        assert float((scores[: len(real)] - full[real]).abs().max()) <= 1e-4
