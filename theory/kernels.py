"""Closed-form Gaussian kernels of one ReLU layer: the paper's psi_d and psi_l (Eq. 7) and companions.

For x ~ N(0, sigma^2 I_d) and a unit u = w.x + b (relu activation f = relu(u), gate f' = 1(u > 0)),
the paper (arXiv:1905.13405 v2, Sec. 3, Eq. 7) defines

    psi_d(w, w') = E[1(u > 0) 1(u' > 0)]          psi_l(w, w') = E[relu(u) relu(u')],

so that d_jj' = psi_d(w_j, w_j'), l_jj' = psi_l(w_j, w_j') at layer 0 (Theorem 2's D and L).
Conventions and formulas are those of docs/math.md sec. 1 (sigma_1 = sigma |w|, a = b / sigma_1,
rho = cos angle(w, w'), r = sqrt(1 - rho^2)):

* zero bias (``b1 = b2 = None``): the arc-cosine kernels psi_d = (pi - theta) / (2 pi) and
  psi_l = sigma^2 |w||w'| g(theta) / (2 pi), g(theta) = sin theta + (pi - theta) cos theta;
* with biases: psi_d = Phi2(a, a'; rho), the bivariate normal orthant probability (evaluated by
  the Drezner-Wesolowsky/Genz integral for |rho| < 0.925 and Owen's T form otherwise), and
  psi_l = sigma_1 sigma_2 M(a, a'; rho) (truncated bivariate normal moment);
* the degenerate pairs rho = +-1 (parallel / antipodal rows) by docs/math.md's limit formulas;
* the Stein companion E[1(u > 0) relu(u') x] = sigma^2 [psi_d w' + c_delta w] (exact gradients,
  Assumption 1) and its bias coordinate E[1(u > 0) relu(u')];
* the single-unit moments P(u > 0) = Phi(a) and E[relu(u)] = sigma_1 (a Phi(a) + phi(a)).

Accuracy: relative error <= 1e-9 wherever the value exceeds 1e-12 (README.md, "Gaussian kernels"). The Owen's-T and
moment closed forms are sums of terms that cancel in the deep tails; each entry's condition number
(sum of |terms| / |value|) is computed alongside, and entries where it exceeds ``_COND_MAX`` are
recomputed by a 1-D Gauss-Legendre quadrature of the log-concave integrand
phi(z) (z + a)^p H((a' + rho z) / r) over z > -a, on panels placed at the integrand's mode, at the
kink z = -a'/rho (width r/|rho|) and at the points where it has fallen by e^-45 (found by Newton's
method), so that narrow features (rho -> +-1) and far tails are resolved. Near-parallel and
near-antipodal pairs get 1 -+ rho and r from explicit differences |u -+ v| of the unit rows, not
from the Gram matrix, so small angles keep full relative precision.

Shapes: ``w1`` is (n1, d) and ``w2`` is (n2, d), one row per node (like ``torch.nn.Linear.weight``);
biases are (n1,) / (n2,) or None; pairwise outputs are (n1, n2) float64.
Only layer 0 sees Gaussian inputs: deeper layers use :mod:`luckbench.theory.montecarlo`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erfcx, log_ndtr, ndtr, owens_t

from luckbench.datasets.samplers import check_sigma as _sigma
from luckbench.errors import InputError
from luckbench.theory.validation import as_rows, bias_values, row_norms, standardised_bias

__all__ = ["psi_d", "psi_l", "gate_relu", "gate_relu_x", "gate_mean", "relu_mean", "arccos_g"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_COND_MAX = 1e3  # closed form kept where sum|terms| / |value| <= this (error <~ 1e3 * 1e-15)
_NEAR_PARALLEL = 0.5  # |rho| above which 1 -+ rho is recomputed from explicit differences
_PAIR_CHUNK = 1 << 20  # floats per chunk when forming explicit differences
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(24)
_UNDERFLOW = 700.0  # quadrature values below exp(-700) are returned as 0
_DROP = 45.0  # quadrature range: where the log-integrand has fallen by this much (e^-45 ~ 3e-20)
_QUAD_CHUNK = 4096  # panels per chunk of the final Gauss-Legendre sum (temporaries stay in cache)


# ----------------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class _Pairs:
    """Per-pair quantities of docs/math.md sec. 1, broadcast to (n1, n2)."""

    s1: np.ndarray  # (n1, 1) sigma |w1|
    s2: np.ndarray  # (1, n2) sigma |w2|
    a1: np.ndarray  # (n1, 1) standardised biases
    a2: np.ndarray  # (1, n2)
    rho: np.ndarray  # (n1, n2) cosine
    one_m: np.ndarray  # 1 - rho, accurate near rho = 1
    one_p: np.ndarray  # 1 + rho, accurate near rho = -1
    r: np.ndarray  # sqrt(1 - rho^2) = sin theta


def _pair_diff_sq(u: np.ndarray, v: np.ndarray, i: np.ndarray, j: np.ndarray, sign: float) -> np.ndarray:
    """|u_i - sign * v_j|^2 by explicit differences, in chunks of at most _PAIR_CHUNK floats."""
    out = np.empty(i.size)
    step = max(1, _PAIR_CHUNK // u.shape[1])
    for lo in range(0, i.size, step):
        diff = u[i[lo : lo + step]] - sign * v[j[lo : lo + step]]
        out[lo : lo + step] = np.einsum("kd,kd->k", diff, diff)
    return out


def _layers(w1, w2, b1, b2) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(w1, w2, b1, b2) validated: (n1, d) and (n2, d) weights, (n1,) and (n2,) biases (None -> zeros)."""
    w1 = as_rows(w1, "w1", promote_1d=False)
    w2 = as_rows(w2, "w2", promote_1d=False)
    if w1.shape[1] != w2.shape[1]:
        raise InputError(f"w2: input dimension {w2.shape[1]} differs from w1's {w1.shape[1]}")
    return w1, w2, bias_values(b1, w1.shape[0], "b1", broadcast=False), bias_values(b2, w2.shape[0], "b2", broadcast=False)


