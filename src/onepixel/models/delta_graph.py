"""What delta inference needs to know about a network: its ops in order, and how each one treats space.

A module is traced with :mod:`torch.fx` into a flat list of :class:`Op`. Each op gets one of four kinds:

* ``slide``: a sliding-window op (convolution, max/avg pooling, strided subsampling) described by kernel,
  stride, dilation and padding per axis; delta inference runs it on a gathered window with no padding.
* ``point``: acts on every spatial position independently (activations, eval-mode batch-norm, dropout,
  channel padding or slicing): it runs unchanged on a window.
* ``nary``: pointwise over several input-dependent tensors (residual additions, channel concatenation):
  the operands are brought to one common window first.
* ``generic``: anything else (global pooling, flatten, linear, unknown layers): it needs whole maps, so
  delta inference falls back to the full forward from there on.

Nothing here runs a model on images; :mod:`onepixel.models.delta_plan` turns the ops into window geometry.
"""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn
from torch.nn import functional as F

# Modules that act on each spatial position on its own (in eval mode).
_POINTWISE_MODULES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Identity,
    nn.Dropout, nn.Dropout2d, nn.AlphaDropout,
)
_POINTWISE_FUNCTIONS: set[Any] = {
    F.relu, torch.relu, F.relu6, F.leaky_relu, F.gelu, F.silu, F.hardswish, F.hardsigmoid, F.hardtanh, F.elu,
    torch.sigmoid, torch.tanh, F.sigmoid, F.tanh, torch.clamp, torch.clip,
}
_POINTWISE_METHODS = {"relu", "sigmoid", "tanh", "clamp", "clip", "contiguous"}
_NARY_FUNCTIONS: set[Any] = {
    operator.add, operator.sub, operator.mul, operator.truediv, operator.iadd, operator.isub, operator.imul,
    torch.add, torch.sub, torch.mul, torch.div, torch.maximum, torch.minimum,
}
_NARY_METHODS = {"add", "sub", "mul", "div"}
# In-place variants are run out of place on windows: a window may be shared by several consumers.
_OUT_OF_PLACE = {operator.iadd: operator.add, operator.isub: operator.sub, operator.imul: operator.mul}


