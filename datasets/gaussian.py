"""The isotropic Gaussian input law x ~ N(0, sigma^2 I_d) as a numpy sampler.

This is the input distribution of the paper's GAUS experiments and of the closed-form kernels in
:mod:`luckbench.theory.kernels` (math.md sec. 0); :mod:`luckbench.theory.montecarlo` draws from it
(or from any other sampler with the same signature) to cross-check the closed forms.
"""
from __future__ import annotations

import math
import operator
from typing import Callable

import numpy as np

from luckbench.errors import InputError

Sampler = Callable[[int, np.random.Generator], np.ndarray]


def gaussian_sampler(d: int, sigma: float = 1.0) -> Sampler:
    """Return ``sample(n, rng) -> (n, d)`` float64 draws of x ~ N(0, sigma^2 I_d)."""
    try:
        dim = operator.index(d)
    except TypeError:
        raise InputError(f"d: expected a positive integer, got {d!r}") from None
    if dim <= 0:
        raise InputError(f"d: expected a positive integer, got {d!r}")
    try:
        scale = float(sigma)
    except (TypeError, ValueError):
        raise InputError(f"sigma: expected a positive number, got {sigma!r}") from None
    if not (math.isfinite(scale) and scale > 0.0):
        raise InputError(f"sigma: expected a positive finite number, got {sigma!r}")

    def sample(n: int, rng: np.random.Generator) -> np.ndarray:
        return scale * rng.standard_normal((n, dim))

    return sample