def _pairs(w1, w2, b1, b2, sigma) -> _Pairs:
    """Validate the inputs and compute sigma_i, a_i, rho, 1 -+ rho and r for every pair."""
    w1, w2, b1, b2 = _layers(w1, w2, b1, b2)
    s = _sigma(sigma)
    n1, n2 = row_norms(w1), row_norms(w2)
    u, v = w1 / n1[:, None], w2 / n2[:, None]
    rho = np.clip(u @ v.T, -1.0, 1.0)
    one_m, one_p = 1.0 - rho, 1.0 + rho
    for sign, near, dst in ((1.0, rho > _NEAR_PARALLEL, one_m), (-1.0, rho < -_NEAR_PARALLEL, one_p)):
        i, j = np.nonzero(near)
        if i.size:
            dst[i, j] = 0.5 * _pair_diff_sq(u, v, i, j, sign)
    rho = np.where(rho > 0, 1.0 - one_m, one_p - 1.0)
    one_m, one_p = np.where(rho > 0, one_m, 2.0 - one_p), np.where(rho > 0, 2.0 - one_m, one_p)
    r = np.sqrt(one_m * one_p)
    s1, s2 = (s * n1)[:, None], (s * n2)[None, :]
    if not (np.all(np.isfinite(s1)) and np.all(np.isfinite(s2))):
        raise InputError("sigma: sigma * |w| overflows float64")
    a1, a2 = standardised_bias(b1[:, None], s1, "b1"), standardised_bias(b2[None, :], s2, "b2")
    return _Pairs(s1, s2, a1, a2, rho, one_m, one_p, r)


# ----------------------------------------------------------------------------- scalar helpers
def _phi(t):
    """Standard normal density."""
    return np.exp(-0.5 * np.square(t) - _LOG_SQRT_2PI)


def _mills(x):
    """Mills ratio m(x) = Phi(-x) / phi(x) = sqrt(pi/2) erfcx(x / sqrt(2)), accurate for x >= 0."""
    return math.sqrt(math.pi / 2.0) * erfcx(x / math.sqrt(2.0))


def _g_tail(x, m=None):
    """1 - x m(x) = G(-x) / phi(x) for x >= 0: from erfcx below 15, else the asymptotic series
    sum_k (-1)^(k+1) (2k-1)!! / x^(2k) (12 terms), which is free of the cancellation. ``m`` is
    _mills(x) where the caller has it already."""
    x = np.asarray(x, dtype=np.float64)
    mid = x < 15.0
    if m is not None and np.all(mid):
        return 1.0 - x * m
    out = np.empty_like(x)
    out[mid] = 1.0 - x[mid] * (_mills(x[mid]) if m is None else m[mid])
    with np.errstate(over="ignore", divide="ignore"):
        inv2 = 1.0 / np.square(x[~mid])
    term, acc = inv2.copy(), np.zeros_like(inv2)
    for k in range(1, 13):
        acc += term
        term = -term * (2 * k + 1) * inv2
    out[~mid] = acc
    return out


def _log_g(t):
    """log G(t), G(t) = E[(Z + t)_+] = t Phi(t) + phi(t); for t < 0, G(t) = phi(t) (1 - x m(x)), x = -t."""
    t = np.asarray(t, dtype=np.float64)
    out = np.empty_like(t)
    upper = t >= 0.0
    tu = t[upper]
    with np.errstate(over="ignore", invalid="ignore"):
        out[upper] = np.log(tu * ndtr(tu) + _phi(tu))
    x = -t[~upper]
    with np.errstate(divide="ignore", over="ignore"):
        out[~upper] = -0.5 * np.square(x) - _LOG_SQRT_2PI + np.log(_g_tail(x))
    return out


