"""Hessians of a network's loss in its parameters: Hessian-vector products, their Lanczos top
eigenvalues, the dense spectrum, and the count of flat directions.

The loss is a function of one flat parameter vector theta (the network's parameters in
``named_parameters`` order, or the subset ``names``); ``torch.func`` gives the Hessian-vector product
H v = d/de grad L(theta + e v) |_{e=0} by forward-over-reverse differentiation, wrapped in a
``scipy.sparse.linalg.LinearOperator`` for ``eigsh`` (implicitly restarted Lanczos). The dense Hessian
(``torch.func.hessian``) gives the whole spectrum for the flat count on networks small enough to hold it.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import nn

from luckbench.errors import InputError

MAX_DENSE = 6000  # parameters: the dense Hessian is then 288 MB of float64


def flat_loss(model: nn.Module, loss: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
              names: list[str] | None = None) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    """(f, theta0): ``f(theta) = loss(model(x))`` with the parameters ``names`` (default: all) taken
    from the flat vector ``theta``, the others fixed; ``theta0`` = their current values."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    names = list(params) if names is None else list(names)
    unknown = [n for n in names if n not in params]
    if unknown:
        raise InputError(f"names: not parameters of the model: {unknown}")
    shapes = [params[n].shape for n in names]
    sizes = [params[n].numel() for n in names]

    def f(theta: torch.Tensor) -> torch.Tensor:
        full = dict(params)
        for n, shape, part in zip(names, shapes, theta.split(sizes)):
            full[n] = part.view(shape)
        return loss(torch.func.functional_call(model, full, (x,)))

    return f, torch.cat([params[n].reshape(-1) for n in names])


def hvp_operator(f: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor) -> LinearOperator:
    """The Hessian of ``f`` at ``theta`` as a LinearOperator (one forward-over-reverse pass per product)."""
    grad = torch.func.grad(f)
    theta = theta.detach()

    def matvec(v: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(np.ascontiguousarray(v).reshape(-1), dtype=theta.dtype)
        return torch.func.jvp(grad, (theta,), (t,))[1].numpy()

    p = theta.numel()
    return LinearOperator((p, p), matvec=matvec, dtype=np.dtype(str(theta.dtype).replace("torch.", "")))


def top_eigenvalues(op: LinearOperator, k: int, *, seed: int = 0) -> np.ndarray:
    """The ``k`` largest (algebraic) eigenvalues of the symmetric ``op`` by Lanczos, descending.

    The start vector is drawn from ``seed`` so the result is reproducible.
    """
    p = op.shape[0]
    if not 1 <= k < p:
        raise InputError(f"--top-k: need 1 <= k < {p} (the number of parameters), got {k}")
    v0 = np.random.default_rng(seed).standard_normal(p)
    vals = eigsh(op, k=k, which="LA", v0=v0, return_eigenvectors=False, tol=0.0)
    return np.sort(vals)[::-1]


def dense_hessian(f: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor) -> np.ndarray:
    """The full (p, p) Hessian of ``f`` at ``theta`` (symmetrised), refused above ``MAX_DENSE`` parameters."""
    p = theta.numel()
    if p > MAX_DENSE:
        raise InputError(f"beyond hessian: the flat count needs the dense Hessian; {p} parameters exceed "
                         f"the limit of {MAX_DENSE}")
    h = torch.func.hessian(f)(theta.detach()).numpy()
    return 0.5 * (h + h.T)


def flat_count(eigenvalues: np.ndarray, rel_tol: float) -> int:
    """Eigenvalues with |lambda| <= rel_tol * max |lambda|: the flat directions of the loss."""
    ev = np.abs(np.asarray(eigenvalues))
    return int(np.sum(ev <= rel_tol * ev.max()))
