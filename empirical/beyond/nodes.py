"""Hidden nodes of a fully connected :class:`~luckbench.theory.network.ReLUNet`: their norms, the
sub-network on a subset of them, their removal, and overlaps between node sets.

Node ``j`` of hidden layer ``l`` has a *fan-in* (row ``j`` of layer ``l``'s weight, with its bias) and a
*fan-out* (column ``j`` of the next linear map: layer ``l + 1`` or the head). In Theorem 5's two-layer
notation the fan-out is ``v_j``, the row of V whose norm the top-down modulation drives to 0 on the
r-set (``docs/math.md`` sec 2, Theorem 5). A node set is given per hidden layer as an array of indices.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from luckbench.errors import InputError
from luckbench.theory.network import NetSpec, ReLUNet


def check_plain_fc(net: ReLUNet) -> None:
    """The node operations below need a BN-free fully connected network."""
    if net.spec.kind != "fc" or net.spec.bn != "none":
        raise InputError("beyond: node pruning and sub-networks need a fully connected student without BatchNorm")


def fan_in_norms(net: ReLUNet) -> list[np.ndarray]:
    """Per hidden layer, ||(w_j, b_j)||: the norm of each node's incoming weights and bias."""
    out = []
    for block in net.hidden:
        w = block.linear.weight.detach().double()
        sq = (w ** 2).sum(1)
        if block.linear.bias is not None:
            sq = sq + block.linear.bias.detach().double() ** 2
        out.append(sq.sqrt().cpu().numpy())
    return out


def fan_out_norms(net: ReLUNet) -> list[np.ndarray]:
    """Per hidden layer, ||v_j||: the norm of each node's outgoing weights (a column of the next map)."""
    return [lin.weight.detach().double().norm(dim=0).cpu().numpy() for lin in net.linears[1:]]


NODE_SCORES = {"fan_out": fan_out_norms, "fan_in": fan_in_norms,
               "magnitude": lambda net: [a * b for a, b in zip(fan_in_norms(net), fan_out_norms(net))]}


def top_nodes(scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` nodes with the largest scores, sorted by index (ties broken by the lower index)."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    return np.sort(order[:k])


@torch.no_grad()
def subnetwork(net: ReLUNet, keep: list[np.ndarray]) -> ReLUNet:
    """The network on the hidden nodes ``keep[l]`` of every layer: weights and biases sliced, the
    inputs and outputs unchanged. Its function equals ``net`` with every other node removed
    (:func:`remove_nodes`)."""
    check_plain_fc(net)
    if len(keep) != net.spec.depth:
        raise InputError(f"keep: need one node set per hidden layer ({net.spec.depth}), got {len(keep)}")
    keep = [np.asarray(k, dtype=np.int64) for k in keep]
    w = net.spec.widths
    for l, k in enumerate(keep):
        if len(k) == 0 or len(np.unique(k)) != len(k) or k.min() < 0 or k.max() >= w[l + 1]:
            raise InputError(f"keep: layer {l} needs distinct node indices in [0, {w[l + 1]}), got {k.tolist()}")
    sub = ReLUNet(NetSpec((w[0], *(len(k) for k in keep), w[-1]), bias=net.spec.bias, dtype=net.spec.dtype))
    sub.to(next(net.parameters()).device)
    rows = [torch.as_tensor(k) for k in keep] + [torch.arange(w[-1])]
    cols = [torch.arange(w[0])] + [torch.as_tensor(k) for k in keep]
    for src, dst, r, c in zip(net.linears, sub.linears, rows, cols):
        dst.weight.copy_(src.weight[r][:, c])
        if src.bias is not None:
            dst.bias.copy_(src.bias[r])
    return sub


@torch.no_grad()
def remove_nodes(net: ReLUNet, removed: list[np.ndarray]) -> ReLUNet:
    """A copy of ``net`` in which the nodes ``removed[l]`` no longer exist: their fan-in, bias and
    fan-out are zero, so they are constant 0 and reach nothing. Nothing else changes (no retraining)."""
    check_plain_fc(net)
    out = copy.deepcopy(net)
    for l, idx in enumerate(removed):
        idx = torch.as_tensor(np.asarray(idx, dtype=np.int64))
        if len(idx) == 0:
            continue
        block, nxt = out.hidden[l].linear, out.linears[l + 1]
        block.weight[idx] = 0.0
        if block.bias is not None:
            block.bias[idx] = 0.0
        nxt.weight[:, idx] = 0.0
    return out


def overlap(nodes: np.ndarray, reference: np.ndarray) -> float:
    """Fraction of ``nodes`` that lie in ``reference``: |nodes & reference| / |nodes|."""
    nodes = np.unique(nodes)
    return float(np.isin(nodes, np.unique(reference)).mean()) if len(nodes) else float("nan")


def chance_overlap(n: int, n_reference: int) -> float:
    """Expected :func:`overlap` of a uniformly random set of distinct nodes out of ``n`` with a fixed
    reference set of ``n_reference`` nodes: the hypergeometric mean k (K/N) divided by k, i.e. K/N."""
    return n_reference / n