def _g(t):
    """G(t) = E[(Z + t)_+] = t Phi(t) + phi(t) (single-unit relu moment, docs/math.md sec. 4)."""
    return np.exp(_log_g(t))


def _r_g(mu, r):
    """r G(mu / r) = E[(mu + r Z)_+], with the r = 0 limit max(mu, 0)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        val = r * _g(mu / np.where(r > 0, r, 1.0))
    return np.where(r > 0, val, np.maximum(mu, 0.0))


def _interval_prob(lo, hi):
    """P(lo < Z < hi) without cancellation in either tail (0 if hi <= lo)."""
    upper = lo > 0
    p = np.where(upper, ndtr(-lo) - ndtr(-hi), ndtr(hi) - ndtr(lo))
    return np.where(hi > lo, p, 0.0)


# ----------------------------------------------------------------------------- closed forms
# Every function below takes 1-D arrays of equal length (one entry per pair): h = a, k = a',
# rho, r, one_m = 1 - rho, one_p = 1 + rho. Each closed form is evaluated with its magnitude
# sum|terms|; entries whose condition number sum|terms| / value exceeds _COND_MAX, or whose value
# is not positive, are recomputed by _quad.
# Drezner-Wesolowsky/Genz integral for |rho| < 0.925 (Genz 2004): Gauss-Legendre node counts by |rho|
# band. Genz's own 6/12/20 give ~1e-15 absolute but up to 2e-9 relative; 10/16/24 keep the relative
# error below 2e-12 over h, k in [-40, 40] (checked against 64 nodes; tests/test_kernels.py).
_GENZ_BANDS = ((0.3, 10), (0.75, 16), (0.925, 24))
_GENZ_RULES = {n: np.polynomial.legendre.leggauss(n) for _, n in _GENZ_BANDS}
_GENZ_RHO = _GENZ_BANDS[-1][0]
_BLOCK = 4096  # pairs per block in _genz_phi2


def _genz_phi2(h, k, rho):
    """Phi2 = Phi(h) Phi(k) + (1/2pi) int_0^asin(rho) exp(-(h^2 + k^2 - 2hk sin t)/(2 cos^2 t)) dt.

    Gauss-Legendre in t with the node count of rho's band; returns (value, sum|terms|). |rho| < 0.925.
    """
    half = 0.5 * np.arcsin(rho)
    hk, hs = h * k, 0.5 * (h * h + k * k)
    integral = np.empty_like(h)
    lower = 0.0
    for upper, n in _GENZ_BANDS:
        band = np.flatnonzero((np.abs(rho) >= lower) & (np.abs(rho) < upper))
        lower = upper
        nodes, weights = _GENZ_RULES[n]
        for lo in range(0, band.size, _BLOCK):  # blocks keep the (pairs, nodes) temporaries in cache
            idx = band[lo : lo + _BLOCK]
            sn = np.sin(half[idx, None] * (1.0 + nodes))
            integral[idx] = np.exp((sn * hk[idx, None] - hs[idx, None]) / (1.0 - sn * sn)) @ weights
    integral *= half / (2.0 * math.pi)
    indep = ndtr(h) * ndtr(k)
    return indep + integral, indep + np.abs(integral)


def _owen_phi2(h, k, rho, r, one_m, one_p):
    """Phi2(h, k; rho) by Owen's T (docs/math.md sec. 1); returns (value, sum|terms|). Requires r > 0.

    Phi2 = Phi(h)/2 + Phi(k)/2 - T(h, (k - rho h)/(h r)) - T(k, (h - rho k)/(k r)) - beta0;
    h = k = 0 gives 1/4 + arcsin(rho)/(2 pi).
    """
    mu_k, mu_h = _cross(h, k, rho, one_m, one_p), _cross(k, h, rho, one_m, one_p)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        th = np.where(h == 0, 0.25 * np.sign(mu_k), owens_t(h, mu_k / (h * r)))
        tk = np.where(k == 0, 0.25 * np.sign(mu_h), owens_t(k, mu_h / (k * r)))
    hk = np.sign(h) * np.sign(k)  # sign of h k, immune to underflow
    beta0 = np.where((hk > 0) | ((hk == 0) & (h + k >= 0)), 0.0, 0.5)
    val, mag = _sum_mag((0.5 * ndtr(h), 0.5 * ndtr(k), -th, -tk, -beta0))
    origin = (h == 0) & (k == 0)
    arc = np.arctan2(rho, r) / (2.0 * math.pi)
    return np.where(origin, 0.25 + arc, val), np.where(origin, 0.25 + np.abs(arc), mag)


def _cross(h, k, rho, one_m, one_p):
    """k - rho h without cancellation: (k - h) + (1 - rho) h for rho > 0, (k + h) - (1 + rho) h otherwise."""
    return np.where(rho > 0, (k - h) + one_m * h, (k + h) - one_p * h)


def _degenerate_phi2(h, k, rho):
    """Phi2 at rho = +-1 exactly: Phi(min(h, k)) or P(-h < Z < k); returns (value, value)."""
    val = np.where(rho > 0, ndtr(np.minimum(h, k)), _interval_prob(-h, k))
    return val, val


def _sum_mag(terms):
    """(sum of terms, sum of |terms|): a closed form's value and the size its rounding error scales with."""
    return sum(terms), sum(np.abs(t) for t in terms)


