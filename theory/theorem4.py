"""Theorem 4 (n = m students, beta = 11^T, L = L* = I): conditions, constants and envelopes.

Dynamics: w_j' = P_perp(w_j) (sum_k w*_k d*_jk - sum_k w_k d_jk), unit rows in whitened augmented
coordinates (see :mod:`luckbench.theory.assumption2`). Constants (Eq. 39 and the theorem):

* M_d = (1 + K_d) [1 + 2 K_d sin(theta0/2)]^2 / cos(theta0/2)                         (Eq. 39)
* gamma = cos(theta0) - (m - 1) eps_d M_d
* d_bar, corrected [FLAG, sign]: (1 - 2 K_d sin(theta0/2)) min_j d**_jj; for zero bias the exact
  min over the cap, (pi - theta0)/(2 pi), is used instead (it is larger and exact).
  Printed (``paper_mode=True``): [1 + 2 K_d sin(theta0/2)] min_j d**_jj -- it exceeds d*_jj <= 1/2
  for zero bias, so it is not a lower bound (theta0 = 5 deg, K_d = 0.674: 0.529 > 0.5).
  The teachers' own diagonal d**_jj stands in for the paper's d*_jj^0 (the student is no input).
* rate = d_bar * gamma. Claims: continuous time S(t) = max_j sin theta_j(t) <= S(0) exp(-d_bar gamma t);
  discrete (corrected exponent) sin theta_j^t <= (1 - eta d_bar gamma)^t sin theta0, printed
  exponent t - 1 under ``paper_mode``.
* Preconditions: gamma > 0, d_bar > 0, theta0 < pi/2 and, when eta is given, eta * d_max <= 1 with
  d_max = 1/2 (zero bias) or 1 (an upper bound on every d*_jj).

K_d defaults to Assumption 2 over the caps (exact for zero bias: for orthogonal teachers
K_d = Psi(theta0)/(pi/2 - theta0), the local form of docs/math.md 3(iii) that gives gamma = 0.159, 0.111,
0.057 at 1, 3, 5 deg for m = 2); eps_d defaults to Assumption 3 of the teacher rows.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from luckbench.errors import InputError
from luckbench.theory import geometry, validation
from luckbench.theory import assumption2 as a2
from luckbench.theory import assumption3 as a3
from luckbench.theory.verdict import Verdict


@dataclasses.dataclass(frozen=True)
class Thm4Conditions:
    """Theorem 4's constants and preconditions for one teacher set and cap angle."""

    m: int
    theta0: float
    K_d: float
    eps_d: float
    M_d: float
    gamma: float
    d_bar: float
    rate: float  # d_bar * gamma (continuous-time exponent)
    preconditions: dict
    holds: bool  # all preconditions hold
    paper_mode: bool
    d_bar_form: str = ""  # "exact zero-bias", "corrected (minus sign)" or "paper (plus sign)"
    K_method: str = ""


def m_d(K_d: float, theta0: float) -> float:
    """M_d = (1 + K_d)[1 + 2 K_d sin(theta0/2)]^2 / cos(theta0/2) (Eq. 39)."""
    return (1 + K_d) * (1 + 2 * K_d * math.sin(theta0 / 2)) ** 2 / math.cos(theta0 / 2)


def gamma(m: int, theta0: float, K_d: float, eps_d: float) -> float:
    """gamma = cos(theta0) - (m - 1) eps_d M_d (Theorem 4)."""
    return math.cos(theta0) - (m - 1) * eps_d * m_d(K_d, theta0)


def d_bar(theta0: float, K_d: float, min_diag: float, *, paper_mode: bool = False) -> float:
    """Lower bound on d*_jj over the cap: (1 - 2 K_d sin(theta0/2)) min_diag; printed with a plus sign."""
    sign = 1.0 if paper_mode else -1.0
    return (1 + sign * 2 * K_d * math.sin(theta0 / 2)) * min_diag


def d_bar_exact_zero_bias(theta0: float) -> float:
    """min over angle(w_j, w*_j) <= theta0 of psi_d(w_j, w*_j) = (pi - theta0)/(2 pi) for zero bias."""
    return (math.pi - theta0) / (2 * math.pi)


def rows_with_bias(w_star, bias=None) -> tuple[np.ndarray, bool]:
    """(unit rows, has_bias) from ``w_star`` and ``bias``.

    ``bias`` None/False: zero-bias rows; True: the last column of ``w_star`` is the bias
    coordinate; a number or an (m,) array: bias values appended as that last column, w~ = [w, b].
    """
    if bias is None or bias is False:
        return geometry.unit_rows(w_star, "w_star"), False
    if bias is True:
        rows = geometry.unit_rows(w_star, "w_star")
        if rows.shape[1] < 2:
            raise InputError("w_star: a bias coordinate needs at least 2 columns")
        return rows, True
    rows = validation.as_rows(w_star, "w_star")
    b = validation.bias_values(bias, rows.shape[0], "bias")
    return geometry.unit_rows(np.concatenate([rows, b[:, None]], axis=1), "w_star"), True


