"""Window geometry for delta inference: which part of every feature map a small input change can reach.

A *class* of changes is a window size (sh, sw) at the input: every candidate whose changed pixels fit in an
sh x sw box. For each op and each possible window position the plan tabulates, per axis separately (all the
ops are separable), the true changed region ``[lo, hi)`` and a window ``[off, off + w)`` of one fixed size
``w`` per op that contains it. One size per op lets a whole batch of candidates, wherever their pixels are,
run as one tensor; the size is the largest region over all positions, clamped to the map, and windows at the
borders are shifted inwards rather than shrunk. Where a window spans the whole map on both axes the op
and everything after it runs on whole maps (the "full" mode).

All of this is numpy over positions, computed once per (input size, class); nothing touches tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from torch import fx

from .delta_graph import Op, Slide, TracedNet


@dataclass(frozen=True)
class Axis:
    """Geometry of one node's output along one spatial axis, for every input window position ``a``.

    ``lo[a] >= hi[a]`` marks positions whose change does not reach this node at all (e.g. a row that a
    strided subsampling skips).
    """

    n: int  # map size
    w: int  # window size (w == n: the window is the whole axis)
    lo: np.ndarray
    hi: np.ndarray
    off: np.ndarray  # window start per input position

    @property
    def whole(self) -> bool:
        return self.w == self.n


def _fit(n: int, lo: np.ndarray, hi: np.ndarray) -> Axis:
    empty = lo >= hi
    lo, hi = np.where(empty, n, lo), np.where(empty, 0, hi)
    w = int(min(n, max(1, int((hi - lo).max()))))
    # Shift windows inwards at the borders so that one size fits every position.
    return Axis(n, w, lo, hi, np.clip(lo, 0, n - w))


def input_axis(n: int, size: int) -> Axis:
    """The input's own axis: windows of ``size`` at every start position 0 .. n - size."""
    a = np.arange(n - size + 1, dtype=np.int64)
    return Axis(n, size, a, a + size, a)