def _pick(up, parallel, antipodal):
    """Per entry, the rho = 1 or the rho = -1 closed form (each a tuple of terms), as (value, magnitude)."""
    (pv, pm), (av, am) = _sum_mag(parallel), _sum_mag(antipodal)
    return np.where(up, pv, av), np.where(up, pm, am)


def _ill_conditioned(val, mag):
    with np.errstate(divide="ignore", invalid="ignore"):
        return ~(mag <= _COND_MAX * val) | ~(val > 0)


def _by_regime(h, k, rho, r, one_m, one_p, forms, p, q):
    """Evaluate ``forms`` = (general(mask), degenerate(mask)) and repair ill-conditioned entries."""
    val, mag = np.empty_like(h), np.empty_like(h)
    for mask, form in zip((r > 0, r == 0), forms):
        if np.any(mask):
            val[mask], mag[mask] = form(mask)
    bad = _ill_conditioned(val, mag)
    if np.any(bad):
        mu = _cross(h[bad], k[bad], rho[bad], one_m[bad], one_p[bad])
        val[bad] = _quad(h[bad], mu, rho[bad], r[bad], p=p, q=q)
    return val


def _phi2(h, k, rho, r, one_m, one_p):
    """Phi2(h, k; rho) = P(Z1 < h, Z2 < k) = psi_d (with biases)."""

    def general(m):
        val, mag = np.empty(np.count_nonzero(m)), np.empty(np.count_nonzero(m))
        genz = np.abs(rho[m]) < _GENZ_RHO
        hm, km, rm = h[m], k[m], rho[m]
        val[genz], mag[genz] = _genz_phi2(hm[genz], km[genz], rm[genz])
        owen = ~genz
        val[owen], mag[owen] = _owen_phi2(hm[owen], km[owen], rm[owen], r[m][owen], one_m[m][owen], one_p[m][owen])
        return val, mag

    def degenerate(m):
        return _degenerate_phi2(h[m], k[m], rho[m])

    return _by_regime(h, k, rho, r, one_m, one_p, (general, degenerate), 0, 0)


def _terms(h, k, rho, r, one_m, one_p):
    """A1 = phi(h) Phi((k - rho h)/r), A2 = phi(k) Phi((h - rho k)/r), r^2 phi2(h, k; rho) (sec. 1), r > 0."""
    a1 = _phi(h) * ndtr(_cross(h, k, rho, one_m, one_p) / r)
    a2 = _phi(k) * ndtr(_cross(k, h, rho, one_m, one_p) / r)
    # (h^2 - 2 rho h k + k^2) / r^2, written without cancellation near rho = +-1
    quad_form = np.where(
        rho > 0,
        np.square(h - k) / np.square(r) + 2.0 * h * k / one_p,
        np.square(h + k) / np.square(r) - 2.0 * h * k / one_m,
    )
    return a1, a2, r * np.exp(-0.5 * quad_form) / (2.0 * math.pi)


def _antipodal(h, k):
    """P = P(lo < Z < hi), E1 = phi(lo) - phi(hi), lo phi(lo), hi phi(hi) for lo = -h, hi = k (rho = -1)."""
    lo, hi = -h, k
    inside = hi > lo
    prob = _interval_prob(lo, hi)
    e1 = np.where(inside, _phi(lo) - _phi(hi), 0.0)
    return prob, e1, np.where(inside, lo * _phi(lo), 0.0), np.where(inside, hi * _phi(hi), 0.0)


