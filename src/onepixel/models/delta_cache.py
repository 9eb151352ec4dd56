"""The clean activations delta inference gathers from: one cache per engine, in slots, within a memory budget.

A plan (:mod:`onepixel.models.delta_plan`) names, per op, the node whose clean activations the op's window is
gathered from and the value its padding stands for. :class:`CleanCache` keeps those activations for the base
images of the current query, padded so that windows reaching into the padding are plain gathers, and
:meth:`CleanCache.gather` cuts a window out of them with a candidate's changed values overlaid. Running the
network to fill the cache is the engine's job (:mod:`onepixel.models.delta`); this module only stores, evicts
and gathers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .delta_graph import TracedNet
from .delta_plan import Gather, Plan

#: rows of clean images per cache-building forward (fixed, so cached values never depend on batch-mates)
CACHE_BATCH = 4

#: a cached activation: (node name, the value its consumer pads with)
Key = tuple[str, float]
#: padding (top, bottom, left, right) a key is stored with
Pads = tuple[int, int, int, int]


@dataclass
class Rows:
    """Index data of one chunk: cache slot, base image, and input window start per row."""

    slots: np.ndarray
    ay: np.ndarray
    ax: np.ndarray


class CleanCache:
    """Clean activations of the base images, in slots, for the (node, pad value) keys the plans gather from.

    Each key holds one (slots, H + pads, W + pads, C) tensor in NHWC, padded with the value its consumer
    pads with (0 for convolutions, -inf for max-pooling), so that windows reaching into the padding are
    plain gathers. Slots are reused least-recently-used first within a memory budget.
    """

    def __init__(self, budget_bytes: int, dtype: torch.dtype, device: torch.device) -> None:
        self.budget = budget_bytes
        self.dtype = dtype
        self.device = device
        self.keys: dict[Key, Pads] = {}
        self.store: dict[Key, torch.Tensor] = {}
        self.slot_of: OrderedDict[int, int] = OrderedDict()
        self.capacity = 0
        self.owner: tuple[torch.Tensor, int] | None = None  # the base images the slots belong to, and their version
        self.shape: tuple[int, int, int] | None = None  # (C, H, W) of the images the slots hold
        #: per gather (by id; plans live as long as the engine), its output buffer from the last chunk
        self.scratch: dict[int, torch.Tensor] = {}

    def reset(self, keys: dict[Key, Pads] | None = None) -> None:
        if keys is not None:
            self.keys = dict(keys)
        self.store.clear()
        self.scratch.clear()
        self.slot_of.clear()
        self.capacity = 0

    def bytes_per_image(self, shapes: dict[str, tuple[int, ...]], itemsize: int) -> int:
        total = 0
        for (name, _), (pt, pb, pl, pr) in self.keys.items():
            _, c, h, w = shapes[name]
            total += (h + pt + pb) * (w + pl + pr) * c * itemsize
        return total

    def names(self) -> set[str]:
        """The nodes whose clean activations are kept."""
        return {name for name, _ in self.keys}

    def prepare(self, bases: torch.Tensor, chw: tuple[int, int, int], plans: Iterable[Plan]) -> None:
        """Start afresh when the base images, their shape or the activations ``plans`` gather from change."""
        # Identity of the tensor itself, held alive: a freed batch's tensor often comes back at the same address
        # with the same id() and shape, and the new images would then be scored on the old ones' activations.
        owner, version = self.owner, _version(bases)
        same = owner is not None and owner[0] is bases and owner[1] == version
        keys: dict[Key, Pads] = {}
        for plan in plans:
            for (node, value), pads in plan.caches.items():
                old = keys.get((node.name, value), (0, 0, 0, 0))
                keys[(node.name, value)] = tuple(max(a, b) for a, b in zip(old, pads, strict=True))  # type: ignore[assignment]
        if not same or chw != self.shape or not _covers(self.keys, keys):
            self.reset(keys)
            self.owner = (bases, version)
            self.shape = chw

    def slots(self, bases: torch.Tensor, images: np.ndarray, net: TracedNet,
              fill: Callable[[torch.Tensor, dict[int, int]], None]) -> np.ndarray:
        """Cache slots of ``images`` (indices into ``bases``); ``fill(bases, {image: slot})`` computes the clean
        activations of images not yet cached (see :meth:`put`)."""
        uniq = np.unique(images)
        missing = [int(i) for i in uniq if int(i) not in self.slot_of]
        for i in uniq:
            if int(i) in self.slot_of:
                self.slot_of.move_to_end(int(i))
        if missing:
            self._grow(net, len(self.slot_of) + len(missing), protect=len(uniq))
            free = sorted(set(range(self.capacity)) - set(self.slot_of.values()))
            wanted = set(int(i) for i in uniq)
            while len(free) < len(missing):  # evict least recently used images not needed now
                victim = next(k for k in self.slot_of if k not in wanted)
                free.append(self.slot_of.pop(victim))
            new = {img: free[j] for j, img in enumerate(missing)}
            fill(bases, new)
            self.slot_of.update(new)
        return np.array([self.slot_of[int(i)] for i in images], dtype=np.int64)

    def _grow(self, net: TracedNet, wanted: int, protect: int) -> None:
        shapes = {op.node.name: op.shape for op in net.ops if op.shape is not None}
        per_image = max(1, self.bytes_per_image(shapes, torch.empty(0, dtype=self.dtype).element_size()))  # type: ignore[arg-type]
        limit = max(protect, self.budget // per_image)
        cap = min(max(wanted, 2 * self.capacity), limit)
        if cap <= self.capacity:
            return
        for key, (pt, pb, pl, pr) in self.keys.items():
            _, c, h, w = shapes[key[0]]  # type: ignore[misc]
            t = torch.empty((cap, h + pt + pb, w + pl + pr, c), dtype=self.dtype, device=self.device)
            if key in self.store:
                t[: self.capacity] = self.store[key]
            self.store[key] = t
        self.capacity = cap

    def put(self, name: str, slots: list[int], value: torch.Tensor) -> None:
        """Store the clean activations ``value`` (NCHW, one row per slot) of node ``name`` in ``slots``, padded
        as every key of that node asks."""
        nhwc = value.permute(0, 2, 3, 1)
        sl = torch.as_tensor(slots, device=self.device)
        for (key_name, pad_value), (pt, pb, pl, pr) in self.keys.items():
            if key_name == name:
                padded = F.pad(nhwc, (0, 0, pl, pr, pt, pb), value=pad_value)
                self.store[(key_name, pad_value)].index_copy_(0, sl, padded.to(self.dtype))

    def gather(self, g: Gather, value: torch.Tensor, rows: Rows, reuse: bool = False) -> torch.Tensor:
        """Apply a :class:`Gather`: clean activations at the target window with ``value`` overlaid.

        Index arithmetic runs in numpy and enters torch without a copy: two tensor ops per gather (one
        gather, one scatter), since per-op cost, not bytes moved, dominates on small windows. ``reuse``: the
        caller only reads the result within this chunk (a convolution's input), so the buffer of this gather's
        last call is written again instead of a new one (fixed-size chunks: the same shape every time; a fresh
        buffer of a few megabytes costs about as much again as the gather that fills it).
        """
        store = self.store[(g.src.name, g.pad_value)]
        pt, _, pl, _ = self.keys[(g.src.name, g.pad_value)]
        _, hp, wp, c = store.shape
        dev = store.device
        h, w = g.size
        gn = len(rows.slots)
        ty, tx = g.t[0][rows.ay], g.t[1][rows.ax]
        base = rows.slots * (hp * wp) + (ty + pt) * wp + (tx + pl)
        idx = as_index((base[:, None] + window_offsets(g.size, wp)).reshape(-1), dev)
        n_rows = gn * h * w
        # One spare row at the end takes the overlay's out-of-window writes when it must be clipped.
        shape = (n_rows + int(g.clip), c)
        buf = self.scratch.get(id(g)) if reuse else None
        if (buf is None or buf.shape != shape or buf.dtype != store.dtype or buf.device != dev
                or buf.is_inference() != torch.is_inference_mode_enabled()):
            buf = torch.empty(shape, dtype=store.dtype, device=dev)
            if reuse:
                self.scratch[id(g)] = buf
        torch.index_select(store.view(-1, c), 0, idx, out=buf[:n_rows])
        if g.src_size is not None:
            sh, sw = g.src_size
            ry, rx = g.r[0][rows.ay], g.r[1][rows.ax]
            if not g.clip:
                d = (np.arange(gn) * (h * w) + ry * w + rx)[:, None] + window_offsets((sh, sw), w)
            else:
                yy = ry[:, None] + np.arange(sh)
                xx = rx[:, None] + np.arange(sw)
                ok = ((yy >= 0) & (yy < h))[:, :, None] & ((xx >= 0) & (xx < w))[:, None, :]
                d = np.where(ok, np.arange(gn)[:, None, None] * (h * w) + yy[:, :, None] * w + xx[:, None, :], n_rows)
            src = value.permute(0, 2, 3, 1).reshape(-1, c)
            buf.index_copy_(0, as_index(d.reshape(-1), dev), src.to(store.dtype))
        return buf[:n_rows].view(gn, h, w, c).permute(0, 3, 1, 2)


_OFFSETS: dict[tuple[tuple[int, int], int], np.ndarray] = {}


def window_offsets(size: tuple[int, int], row_len: int) -> np.ndarray:
    """Flat offsets r * row_len + c of an h x w window, as a (1, h*w) array (kept: the same few shapes recur
    every chunk)."""
    key = (size, row_len)
    t = _OFFSETS.get(key)
    if t is None:
        t = _OFFSETS[key] = (np.arange(size[0])[:, None] * row_len + np.arange(size[1])[None, :]).reshape(1, -1)
    return t


def as_index(a: np.ndarray, device: torch.device) -> torch.Tensor:
    """An int64 numpy index as a tensor on ``device`` (no copy on the CPU)."""
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))
    return t if device.type == "cpu" else t.to(device)


def _covers(have: dict, need: dict) -> bool:
    return all(k in have and all(a >= b for a, b in zip(have[k], p, strict=True)) for k, p in need.items())


def _version(t: torch.Tensor) -> int:
    """The tensor's in-place-write counter; -1 for an inference tensor, which has none (made under
    ``torch.inference_mode``, it cannot be written outside of it)."""
    try:
        return t._version
    except RuntimeError:
        return -1
