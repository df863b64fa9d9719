"""Input laws as numpy samplers: ``sampler = LAW(d, sigma)``, then ``sampler(n, rng) -> (n, d)``.

The isotropic Gaussian x ~ N(0, sigma^2 I_d) is the input distribution of the paper's GAUS
experiments and of the closed-form kernels in :mod:`luckbench.theory.kernels` (docs/math.md sec. 0);
:mod:`luckbench.theory.montecarlo` draws from it to cross-check the closed forms. The uniform and
Laplace laws (same mean 0 and covariance sigma^2 I, lighter and heavier tails) probe how far the
Gaussian-input results carry over (Monte Carlo kernels in ``luckbench.sim``).
"""
from __future__ import annotations

import math
import operator
from typing import Callable

import numpy as np

from luckbench.errors import InputError

Sampler = Callable[[int, np.random.Generator], np.ndarray]


def check_sigma(sigma) -> float:
    """``sigma`` (the input standard deviation) as a positive finite float, else InputError naming it."""
    try:
        scale = float(sigma)
    except (TypeError, ValueError):
        raise InputError(f"sigma: expected a positive number, got {sigma!r}") from None
    if not (math.isfinite(scale) and scale > 0.0):
        raise InputError(f"sigma: expected a positive finite number, got {sigma!r}")
    return scale


def _check(d: int, sigma: float) -> tuple[int, float]:
    try:
        dim = operator.index(d)
    except TypeError:
        raise InputError(f"d: expected a positive integer, got {d!r}") from None
    if dim <= 0:
        raise InputError(f"d: expected a positive integer, got {d!r}")
    return dim, check_sigma(sigma)


def gaussian_sampler(d: int, sigma: float = 1.0) -> Sampler:
    """Return ``sample(n, rng) -> (n, d)`` float64 draws of x ~ N(0, sigma^2 I_d)."""
    dim, scale = _check(d, sigma)
    return lambda n, rng: scale * rng.standard_normal((n, dim))


def uniform_sampler(d: int, sigma: float = 1.0) -> Sampler:
    """Return ``sample(n, rng)``: x ~ U[-sqrt(3) sigma, sqrt(3) sigma]^d (mean 0, covariance sigma^2 I)."""
    dim, scale = _check(d, sigma)
    half = math.sqrt(3.0) * scale
    return lambda n, rng: rng.uniform(-half, half, size=(n, dim))


def laplace_sampler(d: int, sigma: float = 1.0) -> Sampler:
    """Return ``sample(n, rng)``: x ~ Laplace(0, sigma/sqrt(2))^d (mean 0, covariance sigma^2 I, heavy tails)."""
    dim, scale = _check(d, sigma)
    return lambda n, rng: rng.laplace(0.0, scale / math.sqrt(2.0), size=(n, dim))


SAMPLERS = {"gaussian": gaussian_sampler, "uniform": uniform_sampler, "laplace": laplace_sampler}
