"""Write tiny ONNX models without the ``onnx`` package: a minimal protobuf encoder for ModelProto.

The test models are "global average colour -> linear layer": outputs are easy to compute by hand in numpy,
so the ONNX adapter's layout, scaling, batching and softmax handling can be checked exactly.
Field numbers follow onnx/onnx.proto (ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto).
"""

from __future__ import annotations

import numpy as np

FLOAT, UINT8, INT64 = 1, 2, 7


def _varint(v: int) -> bytes:
    out = bytearray()
    v &= (1 << 64) - 1
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _int(field: int, v: int) -> bytes:
    return _key(field, 0) + _varint(v)


def _bytes(field: int, b: bytes | str) -> bytes:
    b = b.encode() if isinstance(b, str) else b
    return _key(field, 2) + _varint(len(b)) + b


def _tensor(name: str, arr: np.ndarray) -> bytes:
    dtype = {np.dtype(np.float32): FLOAT, np.dtype(np.int64): INT64}[arr.dtype]
    dims = b"".join(_int(1, d) for d in arr.shape)
    return dims + _int(2, dtype) + _bytes(8, name) + _bytes(9, np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes())


def _value_info(name: str, elem: int, shape: list[int | str]) -> bytes:
    dims = b"".join(_bytes(1, _int(1, d) if isinstance(d, int) else _bytes(2, d)) for d in shape)
    tensor_type = _int(1, elem) + _bytes(2, dims)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


def _node(op: str, inputs: list[str], outputs: list[str], **attrs) -> bytes:
    b = b"".join(_bytes(1, i) for i in inputs) + b"".join(_bytes(2, o) for o in outputs) + _bytes(4, op)
    for name, v in attrs.items():
        if isinstance(v, list):  # INTS
            a = _bytes(1, name) + b"".join(_int(8, x) for x in v) + _int(20, 7)
        else:  # INT
            a = _bytes(1, name) + _int(3, v) + _int(20, 2)
        b += _bytes(5, a)
    return b


def mean_colour_model(weights: np.ndarray, bias: np.ndarray, layout: str = "NCHW", batch: int | str = "N",
                      size: tuple[int, int] = (8, 8), softmax: bool = False, uint8_input: bool = False) -> bytes:
    """ONNX bytes of ``scores = mean_over_pixels(x) @ weights + bias`` (optionally followed by Softmax).

    ``x`` is float (N, 3, H, W) or (N, H, W, 3) per ``layout``, or uint8 cast to float when ``uint8_input``.
    """
    h, w = size
    shape = [batch, 3, h, w] if layout == "NCHW" else [batch, h, w, 3]
    axes = [2, 3] if layout == "NCHW" else [1, 2]
    nodes, src = [], "x"
    if uint8_input:
        nodes.append(_node("Cast", ["x"], ["xf"], to=FLOAT))
        src = "xf"
    nodes += [
        _node("ReduceMean", [src], ["m"], axes=axes, keepdims=0),
        _node("MatMul", ["m", "W"], ["z"]),
        _node("Add", ["z", "b"], ["logits" if softmax else "y"]),
    ]
    if softmax:
        nodes.append(_node("Softmax", ["logits"], ["y"], axis=-1))
    k = weights.shape[1]
    graph = (b"".join(_bytes(1, n) for n in nodes) + _bytes(2, "g")
             + _bytes(5, _tensor("W", weights.astype(np.float32))) + _bytes(5, _tensor("b", bias.astype(np.float32)))
             + _bytes(11, _value_info("x", UINT8 if uint8_input else FLOAT, shape))
             + _bytes(12, _value_info("y", FLOAT, [batch, k])))
    opset = _bytes(1, "") + _int(2, 13)  # opset 13: ReduceMean takes axes as an attribute
    return _int(1, 7) + _bytes(2, "onepixel-tests") + _bytes(7, graph) + _bytes(8, opset)


def mean_colour_reference(images: np.ndarray, weights: np.ndarray, bias: np.ndarray, scale: float = 1 / 255) -> np.ndarray:
    """The same model in numpy, on uint8 NHWC images scaled by ``scale``."""
    return (images.astype(np.float64) * scale).mean(axis=(1, 2)) @ weights + bias