def _moment(h, k, rho, r, one_m, one_p, phi2):
    """M(h, k; rho) = E[(Z1 + h)_+ (Z2 + k)_+] = psi_l / (sigma_1 sigma_2), docs/math.md sec. 1.

    M = (h k + rho) Phi2 + k A1 + h A2 + r^2 phi2; at rho = 1: (1 + h k) Phi(mu) + (h + k - mu) phi(mu)
    with mu = min(h, k); at rho = -1: h k P + (k - h) E1 - E2 with E2 = P + lo phi(lo) - hi phi(hi).
    """

    def general(m):
        hm, km, rm = h[m], k[m], rho[m]
        a1, a2, r2phi2 = _terms(hm, km, rm, r[m], one_m[m], one_p[m])
        return _sum_mag(((hm * km + rm) * phi2[m], km * a1, hm * a2, r2phi2))

    def degenerate(m):
        hm, km = h[m], k[m]
        mu = np.minimum(hm, km)
        prob, e1, lphi, hphi = _antipodal(hm, km)
        return _pick(
            rho[m] > 0,
            ((1.0 + hm * km) * ndtr(mu), (hm + km - mu) * _phi(mu)),
            (hm * km * prob, (km - hm) * e1, -prob, -lphi, hphi),
        )

    return _by_regime(h, k, rho, r, one_m, one_p, (general, degenerate), 1, 1)


def _gate_relu_std(h, k, rho, r, one_m, one_p, phi2):
    """N(h, k; rho) = E[1(Z1 > -h) (Z2 + k)_+] = k Phi2 + A2 + rho A1 (sec. 1, Stein bias part).

    Degenerate: rho = 1 gives k Phi(mu) + phi(mu), mu = min(h, k); rho = -1 gives k P - E1.
    """

    def general(m):
        hm, km, rm = h[m], k[m], rho[m]
        a1, a2, _ = _terms(hm, km, rm, r[m], one_m[m], one_p[m])
        return _sum_mag((km * phi2[m], a2, rm * a1))

    def degenerate(m):
        hm, km = h[m], k[m]
        mu = np.minimum(hm, km)
        prob, e1, _, _ = _antipodal(hm, km)
        return _pick(rho[m] > 0, (km * ndtr(mu), _phi(mu)), (km * prob, -e1))

    return _by_regime(h, k, rho, r, one_m, one_p, (general, degenerate), 0, 1)


# ----------------------------------------------------------------------------- tail quadrature
# All entries that need the quadrature are integrated together: the mode search and the drop-point
# Newton iterations are array operations over the entries still being refined, and the final
# Gauss-Legendre sum runs over the panels of nonzero width only (about 2 of the 9 per entry).
def _log_inner(num, r, q, order):
    """log H_q and its first ``order`` (0-2) num-derivatives; H_0 = Phi(num / r), H_1 = r G(num / r)
    (r = 0: the step 1(num > 0) and num_+).

    One Mills ratio m = m(|s|), s = num / r, serves both tails: for s < 0, Phi(s) = phi(s) m and
    G(s) = phi(s) (1 - |s| m); for s >= 0, Phi(s) = 1 - phi(s) m and G(s) = s + phi(s) (1 - s m),
    sums of positive terms. The log-derivatives (phi/Phi, Phi/G and theirs) are written in m and
    1 - |s| m, where differences of logarithms would cancel.
    """
    pos = r > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rs = np.where(pos, r, 1.0)
        s = num / rs
        x = np.abs(s)
        m = _mills(x)
        gt = _g_tail(x, m)  # 1 - |s| m
        lower = s < 0
        log_phi = -0.5 * x * x - _LOG_SQRT_2PI
        phi = np.exp(log_phi)
        if q == 0:  # Phi(s) = phi m (s < 0), 1 - phi m (s >= 0)
            cdf = 1.0 - phi * m
            out = [np.log(np.where(lower, m, cdf)) + np.where(lower, log_phi, 0.0)]
            if order >= 1:
                ratio = np.where(lower, 1.0 / m, phi / cdf)  # phi / Phi
                out.append(ratio / rs)
            if order >= 2:  # (log Phi)'' = -ratio (ratio + s)
                out.append(-ratio * np.where(lower, gt / m, ratio + s) / (rs * rs))
        else:  # G(s) = phi gt (s < 0), s + phi gt (s >= 0)
            g_up = s + phi * gt
            out = [np.log(rs * np.where(lower, gt, g_up)) + np.where(lower, log_phi, 0.0)]
            if order >= 1:
                ratio = np.where(lower, m / gt, (1.0 - phi * m) / g_up)  # Phi / G
                out.append(ratio / rs)
            if order >= 2:  # (log G)'' = phi / G - (Phi / G)^2
                out.append(np.where(lower, (gt - m * m) / (gt * gt), phi / g_up - ratio * ratio) / (rs * rs))
        if np.all(pos):
            return out
        if q == 0:  # r = 0: the step 1(num > 0) and num_+
            step = (np.where(num > 0, 0.0, -np.inf), 0.0, 0.0)
        else:
            step = (np.log(np.maximum(num, 0.0)), 1.0 / num, -1.0 / (num * num))
    return [np.where(pos, v, sv) for v, sv in zip(out, step)]


