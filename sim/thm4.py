"""The Theorem 4 experiment: n = m students start at angle theta0 from their teachers; integrate the
projected flow and compare max_j sin theta_j(t) with the theorem's envelope.

Stored (result_kind ``thm4``; dims ``time``, ``node``):

* ``theta(time, node)`` - angle of student j to teacher j, radians (continuous flow, solve_ivp), with
  attribute ``resolution_limit`` and the flag variable ``theta_status(time, node)`` marking the values
  below it as solver noise (:mod:`luckbench.sim.resolution`; fit rates with ``resolved_rate``);
* ``sin_theta_max(time)`` - S(t) = max_j sin theta_j(t) (likewise ``sin_theta_max_status(time)``);
* ``sin_theta_bound(time)`` - the continuous envelope S(0) exp(-d_bar gamma t) of
  ``luckbench.theory.theorem4`` (NaN where its preconditions fail);
* ``norm_drift(time)`` - max_j | ||w_j|| - 1 | (the flow is not renormalised);
* ``a1_residual(time)`` - Assumption 1's projected layer residual along the path (docs/math.md sec 2);
* with ``eta``: ``theta_discrete(time, node)`` from the Euler iteration at iteration = time / eta,
  ``iteration(time)`` and ``sin_theta_bound_discrete(time)`` (the discrete rate (1 - eta d_bar gamma)^t).

Attributes: the Thm4Conditions fields prefixed ``cond_`` and ``envelope_holds`` (1/0, or -1 when the
preconditions fail and the envelope is not a claim), compared with :func:`below_envelope`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Annotated

import numpy as np
import xarray as xr

from luckbench.config import PositiveFloat, PositiveInt, Range, Seed, validate_fields
from luckbench.sim import integrate
from luckbench.sim.diagnostics import paired_angles
from luckbench.sim.dynamics import Gradient, a1_residual, thm4_dynamics
from luckbench.sim.kernel import GaussianKernel
from luckbench.sim.integrate import Method
from luckbench.sim.provenance import attach_run
from luckbench.sim.resolution import flag_unresolved, resolution_limit
from luckbench.sim.teachers import Scheme, students_at_angle, teacher
from luckbench.theory import theorem4

ENVELOPE_SLACK = 1e-7  # relative slack of the envelope comparison


@dataclass(frozen=True)
class Thm4Config:
    """One Theorem 4 run (flags of ``luckbench sim thm4``)."""

    teachers: PositiveInt = field(default=5, metadata={"help": "m, the number of teachers (= students)"})
    theta0: Annotated[float, Range(gt=0, lt=180, unit="degrees")] = field(
        default=30.0, metadata={"help": "initial angle student-teacher, degrees in (0, 180)"})
    t_end: Annotated[float, Range(gt=0, le=integrate.MAX_T_END)] = field(
        default=200.0, metadata={"help": f"final time t = eta * iterations, at most {integrate.MAX_T_END:g}"})
    dim: PositiveInt | None = field(default=None, metadata={"help": "input dimension d (default max(10, teachers))"})
    bias: float | None = field(default=None, metadata={"help": "teacher bias (standardised a for orthogonal); "
                                                               "omit for the zero-bias model"})
    scheme: Scheme = field(default="orthogonal", metadata={"help": "teacher scheme"})
    method: Method = field(default="LSODA", metadata={"help": "solve_ivp method"})
    rtol: PositiveFloat = field(default=1e-8, metadata={"help": "solve_ivp relative tolerance"})
    atol: PositiveFloat = field(default=1e-10, metadata={"help": "solve_ivp absolute tolerance"})
    n_times: Annotated[int, Range(ge=2)] = field(default=201, metadata={"help": "number of output times in [0, t_end]"})
    eta: PositiveFloat | None = field(default=None, metadata={"help": "also run the discrete iteration with this step"})
    renormalise: bool = field(default=True, metadata={"help": "renormalise rows after each discrete step"})
    gradient: Gradient = field(default="factorised", metadata={"help": "W term"})
    paper_mode: bool = field(default=False, metadata={"help": "Theorem 4 constants as printed (d_bar with +)"})
    seed: Seed = field(default=0, metadata={"help": "random seed (teacher and initial students)"})

    def __post_init__(self):
        validate_fields(self)

    @property
    def input_dim(self) -> int:
        return self.dim if self.dim is not None else max(10, self.teachers)


def initial_state(cfg: Thm4Config) -> tuple[np.ndarray, np.ndarray]:
    """(W*, W0): unit teacher rows and students at exactly ``theta0`` from them."""
    rng = np.random.default_rng(cfg.seed)
    w_star = teacher(cfg.scheme, cfg.teachers, cfg.input_dim, cfg.bias, rng)
    return w_star, students_at_angle(w_star, np.deg2rad(cfg.theta0), rng)


def conditions(w_star: np.ndarray, cfg: Thm4Config, bias: bool):
    """Theorem 4's constants and preconditions for these teachers (whitened coordinates, sigma = 1)."""
    return theorem4.conditions(w_star, np.deg2rad(cfg.theta0), bias=bias, eta=cfg.eta, paper_mode=cfg.paper_mode)


