"""Delta (incremental) inference: re-run only the part of a network that a few changed pixels can reach.

The clean image's activations are computed once and cached (:mod:`onepixel.models.delta_cache`). A candidate that changes k pixels inside an
sh x sw box alters, layer by layer, only a window of each feature map; the engine gathers each op's input
window from the clean cache, overlays the part that changed, and runs the op on the window alone
(convolutions, pooling, activations, batch-norm, residual additions). Where the window reaches the whole
map, or an op is unknown, everything after runs on whole maps, as in the module. Windows of one op have one
size for every candidate of a class (see :mod:`onepixel.models.delta_plan`), so a batch of candidates at
arbitrary positions runs as one tensor with index-based gathers and scatters and no Python loop over rows.

Results equal the full forward up to floating-point summation order (within 1e-5 on fp32 logits for the zoo
models). Each class runs in padded chunks of a fixed size (the search's, or bigger where the plan has shown
that the size changes no score) and the clean activations are computed in fixed batches, so a row's scores
never depend on its batch-mates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import fx, nn

from . import delta_plan
from .delta_cache import CACHE_BATCH, CleanCache, Rows, as_index, window_offsets
from .delta_graph import Op, TracedNet, trace
from .delta_plan import Plan
from .threads import GovernedThreads


class DeltaEngine:
    """Incremental inference for one ``nn.Module`` (its own dtype and device) behind a :class:`Preprocess`.

    Args:
        module: the network in the precision to run (e.g. the bf16 BN-folded copy); it is traced, not changed.
        preprocess: uint8 NHWC -> module input, pointwise per pixel (so a window can be preprocessed alone).
        batch_size: rows per delta chunk (each window class pads its last chunk, so not much larger than a round
            leaves per class).
        min_gain: a window class runs incrementally only where its arithmetic bound (full MACs over delta
            MACs) reaches this; other classes are answered by the full forward.
        cache_bytes: memory budget for cached clean activations.
        threads: the thread governors to run chunks under on a CPU (default: the engine's own).
    """

    def __init__(self, module: nn.Module, preprocess: Callable[..., torch.Tensor], batch_size: int = 64,
                 min_gain: float = 1.5, cache_bytes: int = 1 << 30, threads: GovernedThreads | None = None) -> None:
        self.module = module
        self.preprocess = preprocess
        self.batch_size = int(batch_size)
        self.min_gain = float(min_gain)
        param = next(iter(module.parameters()), None)
        self.dtype = param.dtype if param is not None else torch.float32
        self.device = param.device if param is not None else torch.device("cpu")
        self._nets: dict[tuple[int, int, int], TracedNet | None] = {}
        self._plans: dict[tuple[tuple[int, int, int], tuple[int, int]], Plan | None] = {}
        self._consts: dict[tuple[int, int, int], dict[fx.Node, object]] = {}
        self._last_use: dict[tuple[int, int, int], dict[fx.Node, int]] = {}
        #: the clean activations of the current query's base images (see :mod:`onepixel.models.delta_cache`)
        self.cache = CleanCache(cache_bytes, self.dtype, self.device)
        self.trace_error: str | None = None
        #: per (input shape, window size, smallest chunk): whether bigger chunks leave every row's scores alone
        self._invariant: dict[tuple[tuple[int, int, int], tuple[int, int], int], bool] = {}
        #: the thread count of each chunk, on a CPU (:mod:`onepixel.models.threads`)
        self.threads = threads or GovernedThreads(None if self.device.type == "cpu" else 1)

    # ----------------------------------------------------------------------------------------- planning
    def net(self, chw: tuple[int, int, int]) -> TracedNet | None:
        """The traced network for inputs of (C, H, W), or None where the module cannot be traced."""
        if chw not in self._nets:
            try:
                net = trace(self.module, chw)
            except Exception as e:  # untraceable or unsupported: the caller falls back to the full forward
                self.trace_error = f"{type(e).__name__}: {e}"
                net = None
            self._nets[chw] = net
            if net is not None:
                with torch.inference_mode():
                    self._consts[chw] = {op.node: net.run_node(op, *_concrete(op.node, {})) for op in net.ops if op.kind == "const"}
                uses: dict[fx.Node, int] = {}
                for i, op in enumerate(net.ops):
                    for a in op.node.all_input_nodes:
                        uses[a] = i
                self._last_use[chw] = uses
        return self._nets[chw]

    def plan(self, chw: tuple[int, int, int], size: tuple[int, int]) -> Plan | None:
        """The plan for ``size``-windows, or None where it would not beat the full forward by ``min_gain``."""
        if (chw, size) not in self._plans:
            # Plan every class of this input size at once (about a millisecond each): the caches then hold
            # what any class gathers from from the start, and are never rebuilt when a new class shows up.
            net = self.net(chw)
            for side in _buckets(max(chw[1], chw[2])):
                sh, sw = min(side, chw[1]), min(side, chw[2])
                plan = delta_plan.build(net, chw[1:], (sh, sw)) if net is not None else None
                if plan is not None and (plan.windowed == 0 or plan.gain < self.min_gain):
                    plan = None
                self._plans[(chw, (sh, sw))] = plan
        return self._plans.get((chw, size))

    def window_class(self, chw: tuple[int, int, int], x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per row, the window class (sh, sw) as one int ``sh * 65536 + sw``: the longer side of the box
        around its changed pixels, rounded up to a power of two and capped by the image. Square classes on
        a coarse grid keep the classes few, so few chunks run partly filled."""
        extent = np.maximum(y.max(1) - y.min(1), x.max(1) - x.min(1)) + 1
        side = 1 << np.ceil(np.log2(extent)).astype(np.int64)
        return np.minimum(side, chw[1]) * 65536 + np.minimum(side, chw[2])

    # ----------------------------------------------------------------------------------------- running
    def chunks(self, bases: torch.Tensor, which: np.ndarray, x: np.ndarray, y: np.ndarray, colours: np.ndarray,
               chunk: int | None = None) -> Iterator[tuple[np.ndarray | None, np.ndarray, torch.Tensor | None]]:
        """Scores for the rows of one query, as ``(rows, padded_rows, scores)`` per chunk of ``chunk`` rows
        (default ``batch_size``).

        Rows of a class without a plan come back once, together, as ``(None, rows, None)``: the caller
        answers them with the full forward. ``scores`` has one row per entry of ``padded_rows``.
        """
        chw = (int(bases.shape[3]), int(bases.shape[1]), int(bases.shape[2]))
        classes = self.window_class(chw, x, y)
        full: list[np.ndarray] = []
        with self.threads.query():
            for cls in np.unique(classes):
                rows = np.nonzero(classes == cls)[0]
                plan = self.plan(chw, (int(cls) // 65536, int(cls) % 65536))
                if plan is None:
                    full.append(rows)
                    continue
                self._prepare(bases, chw)
                bs = self._chunk_for(plan, chw, bases, (which[rows], x[rows], y[rows], colours[rows]),
                                     chunk or self.batch_size)
                for start in range(0, len(rows), bs):
                    real = rows[start : start + bs]
                    padded = np.concatenate([real, np.repeat(real[-1:], bs - len(real))])
                    yield real, padded, self._governed_run(plan, chw, bases, which[padded], x[padded], y[padded],
                                                           colours[padded])
        if full:
            yield None, np.sort(np.concatenate(full)), None

    def _chunk_for(self, plan: Plan, chw: tuple[int, int, int], bases: torch.Tensor, rows: tuple[np.ndarray, ...],
                   chunk: int) -> int:
        """Rows per chunk for one class's ``rows`` (which, x, y, colours): ``chunk``, which the search's settings
        alone set, or a bigger power of two up to ``batch_size`` where the query has the rows to fill it and this
        plan scores a row the same in every chunk size (checked once per plan: :meth:`_same_in_every_chunk`).
        Bigger chunks cost less per row (on a 2-core CPU 1.7x less at 64 rows than at 8), so a campaign's small
        search rounds run as fast per query as its wide ones, and no row's scores depend on its batch-mates."""
        wide = min(self.batch_size, 1 << (len(rows[0]) - 1).bit_length())
        if wide <= chunk:
            return chunk
        key = (chw, plan.size, chunk)
        if key not in self._invariant:
            with self.threads.own_count():  # on torch's own count: the one the thread check compares with
                self._invariant[key] = self._same_in_every_chunk(plan, chw, bases, rows, chunk)
        return wide if self._invariant[key] else chunk

    def _same_in_every_chunk(self, plan: Plan, chw: tuple[int, int, int], bases: torch.Tensor,
                             rows: tuple[np.ndarray, ...], smallest: int) -> bool:
        """Whether ``batch_size`` rows (``rows`` repeated) score the same bits in chunks of ``smallest`` rows as
        in chunks of every bigger size :meth:`_chunk_for` may pick. Backends choose kernels by shape, and a
        kernel that sums in another order for another batch size would show here."""
        probe = [r[np.arange(self.batch_size) % len(r)] for r in rows]
        sizes = [smallest]
        while sizes[-1] * 2 < self.batch_size:
            sizes.append(sizes[-1] * 2)
        sizes.append(self.batch_size)
        scores = [self._in_chunks(plan, chw, bases, probe, size) for size in sizes]
        return all(torch.equal(scores[0], other) for other in scores[1:])

    def _governed_run(self, plan: Plan, chw: tuple[int, int, int], bases: torch.Tensor, which: np.ndarray,
                      x: np.ndarray, y: np.ndarray, colours: np.ndarray) -> torch.Tensor:
        """:meth:`_run` on the thread count the governor picks (:mod:`onepixel.models.threads`)."""
        return self.threads.call("delta", (chw, plan.size, len(which)), len(which),
                                 lambda: self._run(plan, chw, bases, which, x, y, colours))

    def _in_chunks(self, plan: Plan, chw: tuple[int, int, int], bases: torch.Tensor, rows: list[np.ndarray],
                   size: int) -> torch.Tensor:
        """Scores of ``rows`` run in padded chunks of ``size`` rows."""
        n, out = len(rows[0]), []
        for start in range(0, n, size):
            pick = np.minimum(np.arange(start, start + size), n - 1)  # the last chunk repeats the last row
            out.append(self._run(plan, chw, bases, *(r[pick] for r in rows))[: min(size, n - start)].clone())
        return torch.cat(out)

    def _prepare(self, bases: torch.Tensor, chw: tuple[int, int, int]) -> None:
        """Start a fresh cache when the base images or the set of cached activations change."""
        self.cache.prepare(bases, chw, [plan for (shape, _), plan in self._plans.items()
                                        if plan is not None and shape == chw])

    def _fill(self, bases: torch.Tensor, new: dict[int, int]) -> None:
        """Run the clean forward (fixed batches of :data:`CACHE_BATCH`) and store the cached activations."""
        chw = self.cache.shape
        net = self._nets[chw]  # type: ignore[index]
        assert net is not None
        wanted = self.cache.names()
        imgs, slots = list(new), list(new.values())
        for start in range(0, len(imgs), CACHE_BATCH):
            part = imgs[start : start + CACHE_BATCH]
            idx = torch.as_tensor(part + [part[-1]] * (CACHE_BATCH - len(part)), device=bases.device)
            env: dict[fx.Node, object] = {}
            consts = self._consts[chw]  # type: ignore[index]
            last = self._last_use[chw]  # type: ignore[index]
            for i, op in enumerate(net.ops):
                node = op.node
                if op.kind == "input":
                    env[node] = self.preprocess(bases.index_select(0, idx), self.dtype)
                elif op.kind == "const":
                    env[node] = consts[node]
                elif op.kind != "output":
                    args, kwargs = _concrete(node, env)
                    env[node] = net.run_node(op, args, kwargs)
                if node.name in wanted:
                    value = env[node]
                    assert isinstance(value, torch.Tensor)
                    self.cache.put(node.name, slots[start : start + len(part)], value[: len(part)])
                for a in node.all_input_nodes:
                    if last.get(a) == i and a.op != "get_attr":
                        env.pop(a, None)

    def _input_window(self, bases: torch.Tensor, size: tuple[int, int], which: np.ndarray, x: np.ndarray,
                      y: np.ndarray, colours: np.ndarray, ay: np.ndarray, ax: np.ndarray) -> torch.Tensor:
        """The preprocessed input windows: the base image's pixels in the box with the candidate's pixels set."""
        n, h, w, c = bases.shape
        dev = bases.device
        g = len(which)
        if size == (1, 1):
            win = torch.as_tensor(colours[:, -1], device=dev).view(g, 1, 1, c)  # all k pixels coincide: last wins
        else:
            base = which * (h * w) + ay * w + ax
            idx = as_index((base[:, None] + window_offsets(size, w)).reshape(-1), dev)
            win = bases.reshape(-1, c).index_select(0, idx).view(g, size[0], size[1], c)
            rows = torch.arange(g, device=dev)[:, None].expand(g, x.shape[1])
            win[rows, torch.as_tensor(y - ay[:, None], device=dev), torch.as_tensor(x - ax[:, None], device=dev)] = \
                torch.as_tensor(colours, device=dev)
        return self.preprocess(win, self.dtype)

    def _run(self, plan: Plan, chw: tuple[int, int, int], bases: torch.Tensor, which: np.ndarray, x: np.ndarray,
             y: np.ndarray, colours: np.ndarray) -> torch.Tensor:
        """Scores (rows, classes) of one chunk through ``plan``."""
        net = self._nets[chw]
        assert net is not None
        sh, sw = plan.size
        ay = np.clip(y.min(1), 0, chw[1] - sh)
        ax = np.clip(x.min(1), 0, chw[2] - sw)
        rows = Rows(self.cache.slots(bases, which, net, self._fill), ay, ax)
        consts = self._consts[chw]
        last = self._last_use[chw]
        env: dict[fx.Node, object] = {}
        fused: set[fx.Node] = set()  # convolutions that ran with their ReLU
        result: object = None
        for i, step in enumerate(plan.steps):
            op = step.op
            node = op.node
            if step.mode == "input":
                env[node] = self._input_window(bases, plan.size, which, x, y, colours, ay, ax)
            elif step.mode == "const":
                env[node] = consts[node]
            else:
                vals = dict(env)
                # A convolution's input is read once, here: its gather buffers are reused chunk after chunk.
                conv = op.kind == "slide" and op.slide is not None and op.slide.macs_per_output > 0
                for a, g in step.gathers.items():
                    vals[a] = self.cache.gather(g, env[a], rows, reuse=conv)  # type: ignore[arg-type]
                if step.mode == "output":
                    result = _concrete(node, vals)[0][0]
                elif op.kind == "slide" and (step.mode == "window" or _unpadded(op)):
                    # On a window, or on a whole map that needs no padding (the ``fn`` of a slide pads nothing):
                    # the backend's fused convolution and ReLU, one call instead of the module and its ReLU.
                    assert op.slide is not None
                    if op.fuse_relu and op.slide.fn_relu is not None:
                        env[node] = op.slide.fn_relu(vals[op.data_args[0]])  # type: ignore[arg-type]
                        fused.add(node)
                    else:
                        env[node] = op.slide.fn(vals[op.data_args[0]])  # type: ignore[arg-type]
                elif op.absorbed and op.data_args[0] in fused:
                    env[node] = vals[op.data_args[0]]
                else:
                    args, kwargs = _concrete(node, vals)
                    env[node] = net.run_node(op, args, kwargs, window=step.mode == "window")
            for a in node.all_input_nodes:  # free values nobody reads any more
                if last.get(a) == i and a in env and a.op != "get_attr":
                    del env[a]
        if not isinstance(result, torch.Tensor):
            raise TypeError(f"delta inference needs a module returning one tensor (got {type(result).__name__})")
        return result


def _unpadded(op: Op) -> bool:
    """Whether a slide op pads nothing, so its window function also runs it on a whole map."""
    return op.slide is not None and not any(op.slide.pad_lo) and not any(op.slide.pad_hi)


def _concrete(node: fx.Node, env: dict) -> tuple[tuple, dict]:
    """The node's args and kwargs with graph nodes replaced by their values."""
    args = fx.node.map_arg(node.args, lambda n: env[n])
    kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
    return tuple(args), dict(kwargs)  # type: ignore[arg-type]


def _buckets(n: int) -> list[int]:
    """Window sizes of the classes along an axis of n pixels: powers of two below n, then n."""
    out = [1]
    while out[-1] * 2 < n:
        out.append(out[-1] * 2)
    return out + [n] if n > 1 else out
