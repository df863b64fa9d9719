"""Theorem 5 (over-parameterised 2-layer net, top-down modulation): the Eq. 41-54 constants.

Nodes 1..m form the u-set (near the teachers, angle <= theta0), m+1..n the r-set (w*_j := w_j^0,
target v_j = 0). The definitions are circular (C_{.,r} <-> B_{.,r}, lambda_bar, gamma), so they are
solved as a fixed point: C_{d,r} = C_{l,r} = 0; gamma <- min(R41, R42); update C_{.,r}; repeat until
converged. Infeasible when gamma <= 0, lambda_bar <= 0, eta lambda_bar gamma >= 1 or divergence.
[FLAG] Eqs. 41/42 print "gamma >= RHS > 0"; the contraction needs 0 < gamma <= min(R41, R42), used
in both modes, taking gamma as large as allowed.

Notation: s0 = 2 sin(theta0/2) (the u-distance bound), c = cos(theta0/2), B = B_v + B_dv.

``mode="paper"`` (as printed, with the <= fix), i in {d, l}:
  C_iu = 2 K_i sin(theta0/2) (Eq. 47); C_ir = eps_i K_i B_ir B B_v / (lam gamma (2 - eta lam gamma)) (Eq. 48)
  M^uu = (1+K)(1+C_u)^2/c, M^ur = (1+K)(1+C_u)(1+C_r), M^ru = M^ur/c, M^rr = (1+K)(1+C_r)^2 (Eqs. 49-52)
  B_iu = (m-1)M^uu + (n-m)M^ur, B_ir = (m-1)M^ru + (n-m)M^rr (Eqs. 53-54)
  d_bar = (1 - K_d max(C_du, C_dr)) min_d, l_bar likewise, lambda_bar = min (Eqs. 43-45)
  kappa = 2 C0 sin(theta0/2)(1 + B_dv) (Eq. 46)
  R41 = (B_v - B_dv) cos(theta0) - eps_d B max(B_du, B_dr); R42 = 1 - eps_l max(B_lu, B_lr) - kappa

``mode="fixed"`` (docs/math.md Thm 5 [FLAG]s; each term bounded conservatively; rho = 1 - eta lam gamma):
  C = K x distance: C_iu = K_i s0, C_ir = K_i delta_r, with the r-drift (Eqs. 68-70 for j in [r],
  with B_{d,r}, the omitted Eq. 64 dv-term and the m / n-m-1 pair counts; d*_jj <= 1)
    delta_r = eps_d B_v [m((1+K_d)(1+C_dr)^2 s0 B_v + (1+C_du)(1+C_dr)^2 B_dv) + (n-m-1)(1+C_dr)^3 B_v]
              / (lam gamma (2 - eta lam gamma))
  d_bar = (1 - max(C_du, C_dr)) min_d, l_bar = (1 - max(C_lu, C_lr)) min_l (no double K)
  kappa = C0 s0 (B_v + B_dv) (Eq. 60 with ||v_j|| <= B_v + B_dv)
  R41 (u-rows, Eq. 66 with h*_jj >= d*_jj b_v (b_v - B_dv), the Eq. 64 dv-term, and the r-sum, which
  carries no sin(theta) factor, over sin(theta0)):
    b_v (b_v - B_dv) cos(theta0) - eps_d B [(m-1)((1+K_d)(1+C_du)^2/c B_v + (1+C_du)^3 B_dv/sin(theta0))
                                              + (n-m)(1+C_du)^2(1+C_dr) B_v/sin(theta0)]
  R42 = 1 - max(Y_u, Y_r) (V-contraction; corrected Lemma 3 and the ratio factors the paper drops)
    Y_u = eps_l [(m-1)(1+C_lu)^2 (B_dv + K_l B s0)/B_dv + (n-m)(1+C_lu)^2(1+C_lr) B_v/B_dv] + kappa s0/B_dv
    Y_r = eps_l [m (1+C_lr)^2 (B_dv + K_l B s0)/B_v + (n-m-1)(1+C_lr)^3] + C0 delta_r^2
  min_d / min_l are the centres' own diagonals min_j psi(w*_j, w*_j) (psi(w_j^0, w_j^0) for [r]).

Reference (docs/math.md, Thm 5): K = 2, m = 4, n = 12, theta0 = 5 deg, B_v = 1, B_dv = 0.3, eta = 0.01,
min diagonals 0.45, C0 = C0(5 deg) = 1/2: mode "paper" gives gamma = 0.692, lambda_bar = 0.293,
C_dr = 0.023 at eps = 1e-4 and is infeasible at eps = 1e-3.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from luckbench.errors import InputError
from luckbench.theory import geometry, validation
from luckbench.theory import assumption2 as a2
from luckbench.theory import assumption3 as a3
from luckbench.theory.lemmas import c0_zero_bias
from luckbench.theory.verdict import Verdict

MODES = ("paper", "fixed")
MAX_ITER = 1000


@dataclasses.dataclass(frozen=True)
class Thm5Constants:
    """Solved Theorem 5 constants (see the module docstring for the formulas of each mode)."""

    gamma: float
    lambda_bar: float
    d_bar: float
    l_bar: float
    C_du: float
    C_dr: float
    C_lu: float
    C_lr: float
    R41: float
    R42: float
    kappa: float
    feasible: bool
    converged: bool
    iterations: int
    rate: float  # 1 - eta lambda_bar gamma (NaN when infeasible)
    reason: str
    mode: str = "fixed"


@dataclasses.dataclass(frozen=True)
class _Inputs:
    m: int
    n: int
    theta0: float
    B_v: float
    B_dv: float
    b_v: float
    eps_d: float
    eps_l: float
    K_d: float
    K_l: float
    C0: float
    eta: float
    min_d: float
    min_l: float


def _definitions(p: _Inputs, C_dr: float, C_lr: float, drift: float, mode: str) -> dict:
    """Eqs. 43-54 (and the fixed-mode forms) at the current r-constants; fixed mode also takes the
    r-drift distance ``drift``. ``nums`` are the numerators of the next (C_dr, C_lr, drift): divide
    by lambda_bar gamma (2 - eta lambda_bar gamma) (Eq. 48/70)."""
    m, n, t0 = p.m, p.n, p.theta0
    s0, c = 2 * math.sin(t0 / 2), math.cos(t0 / 2)
    B = p.B_v + p.B_dv
    C_du, C_lu = p.K_d * s0, p.K_l * s0
    if mode == "paper":
        def sums(K, Cu, Cr):
            uu, ur = (1 + K) * (1 + Cu) ** 2 / c, (1 + K) * (1 + Cu) * (1 + Cr)
            ru, rr = ur / c, (1 + K) * (1 + Cr) ** 2
            return (m - 1) * uu + (n - m) * ur, (m - 1) * ru + (n - m) * rr

        B_du, B_dr = sums(p.K_d, C_du, C_dr)
        B_lu, B_lr = sums(p.K_l, C_lu, C_lr)
        d_bar = (1 - p.K_d * max(C_du, C_dr)) * p.min_d
        l_bar = (1 - p.K_l * max(C_lu, C_lr)) * p.min_l
        kappa = 2 * p.C0 * math.sin(t0 / 2) * (1 + p.B_dv)
        R41 = (p.B_v - p.B_dv) * math.cos(t0) - p.eps_d * B * max(B_du, B_dr)
        R42 = 1 - p.eps_l * max(B_lu, B_lr) - kappa
        num_d, num_l, num_r = p.eps_d * p.K_d * B_dr * B * p.B_v, p.eps_l * p.K_l * B_lr * B * p.B_v, 0.0
    else:
        sin0 = math.sin(t0)
        d_bar = (1 - max(C_du, C_dr)) * p.min_d
        l_bar = (1 - max(C_lu, C_lr)) * p.min_l
        kappa = p.C0 * s0 * B
        R41 = p.b_v * (p.b_v - p.B_dv) * math.cos(t0) - p.eps_d * B * (
            (m - 1) * ((1 + p.K_d) * (1 + C_du) ** 2 / c * p.B_v + (1 + C_du) ** 3 * p.B_dv / sin0)
            + (n - m) * (1 + C_du) ** 2 * (1 + C_dr) * p.B_v / sin0)
        lq = p.B_dv + p.K_l * B * s0
        Y_u = p.eps_l * ((m - 1) * (1 + C_lu) ** 2 * lq / p.B_dv
                         + (n - m) * (1 + C_lu) ** 2 * (1 + C_lr) * p.B_v / p.B_dv) + kappa * s0 / p.B_dv
        Y_r = p.eps_l * (m * (1 + C_lr) ** 2 * lq / p.B_v + (n - m - 1) * (1 + C_lr) ** 3) + p.C0 * drift ** 2
        R42 = 1 - max(Y_u, Y_r)
        dist = p.eps_d * p.B_v * (m * ((1 + p.K_d) * (1 + C_dr) ** 2 * s0 * p.B_v
                                       + (1 + C_du) * (1 + C_dr) ** 2 * p.B_dv)
                                  + (n - m - 1) * (1 + C_dr) ** 3 * p.B_v)
        num_d, num_l, num_r = p.K_d * dist, p.K_l * dist, dist
    return dict(C_du=C_du, C_lu=C_lu, d_bar=d_bar, l_bar=l_bar, kappa=kappa, R41=R41, R42=R42,
                nums=(num_d, num_l, num_r))


def solve(p: _Inputs, mode: str) -> Thm5Constants:
    """Fixed-point iteration of the Thm 5 constants (module docstring): state (C_dr, C_lr, drift)."""
    state = (0.0, 0.0, 0.0)
    reason, converged, it = "", False, 0
    for it in range(1, MAX_ITER + 1):
        s = _definitions(p, *state, mode)
        lam, gam = min(s["d_bar"], s["l_bar"]), min(s["R41"], s["R42"])
        if not (gam > 0):
            reason = f"gamma <= 0 (R41 = {s['R41']:.4g}, R42 = {s['R42']:.4g})"
            break
        if not (lam > 0):
            reason = f"lambda_bar <= 0 (d_bar = {s['d_bar']:.4g}, l_bar = {s['l_bar']:.4g})"
            break
        if p.eta * lam * gam >= 1:
            reason = f"eta * lambda_bar * gamma = {p.eta * lam * gam:.4g} >= 1"
            break
        if converged:
            break
        denom = lam * gam * (2 - p.eta * lam * gam)
        new = tuple(x / denom for x in s["nums"])
        if not all(math.isfinite(x) and x <= 1e6 for x in new):
            reason = "the fixed-point iteration diverged"
            break
        converged = all(abs(x - y) <= 1e-13 * (1 + abs(y)) for x, y in zip(new, state))
        state = new  # one more pass re-evaluates the definitions at the converged state
    else:
        reason = f"no convergence in {MAX_ITER} iterations"
    feasible = converged and not reason
    return Thm5Constants(
        gamma=float(gam), lambda_bar=float(lam), d_bar=float(s["d_bar"]), l_bar=float(s["l_bar"]),
        C_du=float(s["C_du"]), C_dr=float(state[0]), C_lu=float(s["C_lu"]), C_lr=float(state[1]),
        R41=float(s["R41"]), R42=float(s["R42"]), kappa=float(s["kappa"]), feasible=bool(feasible),
        converged=bool(converged), iterations=it, rate=float(1 - p.eta * lam * gam) if feasible else math.nan,
        reason="feasible" if feasible else reason, mode=mode)


def constants(*, m, n, theta0, B_v, B_dv, eps_d, eps_l, K_d, K_l, C0, eta, min_d_diag, min_l_diag, b_v=None,
              mode="fixed") -> Thm5Constants:
    """Solve the Thm 5 constants (module docstring). ``C0=None`` or inf (Lemma 4 fails, biases), K = inf
    (Assumption 2 fails) and theta0 >= pi/2 give an infeasible result with that reason.
    ``b_v`` (fixed mode) defaults to ``B_v``."""
    if mode not in MODES:
        raise InputError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    try:
        m_i, n_i = int(m), int(n)
    except (TypeError, ValueError):
        raise InputError(f"m, n: expected integers, got {m!r}, {n!r}") from None
    if m_i < 1:
        raise InputError(f"m: need at least one teacher node, got {m!r}")
    if n_i < m_i:
        raise InputError(f"n: the student needs at least m = {m_i} nodes, got {n!r}")
    t0 = validation.as_angle(theta0)
    B_v_f = validation.as_number(B_v, "B_v", positive=True)
    B_dv_f = validation.as_number(B_dv, "B_dv")
    b_v_f = B_v_f if b_v is None else validation.as_number(b_v, "b_v", positive=True)
    if b_v_f > B_v_f:
        raise InputError(f"b_v: a lower bound on ||v*_j|| cannot exceed B_v = {B_v_f}, got {b_v!r}")
    C0_f = math.inf if C0 is None else validation.as_number(C0, "C0", allow_inf=True)
    p = _Inputs(m_i, n_i, t0, B_v_f, B_dv_f, b_v_f, validation.as_number(eps_d, "eps_d"), validation.as_number(eps_l, "eps_l"),
                validation.as_number(K_d, "K_d", allow_inf=True), validation.as_number(K_l, "K_l", allow_inf=True), C0_f,
                validation.as_number(eta, "eta", positive=True),
                validation.as_number(min_d_diag, "min_d_diag", positive=True), validation.as_number(min_l_diag, "min_l_diag", positive=True))
    why = ("theta0 >= pi/2: the cap argument needs theta0 < pi/2" if t0 >= math.pi / 2 else
           "C0 = inf: Lemma 4's quadratic fall-off fails (bias coordinate)" if math.isinf(C0_f) else
           "K = inf: Assumption 2 fails on the region" if math.isinf(p.K_d) or math.isinf(p.K_l) else
           "B_dv = 0: fixed mode's V_u contraction ratios (B_v/B_dv, s0/B_dv) are unbounded"
           if mode == "fixed" and B_dv_f == 0 else "")
    if why:
        nan = math.nan
        return Thm5Constants(nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, False, False, 0, nan, why, mode)
    return solve(p, mode)


def constants_from_weights(W_star, V_star, W_r0, V0, theta0, eta, *, mode="fixed", k_search="region",
                           bias=None, C0=None) -> Thm5Constants:
    """Thm 5 constants estimated from weights (rows are nodes, whitened augmented coordinates).

    ``W_star`` (m, D) teachers, ``V_star`` (m, C) their fan-out rows, ``W_r0`` (n-m, D) the r-set's
    initial rows, ``V0`` (n, C) the students' initial fan-out rows (u-set first). eps over all rows
    of [W*, W_r0] (Assumption 3); K over caps theta0 around W* and radius-0 caps at W_r0
    (``k_search="region"``: exact for zero bias, a cheap search lower bound otherwise -- optimistic,
    the r-drift is ignored) or a given number for both K_d and K_l. C0 defaults to the zero-bias
    closed form C0(theta0) and to inf with a bias coordinate (``bias=True``: the last column of
    W_star and W_r0 is the bias). theta0 >= pi/2 is reported infeasible.
    B_v = max(||v*_j||, ||v_j^0|| for j in [r]) (fixed) or max ||v*_j|| (paper); b_v = min ||v*_j||;
    B_dv = max_{j in [u]} ||v_j^0 - v*_j||.
    """
    if bias not in (None, False, True):
        raise InputError(f"bias: expected None or a bool (True: the last column is the bias), got {bias!r}")
    has_bias = bool(bias)
    ws = geometry.unit_rows(W_star, "W_star")
    m = ws.shape[0]
    wr = np.zeros((0, ws.shape[1])) if W_r0 is None or np.size(W_r0) == 0 else geometry.unit_rows(W_r0, "W_r0")
    if wr.shape[1] != ws.shape[1]:
        raise InputError(f"W_r0: expected {ws.shape[1]} columns like W_star, got {wr.shape[1]}")
    vs = np.atleast_2d(np.asarray(V_star, dtype=np.float64))
    v0 = np.atleast_2d(np.asarray(V0, dtype=np.float64))
    for what, a in (("V_star", vs), ("V0", v0)):
        if not np.all(np.isfinite(a)):
            raise InputError(f"{what}: contains non-finite values")
    if vs.shape[0] != m or v0.shape != (m + wr.shape[0], vs.shape[1]):
        raise InputError(f"V0/V_star: expected V_star ({m}, C) and V0 ({m + wr.shape[0]}, C), "
                         f"got {vs.shape} and {v0.shape}")
    t0 = validation.as_angle(theta0)
    centres = np.concatenate([ws, wr], axis=0)
    ov = a3.teacher_overlaps(centres, bias=has_bias)
    if C0 is None:
        C0 = math.inf if has_bias else c0_zero_bias(t0)
    if math.isinf(validation.as_number(C0, "C0", allow_inf=True)) or t0 >= math.pi / 2:
        K_d = K_l = 0.0  # unused: constants() reports infeasible (C0 = inf or theta0 >= pi/2) before K enters
    elif isinstance(k_search, str):
        if k_search != "region":
            raise InputError(f"k_search: expected 'region' or a number, got {k_search!r}")
        region = a2.Region.caps(centres, t0, bias=has_bias, radii=[t0] * m + [0.0] * wr.shape[0])
        K_d = a2.region_constant("d", region, samples=64).K
        K_l = a2.region_constant("l", region, samples=64).K
    else:
        K_d = K_l = validation.as_number(k_search, "k_search")
    norms_star = np.linalg.norm(vs, axis=1)
    B_v = float(norms_star.max())
    if mode == "fixed" and wr.shape[0]:
        B_v = max(B_v, float(np.linalg.norm(v0[m:], axis=1).max()))
    B_dv = float(np.linalg.norm(v0[:m] - vs, axis=1).max())
    return constants(m=m, n=centres.shape[0], theta0=t0, B_v=B_v, B_dv=B_dv, eps_d=ov["d"].eps, eps_l=ov["l"].eps,
                     K_d=K_d, K_l=K_l, C0=C0, eta=eta, b_v=float(norms_star.min()) if mode == "fixed" else None,
                     min_d_diag=float(np.diag(a2.psi("d", centres, centres, bias=has_bias)).min()),
                     min_l_diag=float(np.diag(a2.psi("l", centres, centres, bias=has_bias)).min()), mode=mode)


ETA_CHECK = 0.01  # step size of the check when the setup gives none


def check(setup) -> Verdict:
    """Feasibility of Thm 5's hypotheses for the setup's first layer (teacher of ``setup.teacher_scheme``,
    PyTorch-default student init for the r-set, theta0 = ``setup.theta0_deg``, input std ``setup.sigma``,
    step ``setup.eta``). The conclusion itself is an empirical target for ``luckbench sim thm5``;
    holds is True when feasible, None otherwise."""
    d, m, C = setup.teacher[0], setup.teacher[1], setup.teacher[-1]
    n = setup.student_widths[1]
    eta = ETA_CHECK if setup.eta is None else setup.eta
    if n < m:
        return Verdict(name="theorem5", statement=_T5_STATEMENT, kind="bound", holds=None,
                       details={"reason": f"the student's first hidden layer ({n}) is narrower than the "
                                          f"teacher's ({m}): Theorem 5 needs n >= m", "m": m, "n": n})
    teacher = geometry.teacher_layers((d, m, C), bias=setup.bias, seed=setup.seed, scheme=setup.teacher_scheme)
    student = geometry.default_init_layers((d, n, C), bias=setup.bias, seed=setup.seed + 1)

    def rows(layers):
        return geometry.augment(*layers[0], sigma=setup.sigma)

    mode = "paper" if setup.paper_mode else "fixed"
    theta0 = setup.theta0
    v_star = teacher[-1][0].T
    v0 = student[-1][0].T.copy()
    v0[:m] = v_star + 0.1 * (v0[:m] - v_star)  # a u-set whose fan-out starts near the teacher's
    res = constants_from_weights(rows(teacher), v_star, rows(student)[m:], v0, theta0, eta,
                                 mode=mode, bias=setup.bias)
    return Verdict(
        name="theorem5",
        statement=_T5_STATEMENT,
        kind="bound", holds=True if res.feasible else None, value=res.gamma, bound=0.0,
        details={"form": f"mode {mode} ({'as printed with the <= fix' if mode == 'paper' else 'corrected'})",
                 **{k: v for k, v in dataclasses.asdict(res).items() if k != "mode"},
                 "m": m, "n": n, "theta0_deg": setup.theta0_deg, "eta": eta,
                 "sigma": setup.sigma, "teacher_scheme": setup.teacher_scheme},
    )


_T5_STATEMENT = ("Thm 5's hypotheses admit 0 < gamma <= min(R41, R42), lambda_bar > 0 (Eqs. 41-54); "
                 "holds=None: infeasible, the theorem says nothing here")