def _log_integrand(y, h, mu, rho, r, p, q, order=0):
    """log of phi(y - h) y^p H_q(mu + rho y) and its first ``order`` y-derivatives (log-concave in y > 0)."""
    inner = _log_inner(mu + rho * y, r, q, order)
    out = [-0.5 * np.square(y - h) - _LOG_SQRT_2PI + inner[0]]
    if order >= 1:
        out.append(h - y + rho * inner[1])
    if order >= 2:
        out.append(-1.0 + np.square(rho) * inner[2])
    if p:
        with np.errstate(divide="ignore", invalid="ignore"):
            out[0] = out[0] + np.log(np.maximum(y, 0.0))
            if order >= 1:
                out[1] = out[1] + 1.0 / y
            if order >= 2:
                out[2] = out[2] - 1.0 / np.square(y)
    return out


def _mode(log_f, lo, hi, h):
    """Maximiser of the concave log-integrand on [lo, hi]: bracket, then Newton steps safeguarded by
    bisection, each entry until its own step is below 1e-13 relative."""
    every = np.arange(lo.size)
    top = np.where(np.isfinite(hi), hi, np.maximum(lo, h) + 1.0)
    grow = np.flatnonzero(np.isinf(hi))
    for _ in range(80):  # double the bracket until f' < 0 at its top
        grow = grow[log_f(top[grow], grow, 1)[1] > 0]
        if not grow.size:
            break
        top[grow] = lo[grow] + 2.0 * (top[grow] - lo[grow])
    f_lo, d_lo = log_f(lo, every, 1)
    f_top, d_top = log_f(top, every, 1)
    at_lo = (d_lo <= 0) & np.isfinite(f_lo)
    at_top = ~at_lo & np.isfinite(hi) & (d_top >= 0) & np.isfinite(f_top)
    mode = np.where(at_lo, lo, top)
    act = np.flatnonzero(~(at_lo | at_top))
    a, b = lo[act], top[act]
    y = 0.5 * (a + b)
    for _ in range(200):
        if not act.size:
            break
        _, d1, d2 = log_f(y, act, 2)
        up = d1 > 0
        a, b = np.where(up, y, a), np.where(up, b, y)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = y - d1 / np.minimum(d2, -1.0)  # curvature >= 1
        y_new = np.where((newton > a) & (newton < b), newton, 0.5 * (a + b))
        scale = np.maximum(1.0, np.abs(y_new))
        done = (np.abs(y_new - y) <= 1e-13 * scale) | (b - a <= 1e-15 * scale) | (d1 == 0)
        mode[act[done]] = y_new[done]
        keep = ~done
        act, a, b, y = act[keep], a[keep], b[keep], y_new[keep]
    mode[act] = y
    return mode


def _drop_point(log_f, mode, fmax, start, bound, towards):
    """Where the log-integrand has fallen to fmax - _DROP beyond the mode on the side ``towards``:
    Newton from the far side (monotone for concave f), per entry until within 0.5 of the level; the
    domain bound itself where the integrand has not fallen that far by then, not counting the
    factor y^p (Gauss-Legendre integrates it exactly; its log is -inf at y = 0)."""
    y = np.where(towards > 0, np.minimum(start, bound), np.maximum(start, bound))
    every = np.arange(y.size)
    at_bound = (y == bound) & (log_f(y, every, 0, power=False)[0] >= fmax - _DROP)
    out = y.copy()
    act = np.flatnonzero(~at_bound)
    y = y[act]
    for _ in range(60):
        if not act.size:
            break
        f, df = log_f(y, act, 1)
        gap = f - fmax[act] + _DROP
        with np.errstate(divide="ignore", invalid="ignore"):
            step = gap / df
        y_new = np.where(np.isfinite(f) & np.isfinite(step), y - step, 0.5 * (y + mode[act]))
        lo, hi = (mode[act], bound[act]) if towards > 0 else (bound[act], mode[act])
        y_new = np.clip(y_new, lo, hi)
        with np.errstate(invalid="ignore"):
            settled = (np.abs(gap) < 0.5) | (y_new == y)
        out[act[settled]] = y[settled]
        act, y = act[~settled], y_new[~settled]
    out[act] = y
    return out


def _panel_sums(log_f, pts, fmax):
    """sum over panels [pts[i], pts[i+1]] of the Gauss-Legendre sums of exp(f - fmax), per entry;
    panels of zero width are skipped, the others summed in chunks of _QUAD_CHUNK panels."""
    half = 0.5 * (pts[1:] - pts[:-1])  # (n_pan, P)
    ent, pan = np.nonzero(~(half.T <= 0))  # NaN widths are kept so that they propagate
    centre = 0.5 * (pts[1:] + pts[:-1])[pan, ent]
    width = half[pan, ent]
    total = np.zeros(fmax.size)
    for lo in range(0, ent.size, _QUAD_CHUNK):
        idx, c, hw = ent[lo : lo + _QUAD_CHUNK], centre[lo : lo + _QUAD_CHUNK], width[lo : lo + _QUAD_CHUNK]
        f = log_f(c[:, None] + hw[:, None] * _GL_NODES, idx[:, None], 0)[0]
        with np.errstate(invalid="ignore", over="ignore"):
            vals = np.where(np.isfinite(f), np.exp(np.minimum(f - fmax[idx, None], 50.0)), 0.0)
        total += np.bincount(idx, weights=hw * (vals @ _GL_WEIGHTS), minlength=fmax.size)
    return total