def _cond_attrs(cond) -> dict:
    out = {}
    for f in dataclasses.fields(cond):
        value = getattr(cond, f.name)
        out[f"cond_{f.name}"] = value if not isinstance(value, np.generic) else value.item()
    return out


def below_envelope(s: np.ndarray, bound: np.ndarray, limit: float) -> np.ndarray:
    """s <= bound (1 + ENVELOPE_SLACK) + limit, elementwise: the flow resolves sin theta only down to its
    resolution limit (:func:`luckbench.sim.resolution.resolution_limit`); the envelope keeps decaying below it."""
    return s <= bound * (1 + ENVELOPE_SLACK) + limit


def run(cfg: Thm4Config) -> xr.Dataset:
    """Integrate Theorem 4's flow and return the dataset described in the module docstring."""
    has_bias = cfg.bias is not None
    w_star, w0 = initial_state(cfg)
    dyn = thm4_dynamics(w_star, GaussianKernel(has_bias), gradient=cfg.gradient)
    times = np.linspace(0.0, cfg.t_end, cfg.n_times)
    traj = integrate.solve(dyn, w0, None, times, method=cfg.method, rtol=cfg.rtol, atol=cfg.atol)
    theta = np.array([paired_angles(w, w_star) for w in traj.w])
    s_max = np.sin(theta).max(axis=1)
    cond = conditions(w_star, cfg, has_bias)
    bound = np.asarray(theorem4.envelope_continuous(times, np.sin(np.deg2rad(cfg.theta0)), cond), dtype=float)
    ds = xr.Dataset(
        {
            "theta": (("time", "node"), theta, {"units": "rad", "long_name": "angle of student j to teacher j"}),
            "sin_theta_max": ("time", s_max, {"long_name": "max_j sin theta_j"}),
            "sin_theta_bound": ("time", bound, {"long_name": "Thm 4 continuous envelope (NaN: preconditions fail)"}),
            "norm_drift": ("time", np.abs(np.linalg.norm(traj.w, axis=2) - 1).max(axis=1),
                           {"long_name": "max_j | ||w_j|| - 1 |"}),
            "a1_residual": ("time", [a1_residual(dyn, w, dyn.v_fixed) for w in traj.w],
                            {"long_name": "Assumption 1 projected residual ||dW_exact - dW_fact|| / ||dW_exact||"}),
        },
        coords={"time": times, "node": np.arange(cfg.teachers)},
    )
    if cfg.eta is not None:
        ds = ds.merge(_discrete(cfg, dyn, w_star, w0, times, cond))
    finite = np.isfinite(bound)
    limit = resolution_limit(cfg.rtol, cfg.atol)
    for name in ("theta", "sin_theta_max"):
        flag_unresolved(ds, name, limit)
    holds = bool(np.all(below_envelope(s_max[finite], bound[finite], limit))) if finite.any() else None
    ds.attrs.update(_cond_attrs(cond))
    ds.attrs.update({"result_kind": "thm4", "envelope_holds": -1 if holds is None else int(holds),
                     "nfev": traj.nfev, "method": cfg.method})
    return attach_run(ds, cfg)


def _discrete(cfg: Thm4Config, dyn, w_star, w0, times, cond) -> xr.Dataset:
    """Euler iteration with step eta, sampled at iteration round(t / eta)."""
    iters = np.rint(times / cfg.eta).astype(int)
    every = max(int(np.gcd.reduce(iters)), 1)
    traj = integrate.iterate(dyn, w0, None, eta=cfg.eta, iters=int(iters[-1]), snapshot_every=every,
                             renormalise=cfg.renormalise)
    theta = np.array([paired_angles(traj.w[k // every], w_star) for k in iters])
    bound = theorem4.envelope_discrete(iters, np.sin(np.deg2rad(cfg.theta0)), cfg.eta, cond)
    return xr.Dataset(
        {
            "theta_discrete": (("time", "node"), theta, {"units": "rad", "long_name": "angle, discrete iteration"}),
            "iteration": ("time", iters),
            "sin_theta_bound_discrete": ("time", np.asarray(bound, dtype=float),
                                         {"long_name": "Thm 4 discrete rate (1 - eta d_bar gamma)^t sin theta0"}),
        },
        coords={"time": times},
    )
