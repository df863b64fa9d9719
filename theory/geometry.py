"""Geometry of weight rows in whitened augmented coordinates (docs/math.md sec. 0).

A weight row w~ = [s*w; b] (or s*w without a bias coordinate) satisfies w~ . x~ = w . x + b for
x~ = [x/s; 1], and E[x~ x~^T] = I for x ~ N(0, s^2 I). Rows are nodes (like
``torch.nn.Linear.weight``). This module holds the row operations the theory and sim layers share:
normalisation, the tangent projection P_W, caps around centres and the paper's teacher rows.
"""
from __future__ import annotations

import math

import numpy as np

from luckbench.datasets.samplers import check_sigma
from luckbench.errors import InputError
from luckbench.theory.teacher_scheme import distinct_rows
from luckbench.theory.validation import as_rows, bias_values

SIGMA_PAPER = 10.0  # the paper's input std (data_std 10)


def normalize_rows(a: np.ndarray) -> np.ndarray:
    """a / ||a_j|| row-wise, unchecked (for hot loops on states already known to be valid); rows on the
    last axis, any leading axes are batch axes (the seeds of ``luckbench.sim.batched``)."""
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def unit_rows(w, what: str = "w_star") -> np.ndarray:
    """Rows scaled to unit norm, after :func:`~luckbench.theory.validation.as_rows` validation."""
    return normalize_rows(as_rows(w, what))


def project_rows(g: np.ndarray, w: np.ndarray) -> np.ndarray:
    """P_W(G) row-wise (docs/math.md sec. 0): g_j - (g_j . w_j) w_j / |w_j|^2, the part of g_j
    tangent to the sphere through w_j. Rows with w_j = 0 are returned unchanged. Rows on the last
    axis; leading axes are batch axes (the seeds of ``luckbench.sim.batched``)."""
    sq = np.einsum("...k,...k->...", w, w)
    coef = np.einsum("...k,...k->...", g, w) / np.where(sq > 0, sq, 1.0)
    return g - coef[..., None] * w


def augment(w, b=None, *, sigma: float = 1.0) -> np.ndarray:
    """Whitened augmented rows w~ = [sigma*w, b] (docs/math.md sec. 0); ``b=None`` gives sigma*w."""
    a = as_rows(w, "w")
    sigma = check_sigma(sigma)
    if b is None:
        return sigma * a
    return np.concatenate([sigma * a, bias_values(b, a.shape[0], "b")[:, None]], axis=1)


def pair_angles(c: np.ndarray) -> np.ndarray:
    """Angles between unit rows, (k, k)."""
    return np.arccos(np.clip(c @ c.T, -1.0, 1.0))


# ----------------------------------------------------------------------------- caps
def cap_point(centre: np.ndarray, radius: float, z: np.ndarray) -> np.ndarray:
    """Smooth map R^D -> cap: angle radius*|sin ||P z|||, direction P z, P = projection orthogonal to centre.

    Lets an unconstrained optimiser (Nelder-Mead) move a point inside the cap.
    """
    t = z - (z @ centre) * centre
    nt = np.linalg.norm(t)
    if nt == 0 or radius == 0:
        return centre.copy()
    return math.cos(radius * abs(math.sin(nt))) * centre + math.sin(radius * abs(math.sin(nt))) * t / nt


def inverse_cap_point(centre: np.ndarray, radius: float, point: np.ndarray) -> np.ndarray:
    """A z with cap_point(centre, radius, z) == point (point inside the cap)."""
    t = point - (point @ centre) * centre
    nt = np.linalg.norm(t)
    if nt == 0 or radius == 0:
        return np.zeros_like(centre)
    ang = math.atan2(nt, float(point @ centre))
    return math.asin(min(ang / radius, 1.0)) * t / nt


def cap_points(centres: np.ndarray, radii, rng: np.random.Generator, *, boundary: float = 0.5) -> np.ndarray:
    """One random point per cap: on its boundary with probability ``boundary``, else at an angle
    U[0, radius] from the centre, in a uniformly random tangent direction. (k, D) unit rows."""
    centres = np.atleast_2d(centres)
    radii = np.broadcast_to(np.asarray(radii, dtype=np.float64), (centres.shape[0],))
    q = rng.standard_normal(centres.shape)
    q -= np.sum(q * centres, axis=1, keepdims=True) * centres
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-300)
    on_edge = rng.uniform(size=radii.shape) < boundary
    ang = np.where(on_edge, radii, radii * rng.uniform(size=radii.shape))
    return np.cos(ang)[:, None] * centres + np.sin(ang)[:, None] * q


# ----------------------------------------------------------------------------- teachers
TEACHER_SCHEMES = ("paper", "orthogonal", "gaussian")


def teacher_layers(widths, *, bias: bool, seed: int, scheme: str = "paper"
                   ) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(W, b) of every layer of a fully connected teacher, drawn in numpy from ``default_rng(seed)``.

    ``scheme`` sets the row directions: ``paper`` (docs/experiments.md: entries from
    {+-0.5, +-0.25, 0}, rows non-zero and distinct within a layer), ``orthogonal`` (orthonormal
    rows; needs fan_out <= fan_in) or ``gaussian`` (standard normal entries). Biases are
    U[-0.5, 0.5]; then each row (w_j, b_j) is scaled to unit norm (the authors'
    ``teacher.normalize()``). The torch networks of :mod:`luckbench.theory.network` draw the paper
    scheme from a torch generator, so for the same seed the two draws differ.
    """
    if scheme not in TEACHER_SCHEMES:
        raise InputError(f"--teacher-scheme: expected one of {', '.join(TEACHER_SCHEMES)}, got {scheme!r}")
    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, fan_out in zip(map(int, widths[:-1]), map(int, widths[1:])):
        if scheme == "paper":
            w = distinct_rows(rng, fan_out, fan_in, what="--teacher")
        elif scheme == "orthogonal":
            if fan_out > fan_in:
                raise InputError(f"--teacher-scheme: orthogonal rows need fan-out <= fan-in, got a "
                                 f"{fan_in} -> {fan_out} layer")
            w = np.linalg.qr(rng.standard_normal((fan_in, fan_out)))[0].T
        else:
            w = rng.standard_normal((fan_out, fan_in))
        b = rng.uniform(-0.5, 0.5, size=fan_out) if bias else None
        scale = np.sqrt(np.sum(w ** 2, axis=1) + (b ** 2 if b is not None else 0.0))
        layers.append((w / scale[:, None], b / scale if b is not None else None))
    return layers


def default_init_layers(widths, *, bias: bool, seed: int) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(W, b) per layer drawn like PyTorch's default Linear init, U(+-1/sqrt(fan_in)), in numpy."""
    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, fan_out in zip(map(int, widths[:-1]), map(int, widths[1:])):
        bound = 1.0 / math.sqrt(fan_in)
        w = rng.uniform(-bound, bound, size=(fan_out, fan_in))
        layers.append((w, rng.uniform(-bound, bound, size=fan_out) if bias else None))
    return layers


def teacher_rows(widths, *, bias: bool, seed: int, sigma: float = SIGMA_PAPER, scheme: str = "paper") -> np.ndarray:
    """First-layer teacher rows (:func:`teacher_layers`), whitened and augmented with input std
    ``sigma`` (docs/math.md sec. 0), unit norm: the centres the closed-form checks work around."""
    w, b = teacher_layers(tuple(widths)[:2], bias=bias, seed=seed, scheme=scheme)[0]
    return unit_rows(augment(w, b, sigma=sigma))
