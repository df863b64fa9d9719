"""Generic BatchNorm discovery in a state dict: no architecture needed (``luckbench audit bn --weights``).

A BN layer is a name prefix ``P`` with all four of ``P.weight`` (gamma), ``P.bias`` (beta),
``P.running_mean`` and ``P.running_var``: 1-D real floating-point tensors of one length. Layers
are listed in file order (the order of each prefix's first key), which for ``torch.save`` of a
module's ``state_dict()`` is module-registration order. LayerNorm / GroupNorm (weight and bias
without running statistics) are therefore not taken for BN, nor is a BN with
``affine=False`` (running statistics only: there is no bias to audit).

A state dict cannot say what consumes each BN output, so ``next_op`` is ``"unknown"`` unless the
caller knows the architecture (the ``--model`` registry, ``luckbench.empirical.pretrained``);
``group`` defaults to the first component of the name (``features``, ``layer1``, ``cnn``).

BN parameters that are not real floating-point dense tensors (int32, bool, complex, sparse,
meta) are refused with a one-line :class:`~luckbench.errors.InputError`; such tensors elsewhere in
the file are not read and are listed in ``skipped`` with the reason.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

from luckbench.empirical.bn_audit import BNLayer
from luckbench.empirical.weights import tensor_problem
from luckbench.errors import InputError

BN_SUFFIXES = ("weight", "bias", "running_mean", "running_var")


def _vector(state: Mapping[str, torch.Tensor], key: str, source: str):
    value = state[key]
    problem = tensor_problem(value)
    if problem:
        raise InputError(f"{source}: BN parameter {key} is {problem}")
    if value.dim() != 1 or value.numel() == 0:
        raise InputError(f"{source}: BN parameter {key} has shape {tuple(value.shape)}, expected a non-empty vector")
    return value.detach().double().numpy()


def discover(state: Mapping[str, torch.Tensor], source: str) -> tuple[list[BNLayer], list[str]]:
    """(BN layers in file order, ``"key: reason"`` for each other tensor that is not real floating point).

    The second list only informs: those tensors are no BN parameters and are not read.
    """
    members: dict[str, set[str]] = {}
    for key in state:
        prefix, _, leaf = key.rpartition(".")
        members.setdefault(prefix, set()).add(leaf)
    layers, bn_keys = [], set()
    for prefix, leaves in members.items():
        if not prefix or not set(BN_SUFFIXES) <= leaves:
            continue
        keys = [f"{prefix}.{leaf}" for leaf in BN_SUFFIXES]
        gamma, beta, mean, var = (_vector(state, k, source) for k in keys)
        if not (gamma.size == beta.size == mean.size == var.size):
            raise InputError(f"{source}: BN layer {prefix}: weight, bias, running_mean, running_var lengths "
                             f"differ ({gamma.size}, {beta.size}, {mean.size}, {var.size})")
        layers.append(BNLayer(prefix, beta, gamma, group=prefix.split(".")[0]))
        bn_keys.update(keys)
        bn_keys.add(f"{prefix}.num_batches_tracked")
    if not layers:
        raise InputError(f"{source}: no BatchNorm layers found (no name with all of "
                         f"{', '.join('.' + s for s in BN_SUFFIXES)})")
    skipped = [f"{key}: {problem}" for key, value in state.items()
               if key not in bn_keys and (problem := tensor_problem(value))]
    return layers, skipped

