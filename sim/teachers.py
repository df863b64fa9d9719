"""Teachers and initial students for the sim layer, in whitened augmented coordinates.

Row convention: a weight matrix is (nodes, D), one row per node (like ``torch.nn.Linear.weight``);
docs/math.md uses columns, so every matrix here is the transpose of docs/math.md's. A row is
w~ = [s*w; b] (D = d + 1) when the model has a bias coordinate, or s*w (D = d) without one, so that
w~ . x~ = w . x + b with x~ = [x/s; 1] and E[x~ x~^T] = I (docs/math.md sec 0).

Teacher schemes (``SCHEMES``), all rows normalised to 1 in augmented coordinates:

* ``orthogonal``: random orthonormal omega (needs m <= d); every teacher gets the same
  standardised bias a = ``bias`` (w~ = [omega; a] / sqrt(1 + a^2)).
* ``paper``: entries from {+-0.5, +-0.25, 0}, rows non-zero and distinct (needs m <= 5^d - 1),
  b ~ U[-|bias|, |bias|], input std s = 10 (the paper's GAUS teacher, Sec. 5.1).
* ``code``: the same entries, fixed bias ``bias`` and s = 1 (the authors' Thm-5 teacher, v4 Sec. 4.2).
* ``random``: Gaussian rows, fixed bias ``bias``.
"""
from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from luckbench.errors import InputError
from luckbench.theory.geometry import normalize_rows
from luckbench.theory.teacher_scheme import distinct_rows, max_distinct_rows

Scheme = Literal["orthogonal", "paper", "code", "random"]  # the one list; flags take their choices from it
SCHEMES = get_args(Scheme)


def normalize_cols(a: np.ndarray) -> np.ndarray:
    """a / ||a_:,c|| column-wise (columns on the second-to-last axis; leading axes batch)."""
    return a / np.linalg.norm(a, axis=-2, keepdims=True)


def max_teachers(scheme: str, dim: int) -> int:
    """Largest m the scheme can draw in input dimension ``dim``."""
    if scheme == "orthogonal":
        return dim
    if scheme in ("paper", "code"):
        return max_distinct_rows(dim)
    if scheme == "random":
        return 10 ** 9
    raise InputError(f"--scheme: expected one of {', '.join(SCHEMES)}, got {scheme!r}")


def teacher(scheme: str, m: int, dim: int, bias: float | None, rng: np.random.Generator) -> np.ndarray:
    """Unit teacher rows (m, D): D = dim + 1 with a bias coordinate, D = dim when ``bias`` is None."""
    if m < 1:
        raise InputError(f"--teachers: need at least 1 teacher, got {m}")
    if dim < 1:
        raise InputError(f"--dim: need a positive input dimension, got {dim}")
    if m > max_teachers(scheme, dim):
        raise InputError(f"--teachers: scheme {scheme!r} allows at most {max_teachers(scheme, dim)} "
                         f"teachers in dimension {dim}, got {m}")
    if bias is not None and not np.isfinite(bias):
        raise InputError(f"--bias: must be finite, got {bias}")
    if scheme == "orthogonal":
        omega = np.linalg.qr(rng.standard_normal((dim, m)))[0].T
        b = np.full(m, 0.0 if bias is None else bias)
    elif scheme == "random":
        omega = normalize_rows(rng.standard_normal((m, dim)))
        b = np.full(m, 0.0 if bias is None else bias)
    else:
        s = 10.0 if scheme == "paper" else 1.0
        omega = s * distinct_rows(rng, m, dim, what="--teachers")
        if bias is None:
            b = np.zeros(m)
        elif scheme == "paper":
            b = rng.uniform(-abs(bias), abs(bias), size=m)
        else:
            b = np.full(m, bias)
    rows = omega if bias is None else np.concatenate([omega, b[:, None]], axis=1)
    return normalize_rows(rows)


def students_at_angle(w_star: np.ndarray, theta0: float, rng: np.random.Generator) -> np.ndarray:
    """Unit rows w_j = cos(theta0) w*_j + sin(theta0) q_j with q_j a random unit vector orthogonal to w*_j."""
    q = rng.standard_normal(w_star.shape)
    q -= np.sum(q * w_star, axis=1, keepdims=True) * w_star
    q = normalize_rows(q)
    return np.cos(theta0) * w_star + np.sin(theta0) * q


def top_teacher(m: int, classes: int, top_bias: float | None, rng: np.random.Generator) -> np.ndarray:
    """V* (m [+1], C): separated entries (C x m in the paper's layout, transposed here), a bias row
    ``top_bias`` when given, columns normalised (the authors' teacher.normalize())."""
    v = distinct_rows(rng, classes, m, what="--teacher").T
    if top_bias is not None:
        v = np.concatenate([v, np.full((1, classes), top_bias)], axis=0)
    return normalize_cols(v)


def perturbed_students(w_star: np.ndarray, v_star: np.ndarray, n: int, alpha_w: float, alpha_v: float,
                       top_bias: bool, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """v4 Sec. 4.2 initialisation: W0 = rownorm(N_W + alpha_W [W*; 0]), V0 = colnorm(N_V + alpha_V [V*_u; 0; v*_bias]).

    N_W (n, D) has unit Gaussian rows and N_V (n [+1], C) unit Gaussian columns; the first m nodes
    are the u-set, the rest (the r-set) start as pure noise.
    """
    m, dim = w_star.shape
    if n < m:
        raise InputError(f"--node-multi: the student needs at least the teacher's {m} nodes, got {n}")
    noise_w = normalize_rows(rng.standard_normal((n, dim)))
    w0 = noise_w.copy()
    w0[:m] += alpha_w * w_star
    rows_v = n + 1 if top_bias else n
    noise_v = normalize_cols(rng.standard_normal((rows_v, v_star.shape[1])))
    v0 = noise_v.copy()
    v0[:m] += alpha_v * v_star[:m]
    if top_bias:
        v0[-1] += alpha_v * v_star[-1]
    return normalize_rows(w0), normalize_cols(v0)
