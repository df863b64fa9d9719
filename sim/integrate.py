"""Integrators: ``scipy.integrate.solve_ivp`` for the flows, and the discrete (Euler/SGD) iteration.

Time and iterations are tied by t = eta * iteration (docs/math.md sec 4). The continuous flow preserves
every ||w_j|| exactly (the right-hand side is tangent to the spheres); the discrete step does not
(||w + eta g||^2 = ||w||^2 + eta^2 ||g||^2, docs/math.md Thm 3 note), so it renormalises by default.

The discrete variant with ``batch`` set is the authors' "matrix version" (docs/math.md sec 4): each step
draws a fresh mini-batch X~ = [z, 1], uses batch estimates of L0, D, D*, L, L*, applies the
unprojected update W += eta dW, V += eta dV and then renormalises (W's rows; V's columns in mode
``code``), which realises the projection.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from scipy.integrate import solve_ivp

from luckbench.errors import InputError
from luckbench.sim.dynamics import Dynamics
from luckbench.sim.heap import reuse_heap
from luckbench.datasets.samplers import gaussian_sampler
from luckbench.sim.kernel import SampleKernel, augment
from luckbench.sim.parallel import single_blas
from luckbench.sim.stiff import KronBDF
from luckbench.sim.teachers import normalize_cols
from luckbench.theory.geometry import normalize_rows

Method = Literal["LSODA", "RK45", "DOP853", "Radau", "BDF", "RK23", "KronBDF"]
METHODS = get_args(Method)
# Longest integration horizon accepted: the flows settle by t ~ 1e3 (sim thm4/thm5 defaults); LSODA
# needs ~log(t_end) steps up to t ~ 1e12 but stalls near 1e300, and explicit methods need ~4 steps per unit time.
MAX_T_END = 1e6
IMPLICIT = ("Radau", "BDF")  # given Dynamics.jacobian (sparse); LSODA estimates its own dense one


@dataclass(frozen=True)
class Trajectory:
    """Snapshots: ``times`` (k,), ``w`` (k, n, D), ``v`` (k, n [+1], C); ``iterations`` for discrete runs."""

    times: np.ndarray
    w: np.ndarray
    v: np.ndarray
    iterations: np.ndarray | None = None
    nfev: int = 0


def solve(dyn: Dynamics, w0: np.ndarray, v0: np.ndarray | None, times, *, method: str = "LSODA",
          rtol: float = 1e-8, atol: float = 1e-10) -> Trajectory:
    """Integrate ``dyn.rhs`` from t = 0 and return the state at ``times`` (sorted, starting at 0 or later).

    LSODA (default) switches between Adams and BDF when students merge and the flow turns stiff.
    """
    if method not in METHODS:
        raise InputError(f"--method: expected one of {', '.join(METHODS)}, got {method!r}")
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or len(times) == 0 or np.any(np.diff(times) < 0) or times[0] < 0:
        raise InputError("times: need a non-empty, sorted, non-negative list of output times")
    if not (rtol > 0 and atol > 0):
        raise InputError(f"--rtol/--atol: must be positive, got {rtol}, {atol}")
    y0 = dyn.pack(w0, v0)
    if times[-1] == 0:
        ys = np.repeat(y0[None], len(times), axis=0)
        nfev = 0
    else:
        extra = {"jac": dyn.jacobian} if method in IMPLICIT else {}
        if method == "KronBDF":
            method, extra = KronBDF, {"jac": dyn.jacobian_blocks}
        reuse_heap()
        with single_blas():
            sol = solve_ivp(dyn.rhs, (0.0, float(times[-1])), y0, method=method, t_eval=times, rtol=rtol, atol=atol,
                            **extra)
        if not sol.success:
            raise InputError(f"--method {getattr(method, '__name__', method)}: integration failed at t={sol.t[-1]:.4g}: {sol.message}")
        ys, nfev = sol.y.T, int(sol.nfev)
    ws, vs = zip(*(dyn.unpack(y) for y in ys))
    return Trajectory(times, np.array(ws), np.array(vs), nfev=nfev)


def batch_kernels(rng: np.random.Generator, batch: int, dim: int, bias: bool,
                  sampler: Callable = gaussian_sampler) -> Callable[[], SampleKernel]:
    """A factory of per-step mini-batch kernels over x~ = [z, 1] (or z), z from ``sampler(dim)(batch, rng)``."""
    if batch < 1:
        raise InputError(f"--batch: need a positive mini-batch size, got {batch}")
    draw = sampler(dim)
    return lambda: SampleKernel(augment(draw(batch, rng), bias))


def iterate(dyn: Dynamics, w0: np.ndarray, v0: np.ndarray | None, *, eta: float, iters: int, snapshot_every: int = 1,
            renormalise: bool = True, project: bool = True, kernels: Callable | None = None) -> Trajectory:
    """Discrete dynamics W <- W + eta dW, V <- V + eta dV, optionally renormalised after every step; the state
    is held in ``dyn.dtype`` (float64, or float32 for ``luckbench.sim.batched`` with ``--dtype float32``).

    ``kernels()`` gives the kernel for each step (mini-batch estimates; see :func:`batch_kernels`);
    None uses ``dyn.kernel`` (population expectations). Snapshots at iterations 0, k, 2k, ... <= iters.
    """
    if not (eta > 0 and np.isfinite(eta)):
        raise InputError(f"--lr: the learning rate must be positive, got {eta}")
    if iters < 0 or snapshot_every < 1:
        raise InputError(f"--iters/--snapshot-every: need iters >= 0 and snapshot-every >= 1, got {iters}, {snapshot_every}")
    w = np.array(w0, dtype=dyn.dtype)
    v = np.array(dyn.v_fixed if v0 is None else v0, dtype=dyn.dtype)
    steps = np.arange(0, iters + 1, snapshot_every)
    ws, vs = [w.copy()], [v.copy()]
    reuse_heap()  # a step's temporaries are freed and allocated again every step
    with single_blas():
        for it in range(1, iters + 1):
            dw, dv = dyn.velocity(w, v, None if kernels is None else kernels(), project=project)
            w, v = w + eta * dw, v + eta * dv
            if renormalise:
                w = normalize_rows(w)
                if dyn.mode == "code":
                    v = normalize_cols(v)
            if it % snapshot_every == 0:
                ws.append(w.copy())
                vs.append(v.copy())
    return Trajectory(eta * steps, np.array(ws), np.array(vs), iterations=steps, nfev=iters)
