"""The tail quadrature of theory/kernels.py as it was before the deep-tail batching (commit cabda6f).

Kept here (outside `make bench`'s glob) only as the timing reference of benchmarks/kernels.py
--deep-tails: it evaluated all nine panels of every entry (most of zero width), bisected every
mode to 1e-15 in lockstep and ran its drop-point Newton iterations until every entry had
settled. Not used by the library.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import log_ndtr, ndtr

from luckbench.theory.kernels import (_DROP, _GL_NODES, _GL_WEIGHTS, _LOG_SQRT_2PI, _UNDERFLOW, _domain, _g_tail,
                                      _log_g, _mills, _panel_points, _phi)


def _log_inner(num, r, q):
    """log H_q and d log H_q / d num, H_0 = Phi(num / r), H_1 = r G(num / r) (r = 0: step, num_+).

    The log-derivatives phi/Phi and Phi/G use the Mills ratio for t < 0, where the difference of
    the two logarithms would cancel.
    """
    pos = r > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rs = np.where(pos, r, 1.0)
        t = num / rs
        x = np.maximum(-t, 0.0)
        if q == 0:
            logh = log_ndtr(t)
            ratio = np.where(t < 0, 1.0 / _mills(x), np.exp(-0.5 * t * t - _LOG_SQRT_2PI - logh))
            step_log, step_d = np.where(num > 0, 0.0, -np.inf), np.zeros_like(num)
        else:
            logh = np.log(rs) + _log_g(t)
            ratio = np.where(t < 0, _mills(x) / _g_tail(x), ndtr(t) / (t * ndtr(t) + _phi(t)))
            step_log, step_d = np.log(np.maximum(num, 0.0)), 1.0 / num
    return np.where(pos, logh, step_log), np.where(pos, ratio / rs, step_d)


def _log_integrand(y, h, mu, rho, r, p, q):
    """log of phi(y - h) y^p H_q(mu + rho y) and its y-derivative (log-concave in y > 0)."""
    logh, dlog = _log_inner(mu + rho * y, r, q)
    f = -0.5 * np.square(y - h) - _LOG_SQRT_2PI + logh
    df = h - y + rho * dlog
    if p:
        with np.errstate(divide="ignore", invalid="ignore"):
            f = f + np.log(np.maximum(y, 0.0))
            df = df + 1.0 / y
    return f, df


def _quad(h, mu, rho, r, p, q):
    """The previous kernels._quad (same integral, same domain and panel ends)."""
    cut, lo, hi, empty = _domain(mu, rho, r)

    def log_f(y):
        return _log_integrand(y, h, mu, rho, r, p, q)

    # bracket and bisect the mode (f' is decreasing)
    top = np.where(np.isfinite(hi), hi, np.maximum(lo, h) + 1.0)
    for _ in range(80):
        grow = np.isinf(hi) & (log_f(top)[1] > 0)
        if not np.any(grow):
            break
        top = np.where(grow, lo + 2.0 * (top - lo), top)
    a, b = lo.copy(), top
    for _ in range(200):
        mid = 0.5 * (a + b)
        up = log_f(mid)[1] > 0
        a, b = np.where(up, mid, a), np.where(up, b, mid)
        if np.all(b - a <= 1e-15 * np.maximum(1.0, np.abs(a))):
            break
    mode = 0.5 * (a + b)
    fmax = log_f(mode)[0]
    width = math.sqrt(2.0 * _DROP)

    def drop_point(start, bound, towards):
        """Newton on f(y) = fmax - _DROP from the far side (monotone for concave f); the domain
        bound itself where the integrand has not fallen that far by then."""
        y = np.where(towards > 0, np.minimum(start, bound), np.maximum(start, bound))
        keep = (y == bound) & (log_f(y)[0] >= fmax - _DROP)
        for _ in range(60):
            f, df = log_f(y)
            with np.errstate(divide="ignore", invalid="ignore"):
                step = (f - fmax + _DROP) / df
            y_new = np.where(np.isfinite(f) & np.isfinite(step), y - step, 0.5 * (y + mode))
            y_new = np.where(towards > 0, np.clip(y_new, mode, bound), np.clip(y_new, bound, mode))
            with np.errstate(invalid="ignore"):
                settled = (np.abs(f - fmax + _DROP) < 0.5) | (y_new == y)
            if np.all(settled):
                break
            y = y_new
        return np.where(keep, bound, y)

    right = drop_point(mode + width, hi, 1)
    left = drop_point(mode - width, lo, -1)
    pts = _panel_points(left, right, mode, cut, rho, r)  # (n_pts, P)
    a_pan, b_pan = pts[:-1], pts[1:]  # (n_pan, P)
    half = 0.5 * (b_pan - a_pan)
    y = 0.5 * (a_pan + b_pan)[..., None] + half[..., None] * _GL_NODES  # (n_pan, P, n_gl)
    f = _log_integrand(y, h[:, None], mu[:, None], rho[:, None], r[:, None], p, q)[0]
    with np.errstate(invalid="ignore", over="ignore"):
        vals = np.where(np.isfinite(f), np.exp(np.minimum(f - fmax[:, None], 50.0)), 0.0)
    total = np.sum(half * (vals @ _GL_WEIGHTS), axis=0)
    # below exp(-_UNDERFLOW) the value is < 1e-300 (and the log-integrand too coarse to integrate)
    return np.where(empty | ~(fmax > -_UNDERFLOW), 0.0, np.exp(fmax) * total)