def slide_axis(src: Axis, n_out: int, span: int, stride: int, pad_lo: int) -> Axis:
    """Output geometry of a sliding op: output o reads inputs o*stride - pad_lo ... + span - 1."""
    lo = np.maximum(0, -(-(src.lo + pad_lo - span + 1) // stride))  # ceil division
    hi = np.minimum(n_out, (src.hi - 1 + pad_lo) // stride + 1)
    unreached = src.lo >= src.hi
    return _fit(n_out, np.where(unreached, n_out, lo), np.where(unreached, 0, hi))


def hull_axis(axes: list[Axis]) -> Axis:
    """Geometry of a pointwise op over several operands: the union of their changed regions."""
    return _fit(axes[0].n, np.min([a.lo for a in axes], axis=0), np.max([a.hi for a in axes], axis=0))


@dataclass
class Gather:
    """Bring a node's value to a target window: gather the node's clean activations there and overlay the
    node's current window (the only part that differs from clean).

    Per axis: target start ``t`` (in the source map's coordinates; negative = inside the padding), target
    size, and the source window's start relative to the target ``r`` (may reach outside: then ``clip``).
    """

    src: fx.Node
    pad_value: float
    size: tuple[int, int]
    t: tuple[np.ndarray, np.ndarray]
    r: tuple[np.ndarray, np.ndarray]
    src_size: tuple[int, int] | None  # None: the source is a clean (unchanged) value, nothing to overlay
    clip: bool
    identity: bool  # the source window already is the target window at every position

    def pads(self, n: tuple[int, int]) -> tuple[int, int, int, int]:
        """Padding (top, bottom, left, right) the source's clean cache needs for this gather."""
        ty, tx = self.t
        return (max(0, -int(ty.min())), max(0, int((ty + self.size[0]).max()) - n[0]),
                max(0, -int(tx.min())), max(0, int((tx + self.size[1]).max()) - n[1]))


@dataclass
class Step:
    """How one op runs for this class: its mode and the gathers its data arguments need first."""

    op: Op
    mode: str  # "input", "const", "window", "full", "output"
    geo: tuple[Axis, Axis] | None = None
    gathers: dict[fx.Node, Gather] = field(default_factory=dict)


@dataclass
class Plan:
    """Steps for one (input size, window class), with its cost estimate and the caches it reads."""

    size: tuple[int, int]
    steps: list[Step]
    macs: int  # multiply-accumulates per candidate (convolutions and linear layers)
    full_macs: int  # the same for a full forward
    #: (node, pad value) -> padding (top, bottom, left, right) of the clean activations it gathers from
    caches: dict[tuple[fx.Node, float], tuple[int, int, int, int]]
    #: index of the first step that runs on whole maps (len(steps) if none)
    first_full: int

    @property
    def windowed(self) -> int:
        """Number of ops that run on windows."""
        return sum(s.mode == "window" for s in self.steps)

    @property
    def gain(self) -> float:
        """Full-forward MACs over delta MACs: the arithmetic bound of the speed-up."""
        return self.full_macs / max(1, self.macs)


def _gather(src_step: Step, target: tuple[Axis, Axis] | None, pad_value: float,
            slide: Slide | None = None, out: tuple[Axis, Axis] | None = None) -> Gather:
    """Gather spec bringing ``src_step``'s value to ``out``'s input window (slides) or to ``target``."""
    sg = src_step.geo
    assert sg is not None
    if slide is not None:
        assert out is not None
        t0, t1 = (out[i].off * slide.stride[i] - slide.pad_lo[i] for i in range(2))
        s0, s1 = ((out[i].w - 1) * slide.stride[i] + slide.span(i) for i in range(2))
        t, size = (t0, t1), (s0, s1)
    else:
        assert target is not None
        t = (target[0].off, target[1].off)
        size = (target[0].w, target[1].w)
    r = (sg[0].off - t[0], sg[1].off - t[1])
    clip = any(bool((r[i] < 0).any() or (r[i] + sg[i].w > size[i]).any()) for i in range(2))
    identity = slide is None and all(sg[i].w == size[i] and bool((r[i] == 0).all()) for i in range(2))
    return Gather(src_step.op.node, pad_value, (int(size[0]), int(size[1])), t, r, (sg[0].w, sg[1].w), clip, identity)


def _whole(step: Step) -> tuple[Axis, Axis]:
    """Window geometry covering the whole map of a node (for materialising it)."""
    assert step.geo is not None and step.op.shape is not None
    h, w = step.op.shape[2], step.op.shape[3]
    pos_y, pos_x = len(step.geo[0].off), len(step.geo[1].off)
    zy, zx = np.zeros(pos_y, np.int64), np.zeros(pos_x, np.int64)
    return (Axis(h, h, zy, zy + h, zy), Axis(w, w, zx, zx + w, zx))


def build(net: TracedNet, hw: tuple[int, int], size: tuple[int, int]) -> Plan:
    """Plan delta inference for ``size``-windows on an input of ``hw`` (both (y, x))."""
    steps: dict[fx.Node, Step] = {}
    order: list[Step] = []
    macs = full_macs = 0
    for op in net.ops:
        node = op.node
        data = [steps[a] for a in op.data_args]
        windowed = [s for s in data if s.mode in ("window", "input")]
        step = Step(op, "full")
        if op.kind == "input":
            step = Step(op, "input", (input_axis(hw[0], size[0]), input_axis(hw[1], size[1])))
        elif op.kind == "const":
            step = Step(op, "const")
        elif op.kind == "output":
            step = Step(op, "output")
        elif windowed and len(windowed) == len(data) and op.kind == "slide":
            sl, src = op.slide, data[0]
            assert sl is not None and op.shape is not None and src.geo is not None
            out = (slide_axis(src.geo[0], op.shape[2], sl.span(0), sl.stride[0], sl.pad_lo[0]),
                   slide_axis(src.geo[1], op.shape[3], sl.span(1), sl.stride[1], sl.pad_lo[1]))
            if not (out[0].whole and out[1].whole):
                step = Step(op, "window", out, {src.op.node: _gather(src, None, sl.pad_value, sl, out)})
        elif windowed and len(windowed) == len(data) and op.kind == "point":
            step = Step(op, "window", data[0].geo)
        elif windowed and len(windowed) == len(data) and op.kind == "nary":
            geo = (hull_axis([s.geo[0] for s in data]), hull_axis([s.geo[1] for s in data]))  # type: ignore[index]
            if not (geo[0].whole and geo[1].whole):
                gathers = {s.op.node: _gather(s, geo, 0.0) for s in data}
                step = Step(op, "window", geo, {k: g for k, g in gathers.items() if not g.identity})
        if step.mode in ("full", "output"):
            # Materialise every still-windowed argument as a whole map; the op then runs as in the module.
            step.gathers = {s.op.node: _gather(s, _whole(s), 0.0) for s in windowed}
        cost = op.slide.macs_per_output if op.slide is not None else 0
        if cost and op.shape is not None:
            full_cost = cost * op.shape[2] * op.shape[3]
            full_macs += full_cost
            macs += cost * step.geo[0].w * step.geo[1].w if step.mode == "window" and step.geo else full_cost
        macs += op.macs
        full_macs += op.macs
        steps[node] = step
        order.append(step)

    caches: dict[tuple[fx.Node, float], tuple[int, int, int, int]] = {}
    for step in order:
        for g in step.gathers.values():
            shp = steps[g.src].op.shape
            assert shp is not None
            p = g.pads((shp[2], shp[3]))
            old = caches.get((g.src, g.pad_value), (0, 0, 0, 0))
            caches[(g.src, g.pad_value)] = tuple(max(a, b) for a, b in zip(old, p, strict=True))  # type: ignore[assignment]
    first_full = next((i for i, s in enumerate(order) if s.mode == "full"), len(order))
    return Plan(size, order, macs, full_macs, caches, first_full)
