"""Quantities logged along a trajectory (docs/math.md sec 4, "Diagnostics to log"). Rows are nodes.

* angles theta_j = angle(w_j, w*_j) (radians; sin theta_j = ||P_perp(w*_j) w_j|| for unit rows);
* row norms ||v_j|| of the fan-out matrix (bias row excluded) and the u-set error ||v_j - v*_j||;
* the r-set drift ||w_j^t - w_j^0||;
* cancelling pairs: r-nodes a, b with cos(w_a, w_b) ~ 1 and v_a + v_b ~ 0 (both non-negligible),
  the stationary configuration in which V_r -> 0 fails (docs/math.md sec 4);
* the population loss J = 1/2 E||y - y*||^2 and the paper's normalised correlation rho-bar.
"""
from __future__ import annotations

import numpy as np

from luckbench.sim.dynamics import extended_gram


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n1, n2) cosines between the rows of a and b."""
    a_hat = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b_hat = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return a_hat @ b_hat.T


def paired_angles(w: np.ndarray, w_star: np.ndarray) -> np.ndarray:
    """theta_j = angle(w_j, w*_j) for j < len(w_star), radians, as 2 atan2(|w^ - w*^|, |w^ + w*^|)
    (accurate at small angles, where arccos of the cosine loses half the digits)."""
    a = w[: len(w_star)]
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = w_star / np.linalg.norm(w_star, axis=1, keepdims=True)
    return 2.0 * np.arctan2(np.linalg.norm(a - b, axis=1), np.linalg.norm(a + b, axis=1))


def cancelling_pairs(w: np.ndarray, v: np.ndarray, nodes, *, cos_tol: float = 1e-4, ratio_tol: float = 0.05,
                     norm_floor: float = 1e-4) -> list[tuple[int, int]]:
    """Pairs (a, b) of ``nodes`` with cos(w_a, w_b) >= 1 - cos_tol, ||v_a + v_b|| <= ratio_tol (||v_a|| + ||v_b||)
    and min(||v_a||, ||v_b||) >= norm_floor: two merged students whose fan-outs cancel."""
    nodes = np.asarray(list(nodes), dtype=int)
    if len(nodes) < 2:
        return []
    vr = v[nodes]
    gram = vr @ vr.T
    vn = np.sqrt(np.maximum(np.diag(gram), 0.0))
    sum_norm = np.sqrt(np.maximum(vn[:, None] ** 2 + vn[None, :] ** 2 + 2 * gram, 0.0))
    hit = ((cosines(w[nodes], w[nodes]) >= 1 - cos_tol)
           & (np.minimum(vn[:, None], vn[None, :]) >= norm_floor)
           & (sum_norm <= ratio_tol * (vn[:, None] + vn[None, :])))
    i, j = np.nonzero(np.triu(hit, k=1))
    return [(int(nodes[a]), int(nodes[b])) for a, b in zip(i, j)]


def population_loss(kernel, w: np.ndarray, v: np.ndarray, w_star: np.ndarray, v_star: np.ndarray,
                    top_bias: bool) -> float:
    """J = 1/2 [tr(V^T L V) - 2 tr(V^T L* V*) + tr(V*^T L** V*)] (bias unit appended when ``top_bias``)."""
    mom = kernel.moments(w, w_star)
    teach = kernel.moments(w_star, w_star)
    lw, lws, lss = mom.l, mom.l_star, teach.l
    if top_bias:
        lw = extended_gram(mom.l, mom.mean, mom.mean)
        lws = extended_gram(mom.l_star, mom.mean, mom.mean_star)
        lss = extended_gram(teach.l, teach.mean, teach.mean)
    return 0.5 * float(np.sum(v * (lw @ v)) - 2 * np.sum(v * (lws @ v_star)) + np.sum(v_star * (lss @ v_star)))


def rho_bar(kernel, w: np.ndarray, w_star: np.ndarray) -> float:
    """Paper Sec. 5.1: mean over teachers of max over students of corr(relu(u_j), relu(u*_k)), exact under ``kernel``."""
    mom = kernel.moments(w, w_star)
    teach = kernel.moments(w_star, w_star, activations=True)
    var = np.diag(mom.l) - mom.mean ** 2
    var_star = np.diag(teach.l) - teach.mean ** 2
    cov = mom.l_star - np.outer(mom.mean, mom.mean_star)
    corr = cov / np.sqrt(np.outer(np.maximum(var, 1e-300), np.maximum(var_star, 1e-300)))
    return float(np.mean(np.max(corr, axis=0)))