def _domain(mu, rho, r):
    """(cut, lo, hi, empty): the kink y = -mu/rho and the integration domain y in (lo, hi) -- y > 0,
    intersected at r = 0 with mu + rho y > 0 -- with hi = lo + 1 where it is empty."""
    deg = r == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        cut = -mu / rho
    lo = np.where(deg & (rho > 0), np.maximum(0.0, cut), 0.0)
    hi = np.where(deg & (rho < 0), cut, np.inf)
    empty = ~(hi > lo)
    return cut, lo, np.where(empty, lo + 1.0, hi), empty


def _panel_points(left, right, mode, cut, rho, r):
    """Sorted panel ends (n_pts, P) in [left, right]: the mode, the kink and kink +- 1, 4, 16 times
    its width r/|rho|, so that narrow features (rho -> +-1) get panels of their own size."""
    with np.errstate(divide="ignore", invalid="ignore"):
        kink = np.where(rho != 0, cut, left)
        kw = np.where(rho != 0, r / np.abs(rho), 0.0)
    pts = [left, right, mode, kink]
    for c in (1.0, 4.0, 16.0):
        pts += [kink - c * kw, kink + c * kw]
    return np.sort(np.clip(np.stack(pts), left, right), axis=0)


def _quad(h, mu, rho, r, p, q):
    """int_0^oo phi(y - h) y^p H_q(mu + rho y) dy by panelled Gauss-Legendre (1-D arrays).

    With y = z + h and mu = k - rho h this is int_{z > -h} phi(z) (z + h)^p H_q(k + rho z) dz:
    p = 0, q = 0: Phi2(h, k; rho); p = 1, q = 1: M; p = 0, q = 1: N. Measuring y from the lower
    limit keeps mu + rho y exact where the kink y = -mu/rho sits next to it. The integrand is
    log-concave with curvature >= 1, so it lives within sqrt(2 _DROP) of its mode; the domain is
    y > 0, intersected at r = 0 with mu + rho y > 0.
    """
    cut, lo, hi, empty = _domain(mu, rho, r)

    def log_f(y, idx, order, power=True):
        return _log_integrand(y, h[idx], mu[idx], rho[idx], r[idx], p if power else 0, q, order)

    mode = _mode(log_f, lo, hi, h)
    fmax = log_f(mode, np.arange(h.size), 0)[0]
    width = math.sqrt(2.0 * _DROP)
    right = _drop_point(log_f, mode, fmax, mode + width, hi, 1)
    left = _drop_point(log_f, mode, fmax, mode - width, lo, -1)
    total = _panel_sums(log_f, _panel_points(left, right, mode, cut, rho, r), fmax)
    # below exp(-_UNDERFLOW) the value is < 1e-300 (and the log-integrand too coarse to integrate)
    return np.where(empty | ~(fmax > -_UNDERFLOW), 0.0, np.exp(fmax) * total)


# ----------------------------------------------------------------------------- public API
def _zero_bias(b1, b2) -> bool:
    """Both biases None selects the arc-cosine forms; a single None means zero biases for that layer."""
    return b1 is None and b2 is None


def _angles(pp: _Pairs):
    """theta and pi - theta from half-angle norms, accurate at both ends."""
    sm, sp = np.sqrt(pp.one_m), np.sqrt(pp.one_p)
    return 2.0 * np.arctan2(sm, sp), 2.0 * np.arctan2(sp, sm)


def arccos_g(theta, comp=None):
    """g(theta) = sin theta + (pi - theta) cos theta, the degree-1 arc-cosine kernel (docs/math.md sec. 1).

    ``comp`` = pi - theta when the caller has it more accurately than by subtraction; near pi the
    cancelling sum is replaced by its series sum_k 2k (-1)^(k+1) e^(2k+1) / (2k+1)!, e = pi - theta.
    """
    theta = np.asarray(theta, dtype=np.float64)
    comp = np.pi - theta if comp is None else np.asarray(comp, dtype=np.float64)
    direct = np.sin(theta) + comp * np.cos(theta)
    e = np.minimum(comp, 0.5)
    series, term = np.zeros_like(e), e.copy()
    for k in range(1, 12):
        term = term * e * e / ((2 * k) * (2 * k + 1))  # e^(2k+1)/(2k+1)!
        series += (-1) ** (k + 1) * 2 * k * term
    return np.where(comp < 0.5, series, direct)


