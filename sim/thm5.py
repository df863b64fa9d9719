"""The Theorem 5 experiment: an over-parameterised two-layer student (n = node_multi * m hidden nodes)
whose first m nodes (the u-set) start near the teacher (v4 Sec. 4.2 initialisation with alpha_W,
alpha_V) and whose other nodes (the r-set) start as noise. Either the population flow (``t_end``,
solve_ivp) or the discrete iteration (``iters``, step ``lr``; ``batch`` for mini-batch estimates,
the authors' matrix version).

Stored (result_kind ``thm5``; dims ``seed``, ``time``, ``node`` = the n hidden students):

* ``v_row_norm(seed, time, node)`` - ||v_j||, row j of V (fan-out of hidden j; bias row excluded);
  for j in the r-set this is the theorem's ||v_j|| -> 0 quantity;
* ``is_u(node)`` - True for the u-set (the first m nodes);
* ``theta_u(seed, time, node)`` - angle(w_j, w*_j), radians, u-set (NaN on r);
* ``v_err_u(seed, time, node)`` - ||v_j - v*_j||, u-set (NaN on r);
* ``w_drift_r(seed, time, node)`` - ||w_j^t - w_j^0||, r-set (NaN on u);
* ``cancelling_pairs(seed, time)`` - number of merged r-pairs with cancelling fan-outs
  (:func:`luckbench.sim.diagnostics.cancelling_pairs`) and ``cancelling_v_norm(seed, time)`` - the
  largest min(||v_a||, ||v_b||) over them (0 when none);
* ``loss(seed, time)`` - population loss 1/2 E||y - y*||^2 (closed form);
* ``gamma``, ``d_bar``, ``lambda_bar``, ``feasible`` ``(seed, time)`` - Theorem 5's constants
  (``luckbench.theory.theorem5``, mode ``fixed``) if the theorem were started from the state at that
  time (theta0 = the largest u-angle, W_r0 = W_r(t), V0 = V(t)); NaN at the times not evaluated;
* ``iteration(time)`` for discrete runs (time = lr * iteration);
* flow runs only: ``v_row_norm``, ``theta_u`` and ``v_err_u`` carry ``resolution_limit`` and the CF
  flag variables ``<name>_status`` (:mod:`luckbench.sim.resolution`): below the limit they are solver noise.

All seeds are integrated as one batched state (:mod:`luckbench.sim.batched`) unless ``gradient`` is
``exact``; the returned Dataset carries the ``config`` and ``seed`` it ran with.

Non-Gaussian inputs (``inputs`` uniform or laplace, unit variance) use Monte Carlo moments over a
fixed sample of ``mc_samples`` points (and fresh mini-batches from the same law when ``batch``);
the loss is then the Monte Carlo loss and the Gaussian-only constants are NaN.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Literal

import numpy as np
import xarray as xr

from luckbench.config import (NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Range, Seed,
                              validate_fields)
from luckbench.errors import InputError
from luckbench.sim import batched, integrate
from luckbench.sim.diagnostics import cancelling_pairs, paired_angles, population_loss
from luckbench.sim.dynamics import Dynamics, Gradient
from luckbench.datasets.samplers import SAMPLERS
from luckbench.sim.kernel import GaussianKernel, SampleKernel, augment
from luckbench.sim.integrate import Method
from luckbench.sim.provenance import attach_run
from luckbench.sim.parallel import default_workers, map_tasks
from luckbench.sim.resolution import flag_unresolved, resolution_limit
from luckbench.sim.teachers import Scheme, perturbed_students, teacher, top_teacher

Mode = Literal["paper", "code"]  # paper: V unprojected; code: V's columns projected (the authors' code)
Dtype = Literal["float64", "float32"]
Device = Literal["cpu", "cuda"]
CONSTANT_NAMES = ("gamma", "d_bar", "lambda_bar", "feasible")


@dataclass(frozen=True)
class Thm5Config:
    """One Theorem 5 configuration, run for ``seeds`` seeds (flags of ``luckbench sim thm5``)."""

    teacher: tuple[PositiveInt, ...] = field(default=(10, 20, 30),
                                             metadata={"help": "D,M,C: input dim, teacher hidden nodes, outputs"})
    node_multi: PositiveInt = field(default=2, metadata={"help": "student hidden nodes = node_multi * M"})
    alpha_w: NonNegativeFloat = field(default=1.0, metadata={"help": "closeness of the u-set's W0 to W* (v4 Sec. 4.2)"})
    alpha_v: NonNegativeFloat = field(default=1.0, metadata={"help": "closeness of the u-set's V0 to V*"})
    seeds: PositiveInt = field(default=1, metadata={"help": "number of seeds (teacher and initialisation)"})
    seed: Seed = field(default=0, metadata={"help": "base seed"})
    iters: PositiveInt | None = field(default=None, metadata={"help": "discrete steps (default 2000 unless --t-end)"})
    t_end: Annotated[float, Range(gt=0, le=integrate.MAX_T_END)] | None = field(
        default=None, metadata={"help": f"integrate the population flow to this time instead (at most {integrate.MAX_T_END:g})"})
    lr: NonNegativeFloat = field(default=0.05, metadata={"help": "step eta of the discrete iteration (time = eta * iters)"})
    batch: NonNegativeInt = field(default=0, metadata={"help": "mini-batch size of L, D estimates (0: exact expectations)"})
    snapshot_every: PositiveInt = field(default=100, metadata={"help": "discrete: iterations between snapshots"})
    n_times: Annotated[int, Range(ge=2)] = field(default=101, metadata={"help": "flow: number of output times"})
    mode: Mode = field(default="paper", metadata={"help": "paper: V unprojected; code: V's columns projected"})
    bias: float | None = field(default=-0.1, metadata={"help": "first-layer teacher bias ('none': zero-bias model)"})
    top_bias: float | None = field(default=-0.1, metadata={"help": "top-layer teacher bias ('none': no top bias)"})
    scheme: Scheme = field(default="code", metadata={"help": "first-layer teacher scheme"})
    method: Method = field(default="KronBDF", metadata={"help": "solve_ivp method (KronBDF: BDF with the structured "
                                                                "Jacobian, for the stiff V block)"})
    rtol: PositiveFloat = field(default=1e-6, metadata={"help": "solve_ivp relative tolerance"})
    atol: PositiveFloat = field(default=1e-9, metadata={"help": "solve_ivp absolute tolerance"})
    renormalise: bool = field(default=True, metadata={"help": "discrete: renormalise W rows (and V columns in code)"})
    gradient: Gradient = field(default="factorised", metadata={"help": "W term"})
    constants_points: NonNegativeInt = field(default=3, metadata={"help": "snapshots at which Thm 5's constants are computed"})
    inputs: str = field(default="gaussian", metadata={"help": "input law of z (unit variance)", "choices": tuple(SAMPLERS)})
    mc_samples: NonNegativeInt = field(default=0, metadata={"help": "expectations over a fixed Monte Carlo sample of this size "
                                                                    "instead of the Gaussian closed forms (needed for non-Gaussian inputs)"})
    dtype: Dtype = field(default="float64", metadata={"help": "float type of the mini-batch iteration (float32: the "
                                                              "authors' precision, about 1.5x faster)"})
    device: Device = field(default="cpu", metadata={"help": "where the seed-batched mini-batch iteration computes "
                                                            "(cuda: a torch GPU; the state stays on the host)"})

    def __post_init__(self):
        validate_fields(self)
        if len(self.teacher) != 3:
            raise InputError(f"--teacher: expected three positive widths D,M,C, got {self.teacher}")
        if self.iters is not None and self.t_end is not None:
            raise InputError("--iters/--t-end: give one of them, not both")
        if self.t_end is not None and self.batch:
            raise InputError("--batch: mini-batch estimates apply to the discrete iteration (--iters), not --t-end")
        minibatch = bool(self.batch) and self.t_end is None and self.gradient == "factorised"
        if self.dtype != "float64" and not minibatch:
            raise InputError(f"--dtype {self.dtype}: only the seed-batched mini-batch iteration (--batch > 0, "
                             "factorised gradient) runs in float32; the flows and closed forms stay float64")
        if self.device != "cpu":
            if not minibatch:
                raise InputError(f"--device {self.device}: only the seed-batched mini-batch iteration (--batch > 0, "
                                 "factorised gradient) runs on a GPU; the flows and closed forms run on the CPU")
            import torch

            if not torch.cuda.is_available():
                raise InputError(f"--device {self.device}: no CUDA device here (torch.cuda.is_available() is False)")
        if self.inputs != "gaussian" and self.mc_samples == 0:
            raise InputError(f"--mc-samples: non-Gaussian --inputs need a positive Monte Carlo sample size, "
                             f"got {self.mc_samples}")

    @property
    def steps(self) -> int:
        return 2000 if self.iters is None and self.t_end is None else (self.iters or 0)

    @property
    def n(self) -> int:
        return self.node_multi * self.teacher[1]


def problem(cfg: Thm5Config, rng: np.random.Generator):
    """(Dynamics, W0, V0) for one seed: teacher, then the alpha-perturbed students."""
    d, m, c = cfg.teacher
    w_star = teacher(cfg.scheme, m, d, cfg.bias, rng)
    v_star = top_teacher(m, c, cfg.top_bias, rng)
    has_top = cfg.top_bias is not None
    w0, v0 = perturbed_students(w_star, v_star, cfg.n, cfg.alpha_w, cfg.alpha_v, has_top, rng)
    has_bias = cfg.bias is not None
    kernel = (SampleKernel(augment(SAMPLERS[cfg.inputs](d)(cfg.mc_samples, rng), has_bias)) if cfg.mc_samples
              else GaussianKernel(has_bias))
    dyn = Dynamics(w_star, v_star, kernel, n=cfg.n, top_bias=has_top, mode=cfg.mode, gradient=cfg.gradient)
    return dyn, w0, v0


def trajectory(cfg: Thm5Config, dyn: Dynamics, w0, v0, rng) -> integrate.Trajectory:
    """The flow (``t_end``) or the discrete iteration (``iters``, mini-batches when ``batch``)."""
    if cfg.t_end is not None:
        times = np.linspace(0.0, cfg.t_end, cfg.n_times)
        return integrate.solve(dyn, w0, v0, times, method=cfg.method, rtol=cfg.rtol, atol=cfg.atol)
    kernels = (integrate.batch_kernels(rng, cfg.batch, cfg.teacher[0], cfg.bias is not None, SAMPLERS[cfg.inputs])
               if cfg.batch else None)
    return integrate.iterate(dyn, w0, v0, eta=cfg.lr, iters=cfg.steps, snapshot_every=cfg.snapshot_every,
                             renormalise=cfg.renormalise, project=not cfg.batch, kernels=kernels)


def row_norms(traj: integrate.Trajectory, n: int) -> np.ndarray:
    """(time, node) = ||v_j|| over the real rows."""
    return np.linalg.norm(traj.v[:, :n], axis=2)


def _constants(dyn: Dynamics, w, v, eta: float) -> list[float]:
    """Thm 5's (gamma, d_bar, lambda_bar, feasible) restarted from the state (w, v): theta0 = the largest
    u-angle (clipped below at 1e-9; infeasible when >= pi/2, where the theorem has no cap), W_r0 = W_r,
    V0 = the real rows of V."""
    from luckbench.theory import theorem5

    m, n = len(dyn.w_star), dyn.n
    theta0 = max(float(np.max(paired_angles(w, dyn.w_star))), 1e-9)
    if theta0 >= np.pi / 2 or not isinstance(dyn.kernel, GaussianKernel):  # the constants assume Gaussian x
        return [np.nan, np.nan, np.nan, 0.0]
    has_bias = dyn.kernel.bias
    try:
        const = theorem5.constants_from_weights(dyn.w_star, dyn.v_star[:m], w[m:], v[:n], theta0, eta,
                                                mode="fixed", bias=has_bias)
    except InputError:  # e.g. K = inf on the region (a base angle pi): no finite constants exist
        return [np.nan, np.nan, np.nan, 0.0]
    return [float(getattr(const, k)) for k in CONSTANT_NAMES]


def observe(cfg: Thm5Config, dyn: Dynamics, traj: integrate.Trajectory) -> dict[str, np.ndarray]:
    """All per-seed diagnostics of the module docstring, as arrays over (time[, node])."""
    n, m = cfg.n, cfg.teacher[1]
    k = len(traj.times)
    out = {name: np.full((k, n), np.nan) for name in ("theta_u", "v_err_u", "w_drift_r")}
    out["v_row_norm"] = row_norms(traj, n)
    out["theta_u"][:, :m] = [paired_angles(w, dyn.w_star) for w in traj.w]
    out["v_err_u"][:, :m] = np.linalg.norm(traj.v[:, :m] - dyn.v_star[None, :m], axis=2)
    out["w_drift_r"][:, m:] = np.linalg.norm(traj.w[:, m:] - traj.w[0, m:][None], axis=2)
    pairs = [cancelling_pairs(w, v, range(m, n)) for w, v in zip(traj.w, traj.v)]
    out["cancelling_pairs"] = np.array([len(p) for p in pairs], dtype=float)
    out["cancelling_v_norm"] = np.array([max([min(out["v_row_norm"][t, a], out["v_row_norm"][t, b])
                                              for a, b in p], default=0.0) for t, p in enumerate(pairs)])
    out["loss"] = np.array([population_loss(dyn.kernel, w, v, dyn.w_star, dyn.v_star, dyn.top_bias)
                            for w, v in zip(traj.w, traj.v)])
    consts = np.full((k, len(CONSTANT_NAMES)), np.nan)
    if cfg.constants_points:
        for t in np.unique(np.linspace(0, k - 1, cfg.constants_points).round().astype(int)):
            consts[t] = _constants(dyn, traj.w[t], traj.v[t], cfg.lr)
    out.update({name: consts[:, i] for i, name in enumerate(CONSTANT_NAMES)})
    return out


def simulate(cfg: Thm5Config, index: int) -> tuple[Dynamics, integrate.Trajectory]:
    """Seed ``index``: the dynamics (teacher included) and its trajectory; rng seeded by (seed, index). In
    float64 on the CPU only (``dtype`` and ``device`` belong to the seed-batched iteration, :func:`simulate_batched`)."""
    if (cfg.dtype, cfg.device) != ("float64", "cpu"):
        raise InputError(f"--dtype {cfg.dtype} --device {cfg.device}: the per-seed integration runs in float64 on the CPU only")
    rng = np.random.default_rng([cfg.seed, index])
    dyn, w0, v0 = problem(cfg, rng)
    return dyn, trajectory(cfg, dyn, w0, v0, rng)


def batchable(cfg: Thm5Config) -> bool:
    """Whether :func:`simulate_batched` applies (the factorised W term; the exact gradient stays per seed)."""
    return cfg.gradient == "factorised"


def simulate_batched(cfg: Thm5Config, indices) -> list[tuple[Dynamics, integrate.Trajectory]]:
    """Seeds ``indices`` integrated as one batched state (:mod:`luckbench.sim.batched`): the same
    teachers, initial states and mini-batches as :func:`simulate` for each index, one trajectory per seed."""
    rngs = [np.random.default_rng([cfg.seed, i]) for i in indices]
    dyns, w0s, v0s = zip(*(problem(cfg, rng) for rng in rngs))
    device = None if cfg.device == "cpu" else cfg.device  # numpy on the CPU, torch elsewhere
    bdyn = batched.BatchedDynamics(dyns, cfg.dtype, device)
    w0, v0 = np.stack(w0s), np.stack(v0s)
    if cfg.t_end is not None:
        traj = integrate.solve(bdyn, w0, v0, np.linspace(0.0, cfg.t_end, cfg.n_times), method=cfg.method,
                               rtol=cfg.rtol, atol=cfg.atol)
    else:
        kernels = (batched.minibatch_kernels(rngs, cfg.batch, cfg.teacher[0], cfg.bias is not None,
                                             SAMPLERS[cfg.inputs], cfg.steps, cfg.dtype, device) if cfg.batch else None)
        traj = integrate.iterate(bdyn, w0, v0, eta=cfg.lr, iters=cfg.steps, snapshot_every=cfg.snapshot_every,
                                 renormalise=cfg.renormalise, project=not cfg.batch, kernels=kernels)
    w, v = traj.w.astype(float), traj.v.astype(float)  # the diagnostics and the stored results are float64
    return [(dyn, integrate.Trajectory(traj.times, w[:, s], v[:, s], traj.iterations, traj.nfev))
            for s, dyn in enumerate(dyns)]


def run_seeds(cfg: Thm5Config, indices) -> list[dict[str, np.ndarray]]:
    """Seeds ``indices`` (batched when :func:`batchable`): per seed ``times``, ``iterations`` and the diagnostics."""
    indices = [int(i) for i in indices]
    runs = simulate_batched(cfg, indices) if batchable(cfg) else [simulate(cfg, i) for i in indices]
    results = []
    for dyn, traj in runs:
        out = observe(cfg, dyn, traj)
        out["times"], out["iterations"] = traj.times, traj.iterations
        results.append(out)
    return results


def run(cfg: Thm5Config, workers: int | None = 1) -> xr.Dataset:
    """All seeds as the dataset of the module docstring, each seed's diagnostics observed after the
    batched integration. The discrete iteration splits the seeds into one group per worker process
    (a seed's result does not depend on its group); the flow integrates all seeds as one state, since
    its shared step size makes the result depend on the grouping (within the solver tolerance)."""
    workers = 1 if cfg.device != "cpu" else workers  # forked workers cannot use CUDA once the parent asked for it
    n_groups = 1 if cfg.t_end is not None else min(cfg.seeds, max(1, workers or default_workers()))
    groups = np.array_split(np.arange(cfg.seeds), n_groups)
    results = [r for group in map_tasks(partial(run_seeds, cfg), groups, workers) for r in group]
    first = results[0]
    per_node = ("v_row_norm", "theta_u", "v_err_u", "w_drift_r")
    data = {}
    for name in first:
        if name in ("times", "iterations"):
            continue
        dims = ("seed", "time", "node") if name in per_node else ("seed", "time")
        data[name] = (dims, np.stack([r[name] for r in results]))
    data["is_u"] = ("node", np.arange(cfg.n) < cfg.teacher[1])
    ds = xr.Dataset(data, coords={"seed": np.arange(cfg.seeds), "time": first["times"], "node": np.arange(cfg.n)})
    if first["iterations"] is not None:
        ds["iteration"] = ("time", first["iterations"])
    ds["theta_u"].attrs["units"] = "rad"
    ds.attrs.update({"result_kind": "thm5", "mode": cfg.mode, "u_nodes": cfg.teacher[1],
                     "integrator": "solve_ivp" if cfg.t_end is not None else ("minibatch" if cfg.batch else "euler")})
    if cfg.t_end is not None:  # the flow's late values are solver noise below the limit (the iteration's are exact)
        limit = resolution_limit(cfg.rtol, cfg.atol)
        for name in ("v_row_norm", "theta_u", "v_err_u"):
            flag_unresolved(ds, name, limit)
    return attach_run(ds, cfg)
