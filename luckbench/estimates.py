"""What a command's sizes cost: :class:`~luckbench.resources.Need` lists for the resource guard.

Sketches of the dominant arrays and loops (upper-bound minded, not exact accounting), so that a
size the machine cannot hold or finish is refused before anything is allocated. Sizes arrive as
Python ints and are multiplied as floats (``resources.as_float``), so ``--teachers 10**40`` gives
an estimate of 1e80 bytes rather than an overflow.

Kernel entries: the zero-bias arc-cosine forms cost tens of operations per (student, teacher) pair;
with biases the bivariate-normal orthant (Genz / Owen's T) and the quadrature fallbacks cost
thousands (``theory.kernels``). Flow integrations: LSODA/BDF-type solvers need a few thousand
right-hand sides plus Jacobians, growing like log(t_end); explicit Runge-Kutta needs about
:data:`EXPLICIT_EVALS_PER_TIME` per unit of time (measured: sim thm4 defaults, RK45, 1,064 right-hand
sides to t = 200 and 6,602 to t = 2,000).
"""
from __future__ import annotations

import math

import numpy as np

from luckbench.resources import FLOAT, Need, as_float

ENTRY_FLOPS_ZERO_BIAS = 50.0
ENTRY_FLOPS_BIAS = 2000.0
IMPLICIT_EVALS = 3000.0  # right-hand sides of a stiff/LSODA integration to t ~ 1e3, before Jacobians
EXPLICIT_EVALS_PER_TIME = 4.0
EXPLICIT = ("RK45", "RK23", "DOP853")
JACOBIANS = 20.0
# check: per-layer cost of the Python-level recursions, as operations at the ~4 GFLOP/s a check
# reached on our loaded 2-core machine (teacher 20,100,100,100,100,4: 77 s; 20,10,15,4: 15 s).
LAYER_OVERHEAD_FLOPS = 3e10
CHECK_MAX_WORK = 1e12  # check is interactive: its default budget is minutes, not hours  # dense finite-difference Jacobians LSODA may form along a run


def _f(x) -> float:
    return as_float(x)


def kernel_flops(n: float, m: float, dim: float, bias: bool) -> float:
    """One evaluation of the moments between n students and m teachers in dimension dim."""
    entries = (n + m) * (n + m)
    return entries * (2 * dim + (ENTRY_FLOPS_BIAS if bias else ENTRY_FLOPS_ZERO_BIAS))


def sample_kernel_flops(samples: float, n: float, m: float, dim: float) -> float:
    """Moments as sample means over ``samples`` points (``sim.kernel.SampleKernel``)."""
    return samples * (2 * (n + m) * dim + 4 * (n + m) * (n + m))


def flow_evaluations(method: str, t_end: float, state: float) -> float:
    """Right-hand-side evaluations of ``solve_ivp`` to ``t_end`` (LSODA's dense Jacobians included)."""
    if method in EXPLICIT:
        return 1000.0 + EXPLICIT_EVALS_PER_TIME * _f(t_end)
    evals = IMPLICIT_EVALS * (1.0 + math.log10(1.0 + _f(t_end)) / 3.0)
    if method == "LSODA":  # finite-difference Jacobians: one evaluation per state entry each
        evals += JACOBIANS * state
    return evals


def solver_bytes(method: str, state: float, n: float) -> float:
    """Working memory of the integrator: dense Jacobian and its LU for LSODA/BDF/Radau, blocks for KronBDF."""
    if method in EXPLICIT:
        return 10 * state * FLOAT
    if method == "KronBDF":
        return (4 * n * n + 10 * state) * FLOAT
    return 3 * state * state * FLOAT


def thm4_needs(cfg) -> list[Need]:
    """``sim thm4``: n = m students in dimension D; flow, optional Euler iteration, per-time diagnostics."""
    m = _f(cfg.teachers)
    dim = _f(cfg.input_dim) + (cfg.bias is not None)
    state = m * dim
    per_rhs = kernel_flops(m, m, dim, cfg.bias is not None) * (3 if cfg.gradient == "exact" else 1)
    exact = kernel_flops(m, m, dim, cfg.bias is not None) * 3 + m * m * dim * 4  # a1_residual per output time
    times = _f(cfg.n_times)
    needs = [
        Need("--teachers/--dim", bytes=(20 * (2 * m) ** 2 + 3 * m * m * dim + 10 * state) * FLOAT),
        Need("--n-times", bytes=4 * times * state * FLOAT, flops=times * exact),
        Need(f"--teachers/--dim (--method {cfg.method})", bytes=solver_bytes(cfg.method, state, m),
             flops=flow_evaluations(cfg.method, cfg.t_end, state) * per_rhs),
    ]
    if cfg.eta is not None:
        iters = _f(cfg.t_end) / _f(cfg.eta)
        every = 1.0
        if iters < 2**53:  # the Euler run keeps a snapshot every gcd(output iterations) steps
            marks = np.rint(np.linspace(0.0, cfg.t_end, cfg.n_times) / cfg.eta).astype(np.int64)
            every = float(max(int(np.gcd.reduce(marks)), 1))
        needs.append(Need("--eta/--t-end", bytes=2 * (iters / every + 1) * state * FLOAT, flops=iters * per_rhs))
    return needs