@dataclass(frozen=True)
class Slide:
    """A sliding-window op along both spatial axes: per axis (y, x) kernel, stride, dilation, padding before
    and after, the value padding stands for, and ``fn`` running the op on an already padded window."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pad_lo: tuple[int, int]
    pad_hi: tuple[int, int]
    pad_value: float
    fn: Callable[[torch.Tensor], torch.Tensor]
    macs_per_output: int = 0  # multiply-accumulates per output position (convolutions), for cost estimates
    #: the op followed by ReLU in one call, where the backend fuses them (oneDNN on CPU)
    fn_relu: Callable[[torch.Tensor], torch.Tensor] | None = None

    def span(self, axis: int) -> int:
        """Input positions one output position reads along ``axis``."""
        return self.dilation[axis] * (self.kernel[axis] - 1) + 1


@dataclass
class Op:
    """One traced node with its kind and, for ``slide`` ops, its window geometry."""

    node: fx.Node
    kind: str  # "input", "const", "slide", "point", "nary", "generic", "output"
    slide: Slide | None = None
    #: input-dependent nodes among the arguments, in order
    data_args: list[fx.Node] = field(default_factory=list)
    #: output shape (from shape propagation), None for non-tensors
    shape: tuple[int, ...] | None = None
    #: for "generic" and "point" ops: multiply-accumulates per image in a full forward (Linear layers)
    macs: int = 0
    #: a convolution whose only consumer is a ReLU: on windows both run as one fused call
    fuse_relu: bool = False
    #: that ReLU: on windows it passes its (already rectified) input through
    absorbed: bool = False


@dataclass
class TracedNet:
    """A traced copy of a module and its ops in execution order."""

    gm: fx.GraphModule
    ops: list[Op]
    dtype: torch.dtype

    def run_node(self, op: Op, args: tuple, kwargs: dict, window: bool = False) -> Any:
        """Execute one node on concrete values (``window``: the values are windows, so in-place variants are
        replaced by their out-of-place forms)."""
        node = op.node
        if node.op == "call_module":
            return self.gm.get_submodule(str(node.target))(*args, **kwargs)
        if node.op == "call_function":
            fn: Any = node.target  # a callable here (strings are the targets of the other node kinds)
            if window:
                fn = _OUT_OF_PLACE.get(fn, fn)
                if kwargs.get("inplace"):
                    kwargs = {**kwargs, "inplace": False}
            return fn(*args, **kwargs)
        if node.op == "call_method":
            name = str(node.target)
            if window and name.endswith("_") and hasattr(args[0], name[:-1]):
                name = name[:-1]
            return getattr(args[0], name)(*args[1:], **kwargs)
        if node.op == "get_attr":
            return _fetch_attr(self.gm, str(node.target))
        raise ValueError(f"cannot run node {node.name} ({node.op})")


def _fetch_attr(gm: nn.Module, target: str) -> Any:
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _pair(v: int | tuple[int, ...] | list[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    t = tuple(int(i) for i in v)
    return (t[0], t[0]) if len(t) == 1 else (t[0], t[1])


def _conv_slide(m: nn.Conv2d) -> Slide | None:
    if m.padding_mode != "zeros":
        return None  # reflect/replicate/circular padding depends on far-away pixels
    k, s, d = _pair(m.kernel_size), _pair(m.stride), _pair(m.dilation)
    if isinstance(m.padding, str):
        if m.padding == "valid":
            lo = hi = (0, 0)
        else:  # "same" (stride 1): PyTorch puts the odd extra padding after
            total = tuple(d[i] * (k[i] - 1) for i in range(2))
            lo = (total[0] // 2, total[1] // 2)
            hi = (total[0] - lo[0], total[1] - lo[1])
    else:
        lo = hi = _pair(m.padding)
    weight, bias, groups = m.weight, m.bias, m.groups
    macs = (m.in_channels // groups) * m.out_channels * k[0] * k[1]
    fused = None
    if weight.device.type == "cpu" and weight.dtype in (torch.float32, torch.bfloat16) and torch.backends.mkldnn.is_available():
        # One oneDNN call instead of two: small windows make the per-op cost, not arithmetic, the bottleneck.
        def fused(t: torch.Tensor) -> torch.Tensor:
            return torch.ops.mkldnn._convolution_pointwise(t, weight, bias, [0, 0], list(s), list(d), groups, "relu", [None], "")
    return Slide(k, s, d, lo, hi, 0.0, lambda t: F.conv2d(t, weight, bias, s, 0, d, groups), macs, fused)


def _pool_slide(m: nn.MaxPool2d | nn.AvgPool2d) -> Slide | None:
    if getattr(m, "ceil_mode", False) or getattr(m, "return_indices", False):
        return None
    k = _pair(m.kernel_size)
    s = _pair(m.stride if m.stride is not None else m.kernel_size)
    p = _pair(m.padding)
    if isinstance(m, nn.MaxPool2d):
        d = _pair(m.dilation)
        return Slide(k, s, d, p, p, float("-inf"), lambda t: F.max_pool2d(t, k, s, 0, d))
    assert isinstance(m, nn.AvgPool2d)
    if any(p) and not m.count_include_pad:
        return None  # the divisor would change at borders
    div = m.divisor_override
    # With count_include_pad the padded zeros count in the mean, so a zero-padded window gives the same sums.
    return Slide(k, s, (1, 1), p, p, 0.0, lambda t: F.avg_pool2d(t, k, s, 0, divisor_override=div))


def _subsample_slide(index: Any) -> Slide | None:
    """``x[:, :, ::sy, ::sx]`` (the option-A ResNet shortcut) as a 1x1 sliding op with a stride."""
    if not isinstance(index, tuple) or len(index) != 4 or not all(isinstance(i, slice) for i in index):
        return None
    if any(i != slice(None) for i in index[:2]):
        return None
    sy, sx = index[2], index[3]
    if any(i.start not in (None, 0) or i.stop is not None for i in (sy, sx)):
        return None
    st = (sy.step or 1, sx.step or 1)
    return Slide((1, 1), st, (1, 1), (0, 0), (0, 0), 0.0, lambda t: t[:, :, :: st[0], :: st[1]])


def _is_channel_only(node: fx.Node) -> bool:
    """Channel padding (``F.pad`` with zero spatial pads) or channel slicing: pointwise in space."""
    if node.target is F.pad:
        pad = node.args[1] if len(node.args) > 1 else node.kwargs.get("pad")
        mode = node.kwargs.get("mode", node.args[2] if len(node.args) > 2 else "constant")
        return isinstance(pad, (tuple, list)) and len(pad) >= 6 and all(v == 0 for v in pad[:4]) and mode == "constant"
    if node.target is operator.getitem:
        idx = node.args[1]
        return (isinstance(idx, tuple) and 2 <= len(idx) <= 4 and all(isinstance(i, slice) for i in idx)
                and idx[0] == slice(None) and all(i == slice(None) for i in idx[2:]))
    return False


def _classify(gm: fx.GraphModule, node: fx.Node) -> tuple[str, Slide | None]:
    if node.op == "call_module":
        m = gm.get_submodule(str(node.target))
        if isinstance(m, nn.Conv2d):
            sl = _conv_slide(m)
            return ("slide", sl) if sl else ("generic", None)
        if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            sl = _pool_slide(m)
            return ("slide", sl) if sl else ("generic", None)
        if isinstance(m, nn.BatchNorm2d):
            # Eval-mode batch-norm with running statistics is a per-channel affine map.
            ok = not m.training and m.running_mean is not None
            return ("point" if ok else "generic", None)
        if isinstance(m, _POINTWISE_MODULES):
            return ("point", None)
        return ("generic", None)
    if node.op == "call_function":
        if node.target in _POINTWISE_FUNCTIONS:
            return ("point", None)
        if node.target in _NARY_FUNCTIONS:
            return ("nary", None)
        if node.target is torch.cat:
            dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
            return ("nary" if dim in (1, -3) else "generic", None)
        if _is_channel_only(node):
            return ("point", None)
        if node.target is operator.getitem:
            sl = _subsample_slide(node.args[1])
            return ("slide", sl) if sl else ("generic", None)
        return ("generic", None)
    if node.op == "call_method":
        name = str(node.target).rstrip("_")
        if name in _POINTWISE_METHODS:
            return ("point", None)
        if name in _NARY_METHODS:
            return ("nary", None)
        return ("generic", None)
    return ("generic", None)


def _no_inplace(module: nn.Module) -> None:
    """Turn off ``inplace`` flags: delta inference keeps several views of a value alive at once."""
    for m in module.modules():
        if getattr(m, "inplace", False) is True:
            m.inplace = False  # type: ignore[assignment]  # (the flag of modules that have one)


def trace(module: nn.Module, input_shape: tuple[int, int, int]) -> TracedNet:
    """Trace a copy of ``module`` and classify its nodes for an input of shape (C, H, W).

    Raises whatever :func:`torch.fx.symbolic_trace` raises for untraceable modules (data-dependent control
    flow, TorchScript): callers then use the full forward only.
    """
    if isinstance(module, torch.jit.ScriptModule):
        raise TypeError("TorchScript modules cannot be traced with torch.fx")
    mod = copy.deepcopy(module).eval()
    _no_inplace(mod)
    gm = fx.symbolic_trace(mod)
    param = next(iter(gm.parameters()), None)
    dtype = param.dtype if param is not None else torch.float32
    device = param.device if param is not None else torch.device("cpu")

    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise TypeError(f"delta inference needs a module with one input (found {len(placeholders)})")
    shapes = _shapes(gm, torch.zeros((1, *input_shape), dtype=dtype, device=device))

    dependent: set[fx.Node] = set()
    ops: list[Op] = []
    for node in gm.graph.nodes:
        data = [a for a in node.all_input_nodes if a in dependent]
        if node.op == "placeholder":
            kind, sl = "input", None
            dependent.add(node)
        elif node.op == "output":
            kind, sl = "output", None
        elif not data:
            kind, sl = "const", None  # parameters and values computed from them only
        else:
            dependent.add(node)
            kind, sl = _classify(gm, node)
            shp = shapes.get(node)
            spatial = shp is not None and len(shp) == 4 and all(shapes.get(a) is not None and len(shapes[a]) == 4 for a in data)
            if kind != "generic" and not spatial:
                kind, sl = "generic", None
            if kind == "slide" and len(data) != 1:
                kind, sl = "generic", None
            if kind == "point" and len(data) != 1:
                kind = "nary"
            if kind in ("point", "nary") and not _consts_broadcast(node, dependent, shapes):
                kind, sl = "generic", None
        sub = gm.get_submodule(str(node.target)) if node.op == "call_module" else None
        macs = sub.in_features * sub.out_features if isinstance(sub, nn.Linear) else 0
        ops.append(Op(node, kind, sl, data, shapes.get(node), macs))
    _mark_fusions(gm, ops)
    return TracedNet(gm, ops, dtype)


def _is_relu(gm: fx.GraphModule, node: fx.Node) -> bool:
    if node.op == "call_module":
        return type(gm.get_submodule(str(node.target))) is nn.ReLU
    if node.op == "call_function":
        return node.target in (F.relu, torch.relu) and len(node.args) == 1
    return node.op == "call_method" and node.target in ("relu", "relu_") and len(node.args) == 1


def _mark_fusions(gm: fx.GraphModule, ops: list[Op]) -> None:
    """Pair each fusable convolution with the ReLU that is its only consumer."""
    by_node = {op.node: op for op in ops}
    for op in ops:
        users = list(op.node.users)
        if op.kind == "slide" and op.slide is not None and op.slide.fn_relu is not None and len(users) == 1:
            relu = by_node[users[0]]
            if relu.kind == "point" and _is_relu(gm, relu.node):
                op.fuse_relu = relu.absorbed = True


def _consts_broadcast(node: fx.Node, dependent: set[fx.Node], shapes: dict[fx.Node, tuple[int, ...]]) -> bool:
    """Whether the constant tensors a pointwise op mixes in are the same at every position (no spatial extent)."""
    for a in node.all_input_nodes:
        if a in dependent:
            continue
        shp = shapes.get(a)
        if shp is None or math.prod(shp) == 1:
            continue
        if len(shp) < 3 or tuple(shp[-2:]) != (1, 1):  # a (W,)-shaped constant would vary along x
            return False
    return True


def _shapes(gm: fx.GraphModule, example: torch.Tensor) -> dict[fx.Node, tuple[int, ...]]:
    """Output shape of every tensor-valued node for one example input."""
    out: dict[fx.Node, tuple[int, ...]] = {}

    class _Recorder(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            value = super().run_node(n)
            if isinstance(value, torch.Tensor):
                out[n] = tuple(value.shape)
            return value

    with torch.inference_mode():
        _Recorder(gm).run(example)
    return out