def _with_bias(pp: _Pairs):
    """psi_d = Phi2 and the flat per-pair arguments (h, k, rho, r, 1 - rho, 1 + rho) for the other forms."""
    shape = pp.rho.shape
    args = tuple(np.broadcast_to(x, shape).ravel() for x in (pp.a1, pp.a2, pp.rho, pp.r, pp.one_m, pp.one_p))
    return _phi2(*args), args


def psi_d(w1, w2, b1=None, b2=None, sigma=1.0) -> np.ndarray:
    """psi_d(w, w') = E[1(w.x + b > 0) 1(w'.x + b' > 0)], x ~ N(0, sigma^2 I)  (paper Eq. 7).

    Zero bias (b1 = b2 = None): (pi - theta) / (2 pi). With biases: Phi2(a, a'; rho) (docs/math.md
    sec. 1). Returns (n1, n2) float64.
    """
    return _psi_d(_pairs(w1, w2, b1, b2, sigma), _zero_bias(b1, b2))


def _psi_d(pp: _Pairs, zero_bias: bool) -> np.ndarray:
    if zero_bias:
        return _angles(pp)[1] / (2.0 * math.pi)
    return _with_bias(pp)[0].reshape(pp.rho.shape)


def psi_l(w1, w2, b1=None, b2=None, sigma=1.0) -> np.ndarray:
    """psi_l(w, w') = E[relu(w.x + b) relu(w'.x + b')], x ~ N(0, sigma^2 I)  (paper Eq. 7).

    Zero bias: sigma^2 |w||w'| g(theta) / (2 pi), g = sin + (pi - theta) cos. With biases:
    sigma_1 sigma_2 M(a, a'; rho) (docs/math.md sec. 1). (n1, n2).
    """
    return _psi_l(_pairs(w1, w2, b1, b2, sigma), _zero_bias(b1, b2))


def _psi_l(pp: _Pairs, zero_bias: bool) -> np.ndarray:
    if zero_bias:
        theta, comp = _angles(pp)
        return pp.s1 * pp.s2 * arccos_g(theta, comp) / (2.0 * math.pi)
    phi2, args = _with_bias(pp)
    return pp.s1 * pp.s2 * _moment(*args, phi2).reshape(pp.rho.shape)


def gate_relu(w1, w2, b1=None, b2=None, sigma=1.0) -> np.ndarray:
    """E[1(u1 > 0) relu(u2)] = sigma_2 (a' Phi2 + A2 + rho A1): bias coordinate of the Stein companion.

    (n1, n2); docs/math.md sec. 1.
    """
    pp = _pairs(w1, w2, b1, b2, sigma)
    phi2, args = _with_bias(pp)
    return pp.s2 * _gate_relu_std(*args, phi2).reshape(pp.rho.shape)


def gate_relu_x(w1, w2, b1=None, b2=None, sigma=1.0) -> np.ndarray:
    """Stein companion E[1(u1 > 0) relu(u2) x] = sigma^2 [psi_d w2 + c_delta w1], shape (n1, n2, d).

    c_delta = E[delta(u1) relu(u2)] = (phi(a)/sigma_1) sigma_2 r G((a' - rho a)/r), G(t) = t Phi(t)
    + phi(t) (docs/math.md sec. 1; Stein's lemma E[x F(x)] = sigma^2 E[grad F]).
    """
    pp = _pairs(w1, w2, b1, b2, sigma)
    w1a, w2a = np.asarray(w1, dtype=np.float64), np.asarray(w2, dtype=np.float64)
    d = _psi_d(pp, _zero_bias(b1, b2))
    c_delta = _phi(pp.a1) / pp.s1 * pp.s2 * _r_g(_cross(pp.a1, pp.a2, pp.rho, pp.one_m, pp.one_p), pp.r)
    s2 = _sigma(sigma) ** 2
    return s2 * (d[:, :, None] * w2a[None, :, :] + c_delta[:, :, None] * w1a[:, None, :])


def _single(w, b, sigma):
    w = as_rows(w, "w", promote_1d=False)
    b = bias_values(b, w.shape[0], "b", broadcast=False)
    s1 = _sigma(sigma) * row_norms(w)
    return s1, standardised_bias(b, s1, "b")


def gate_mean(w, b=None, sigma=1.0) -> np.ndarray:
    """P(w.x + b > 0) = Phi(a), a = b / (sigma |w|); shape (n,)."""
    return ndtr(_single(w, b, sigma)[1])


def relu_mean(w, b=None, sigma=1.0) -> np.ndarray:
    """E[relu(w.x + b)] = sigma |w| (a Phi(a) + phi(a)); shape (n,) (docs/math.md sec. 4, L_{j,0})."""
    s1, a = _single(w, b, sigma)
    return s1 * _g(a)