def conditions(w_star, theta0, *, bias=None, K_d=None, eps_d=None, eta=None, paper_mode=False) -> Thm4Conditions:
    """Theorem 4's constants for teacher rows ``w_star`` (m, D) and cap angle ``theta0`` (radians).

    ``w_star`` is in whitened coordinates (sigma = 1) and normalised here; ``bias`` as in
    :func:`rows_with_bias` (None: zero-bias model; True: last column is the bias; values: appended).
    ``K_d``/``eps_d`` default to the measured Assumption 2/3 constants (K_d exact for zero bias, a
    search lower bound otherwise).
    """
    rows, has_bias = rows_with_bias(w_star, bias)
    t0 = validation.as_angle(theta0)
    m = rows.shape[0]
    K_method = "given"
    if K_d is None:
        est = a2.region_constant("d", a2.Region.caps(rows, t0, bias=has_bias))
        K_d, K_method = est.K, est.method
    K_d = validation.as_number(K_d, "K_d", allow_inf=True)
    if eps_d is None:
        eps_d = a3.teacher_overlaps(rows, bias=has_bias)["d"].eps
    eps_d = validation.as_number(eps_d, "eps_d")
    diag = float(np.min(np.diag(a2.psi("d", rows, rows, bias=has_bias))))
    if math.isinf(K_d):
        M, g = math.inf, -math.inf
    else:
        M, g = m_d(K_d, t0), gamma(m, t0, K_d, eps_d)
    if paper_mode:
        db, form = d_bar(t0, K_d, diag, paper_mode=True), "paper (plus sign)"
    elif not has_bias:
        db, form = d_bar_exact_zero_bias(t0), "exact zero-bias"
    else:
        db, form = d_bar(t0, K_d, diag), "corrected (minus sign)"
    pre = {"gamma>0": bool(g > 0), "d_bar>0": bool(db > 0), "theta0<pi/2": bool(t0 < math.pi / 2)}
    if eta is not None:
        eta = validation.as_number(eta, "eta")
        pre["eta*d<=1"] = bool(eta * (1.0 if has_bias else 0.5) <= 1)
    holds = all(pre.values())
    rate = db * g if math.isfinite(g) else -math.inf
    return Thm4Conditions(m, t0, float(K_d), eps_d, M, g, db, rate, pre, holds, bool(paper_mode), form, K_method)


def envelope_continuous(t, sin_theta0, cond: Thm4Conditions) -> np.ndarray:
    """S(0) exp(-d_bar gamma t) (continuous-time claim); NaN everywhere if the preconditions fail."""
    t = np.asarray(t, dtype=np.float64)
    if not cond.holds:
        return np.full(t.shape, np.nan)
    return float(sin_theta0) * np.exp(-cond.rate * t)


def envelope_discrete(iters, sin_theta0, eta, cond: Thm4Conditions) -> np.ndarray:
    """sin theta0 (1 - eta d_bar gamma)^t (corrected); exponent t - 1 as printed under paper_mode.

    NaN everywhere if the preconditions fail, eta is not positive, or eta d_bar gamma >= 1.
    """
    t = np.asarray(iters, dtype=np.float64)
    eta = validation.as_number(eta, "eta")
    q = eta * cond.rate
    if not cond.holds or eta <= 0 or q >= 1:
        return np.full(t.shape, np.nan)
    return float(sin_theta0) * (1 - q) ** (t - 1 if cond.paper_mode else t)


def iterate(w_star, w0, eta: float, steps: int, *, bias: bool) -> np.ndarray:
    """Euler steps of the Thm-4 dynamics with renormalisation; returns sin theta_j^t, shape (steps+1, m)."""
    ws = geometry.unit_rows(w_star, "w_star")
    w = geometry.unit_rows(w0, "w0")
    out = np.empty((steps + 1, ws.shape[0]))
    for t in range(steps + 1):
        cos = np.clip(np.sum(w * ws, axis=1), -1.0, 1.0)
        out[t] = np.sqrt(1 - cos ** 2)
        if t == steps:
            break
        grad = a2.psi("d", w, ws, bias=bias) @ ws - a2.psi("d", w, w, bias=bias) @ w
        grad -= np.sum(grad * w, axis=1, keepdims=True) * w
        w = w + eta * grad
        w /= np.linalg.norm(w, axis=1, keepdims=True)
    return out


ETA_CHECK = 0.1  # step size of the check when the setup gives none


def check(setup, *, steps: int = 200) -> Verdict:
    """Theorem 4 on the setup's first-layer teachers at theta0 = ``setup.theta0_deg``, step ``setup.eta``.

    When the preconditions hold, the dynamics are iterated from students on the cap boundary and
    every sin theta_j^t is compared with the discrete envelope; otherwise holds is None (vacuous).
    """
    theta0 = setup.theta0
    eta = ETA_CHECK if setup.eta is None else setup.eta
    rows = setup.teacher_rows()
    cond = conditions(rows, theta0, bias=setup.bias, eta=eta, paper_mode=setup.paper_mode)
    details = {"form": "paper (d_bar plus sign, exponent t-1)" if setup.paper_mode
               else "corrected (d_bar minus sign or exact, exponent t)",
               "d_bar_form": cond.d_bar_form, "K_d": cond.K_d, "K_method": cond.K_method, "eps_d": cond.eps_d,
               "M_d": cond.M_d, "gamma": cond.gamma, "d_bar": cond.d_bar, "m": cond.m,
               "theta0_deg": setup.theta0_deg, "preconditions": cond.preconditions}
    statement = "sin theta_j^t <= (1 - eta d_bar gamma)^t sin theta0 when gamma > 0"
    if not cond.holds:
        return Verdict("theorem4", statement, "bound", holds=None, value=cond.gamma, bound=0.0, details=details)
    w0 = geometry.cap_points(rows, theta0, np.random.default_rng(setup.seed), boundary=1.0)
    sines = iterate(rows, w0, eta, steps, bias=setup.bias).max(axis=1)
    env = envelope_discrete(np.arange(steps + 1), math.sin(theta0), eta, cond)
    worst = float(np.max(sines / env))
    details.update({"eta": eta, "steps": steps, "final_sin": float(sines[-1]), "final_envelope": float(env[-1])})
    return Verdict("theorem4", statement, "bound", holds=bool(worst <= 1 + 1e-9), value=worst, bound=1.0,
                   tolerance=1e-9, details=details)
