"""BatchNormalization nodes of an ONNX model (``luckbench audit bn --weights model.onnx``).

Needs the optional ``onnx`` package (``pip install -e .[onnx]``); nothing of the model is run.
For every ``BatchNormalization`` node of the main graph, in graph order (ONNX requires graphs to
be topologically sorted, so this is input-to-output order), the scale (gamma) and bias (beta)
inputs are read from the graph's initializers or from ``Constant`` nodes (exporters such as
Paddle2ONNX store them there). A parameter computed at run time, stored in an external data
file (never opened: its path comes from the file) or not a real floating-point vector is a
one-line :class:`~luckbench.errors.InputError`.

``next_op`` is what consumes the BN output: one op type, several joined by ``+`` in sorted order
(``Add+Mul``), ``"output"`` for a graph output, and ``"HardSwish"`` for the decomposed hard-swish
x * clip(x + 3, 0, 6) / 6 (``Add`` -> ``Clip`` -> ``Mul`` back onto x), which is how MobileNetV3
exports write it. The paper's argument (Assumption 3) is about BN -> ReLU, so this matters.

The layer name is the scale parameter's name without a trailing ``_scale`` / ``.weight``
(``conv2_expand_bn``), else the node name, else its output name.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from luckbench.empirical.bn_audit import BNLayer
from luckbench.errors import InputError

_SCALE_SUFFIX = re.compile(r"(_scale|\.weight|_gamma)$")


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise InputError("reading .onnx files needs the optional `onnx` package: pip install -e .[onnx]") from None
    return onnx, numpy_helper


def _load(path: Path):
    onnx, _ = _onnx()
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError, truncated file, foreign bytes
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise InputError(f"{path}: not a readable ONNX model ({type(exc).__name__}{': ' + first if first else ''})") from None


def _stored_tensors(graph) -> dict:
    """Name -> TensorProto of every initializer and every Constant node's ``value``."""
    stored = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            if value is not None:
                stored[node.output[0]] = value
    return stored


def _vector(stored: dict, name: str, what: str, node_label: str, source: Path) -> np.ndarray:
    onnx, numpy_helper = _onnx()
    proto = stored.get(name)
    if proto is None:
        raise InputError(f"{source}: BN node {node_label}: {what} {name!r} is computed at run time, "
                         "not stored in an initializer or a Constant node")
    if proto.data_location == onnx.TensorProto.EXTERNAL:
        raise InputError(f"{source}: BN node {node_label}: {what} {name!r} is in an external data file (not read)")
    try:
        value = numpy_helper.to_array(proto)
    except Exception as exc:
        raise InputError(f"{source}: BN node {node_label}: {what} {name!r} is unreadable ({type(exc).__name__})") from None
    if np.iscomplexobj(value):
        raise InputError(f"{source}: BN node {node_label}: {what} {name!r} is complex-valued ({value.dtype})")
    if value.dtype.kind != "f":
        raise InputError(f"{source}: BN node {node_label}: {what} {name!r} is of dtype {value.dtype}, not floating point")
    if value.ndim != 1 or value.size == 0:
        raise InputError(f"{source}: BN node {node_label}: {what} {name!r} has shape {value.shape}, expected a vector")
    return value.astype(np.float64)


def _is_hard_swish(x: str, consumers: list, by_input: dict) -> bool:
    """``x`` -> Add -> Clip -> Mul(x, .) (the Mul may be followed by the /6)."""
    if sorted(n.op_type for n in consumers) != ["Add", "Mul"]:
        return False
    add = next(n for n in consumers if n.op_type == "Add")
    mul = next(n for n in consumers if n.op_type == "Mul")
    clips = [n for n in by_input[add.output[0]] if n.op_type == "Clip"]
    return any(mul in by_input[c.output[0]] for c in clips)


def _next_op(x: str, by_input: dict, graph_outputs: set[str]) -> str:
    consumers = by_input[x]
    if _is_hard_swish(x, consumers, by_input):
        return "HardSwish"
    ops = sorted({n.op_type for n in consumers} | ({"output"} if x in graph_outputs else set()))
    return "+".join(ops) if ops else "none"


def discover(path: str | Path) -> list[BNLayer]:
    """The BN layers of the ONNX model at ``path`` (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--weights: file not found: {path}")
    graph = _load(path).graph
    stored = _stored_tensors(graph)
    by_input: dict[str, list] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            by_input[name].append(node)
    outputs = {o.name for o in graph.output}
    bn_nodes = [n for n in graph.node if n.op_type == "BatchNormalization"]
    if not bn_nodes:
        raise InputError(f"{path}: no BatchNormalization nodes in the ONNX graph")
    names = [_SCALE_SUFFIX.sub("", n.input[1]) if len(n.input) > 1 else "" for n in bn_nodes]
    if len(set(names)) < len(names) or not all(names):
        names = [n.name or n.output[0] for n in bn_nodes]
    layers = []
    for node, name in zip(bn_nodes, names):
        if len(node.input) < 3:
            raise InputError(f"{path}: BN node {name} has {len(node.input)} inputs, expected X, scale, B, mean, var")
        gamma = _vector(stored, node.input[1], "scale", name, path)
        beta = _vector(stored, node.input[2], "bias B", name, path)
        if gamma.size != beta.size:
            raise InputError(f"{path}: BN node {name}: scale and bias lengths differ ({gamma.size}, {beta.size})")
        layers.append(BNLayer(name, beta, gamma, _next_op(node.output[0], by_input, outputs)))
    return layers