def thm5_run_needs(cfg, concurrent: float = 1.0, label: str = "") -> list[Need]:
    """One Thm5Config (all its seeds; ``concurrent`` of them in memory at once)."""
    d, m, c = (_f(w) for w in cfg.teacher)
    n = _f(cfg.node_multi) * m
    bias = cfg.bias is not None
    dim = d + bias
    state = n * dim + (n + 1) * c
    seeds = _f(cfg.seeds)
    mc, batch = _f(cfg.mc_samples), _f(cfg.batch)
    if cfg.t_end is None and batch:  # mini-batch moments replace the closed forms
        per_rhs = sample_kernel_flops(batch, n, m, dim)
    elif mc:  # Monte Carlo moments over a fixed sample
        per_rhs = sample_kernel_flops(mc, n, m, dim)
    else:
        per_rhs = kernel_flops(n, m, dim, bias)
    per_rhs = per_rhs * (3 if cfg.gradient == "exact" else 1) + 6 * n * n * c
    if cfg.t_end is not None:
        snapshots = _f(cfg.n_times)
        steps = flow_evaluations(cfg.method, cfg.t_end, state)
        solver = solver_bytes(cfg.method, state, n)
    else:
        steps = _f(cfg.steps)
        snapshots = steps / _f(cfg.snapshot_every) + 1
        solver = 0.0
    per_seed_bytes = (20 * (n + m) ** 2 + 3 * n * m * dim + mc * (dim + 2 * (n + m))
                      + 8 * batch * (n + m) + 10 * state) * FLOAT + solver
    tag = f" ({label})" if label else ""
    return [
        Need(f"--teacher/--node-multi{tag}", bytes=concurrent * per_seed_bytes,
             flops=seeds * (steps * per_rhs + snapshots * n * n * (c + dim))),
        Need(f"--seeds/--iters/--snapshot-every{tag}", bytes=(seeds + concurrent) * snapshots * (2 * state + 8 * n) * FLOAT),
    ]


def thm5_needs(cfg, workers: int | None) -> list[Need]:
    return thm5_run_needs(cfg, concurrent=min(_f(cfg.seeds), _f(workers or 1)))


def overparam_needs(cfg, workers: int | None) -> list[Need]:
    runs = [cfg.run_config(k) for k in cfg.node_multis]
    return [need for run in runs for need in thm5_run_needs(run, min(_f(run.seeds), _f(workers or 1)),
                                                            f"x{run.node_multi}")]


def protocol_needs(cfg, workers: int | None) -> list[Need]:
    pairs = len(cfg.alpha_ws)
    runs = [cfg.run_config(k, 0) for k in cfg.node_multis]
    needs = []
    for run in runs:
        for need in thm5_run_needs(run, min(_f(run.seeds) * pairs, _f(workers or 1)), f"x{run.node_multi}"):
            needs.append(Need(need.flag, bytes=need.bytes, flops=need.flops * pairs))
    width = max(_f(k) for k in cfg.node_multis) * _f(cfg.teacher[1])
    snapshots = _f(cfg.iters) / _f(cfg.snapshot_every) + 1
    needs.append(Need("--node-multis/--seeds/--iters", bytes=4 * len(cfg.node_multis) * pairs * _f(cfg.seeds)
                      * snapshots * width * FLOAT))
    return needs


SIM_NEEDS = {"thm4": lambda cfg, workers: thm4_needs(cfg), "thm5": thm5_needs, "overparam": overparam_needs,
             "protocol42": protocol_needs}


def check_needs(teacher: tuple[int, ...], student: tuple[int, ...]) -> list[Need]:
    """``check``: per-sample beta matrices (Eq. 3) of the FC and the 6x6 conv pair, the Monte Carlo
    dynamics of Assumption 1 / Theorem 2 (``theory.assumption1``: >= 64 samples) and per-layer overhead."""
    t = [_f(w) for w in teacher]
    s = [_f(w) for w in student]
    pairs = range(1, len(s) - 1)
    per_sample = sum((s[i] + 1) * (s[i + 1] + 1) * (s[i] + t[i] + 2) for i in pairs)
    beta_bytes = sum((s[i] + 1) * (s[-1] + 1) + (s[i] + 1) * (s[i + 1] + 1) for i in range(len(s) - 1))
    positions = 36.0  # the conv variant of Theorem 1 runs on 6x6 images, 8 samples
    conv_bytes = 8 * positions * sum(s[:-1]) * (s[-1] + 1) * 4 * FLOAT
    layers = _f(len(s))
    return [
        Need("--teacher/--student (Assumption 1, Theorem 2)", bytes=64 * beta_bytes * 4 * FLOAT,
             flops=2 * max(2e10, 64 * per_sample)),
        Need("--teacher/--student (Theorem 1, conv)", bytes=conv_bytes, flops=8 * positions * 9 * per_sample),
        Need("--teacher (depth)", flops=layers * LAYER_OVERHEAD_FLOPS),
    ]
