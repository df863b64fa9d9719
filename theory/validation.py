"""Input checks shared by the theory layer: arrays of weight rows, biases, angles and numbers.

Every function returns the value in a canonical float64 form or raises
:class:`~luckbench.errors.InputError` with a one-line message that starts with the name of the
offending argument (``what``), so the CLI can print it as is.
"""
from __future__ import annotations

import math

import numpy as np

from luckbench.errors import InputError

MAX_STD_BIAS = 1e100  # |b| / (sigma |w|) beyond this is rejected (a^2 terms would overflow)


def float_array(x, what: str) -> np.ndarray:
    """``x`` as a float64 array; non-numeric or ragged input is an InputError naming ``what``."""
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what}: expected a numeric array") from None


def row_norms(w: np.ndarray) -> np.ndarray:
    """Euclidean row norms, scaled by each row's largest entry so tiny/huge rows neither under- nor overflow."""
    top = np.max(np.abs(w), axis=1)
    safe = np.where(top > 0, top, 1.0)
    return top * np.linalg.norm(w / safe[:, None], axis=1)


def as_rows(w, what: str = "w_star", *, promote_1d: bool = True) -> np.ndarray:
    """``w`` as a finite float64 (n, D) array with non-zero rows whose norms fit in float64.

    A 1-D ``w`` is read as one row when ``promote_1d`` (the kernels refuse it: there a vector is
    more likely a mistake than a single node).
    """
    a = float_array(w, what)
    if a.ndim == 1 and promote_1d:
        a = a[None, :]
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise InputError(f"{what}: expected a non-empty 2-D array (nodes, D), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise InputError(f"{what}: contains NaN or infinite entries")
    norms = row_norms(a)
    if np.any(norms == 0.0):
        raise InputError(f"{what}: row {int(np.argmin(norms))} has zero norm")
    if not np.all(np.isfinite(norms)):
        raise InputError(f"{what}: a row norm overflows float64")
    return a


def bias_values(b, n: int, what: str, *, broadcast: bool = True) -> np.ndarray:
    """``b`` as n finite float64 biases: None gives zeros; a single number is repeated when
    ``broadcast`` (otherwise the shape must be exactly (n,))."""
    if b is None:
        return np.zeros(n)
    arr = float_array(b, what)
    if broadcast and arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise InputError(f"{what}: expected {'a number or ' if broadcast else ''}shape ({n},), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{what}: contains NaN or infinite entries")
    return arr


def standardised_bias(b: np.ndarray, scale: np.ndarray, what: str) -> np.ndarray:
    """a = b / (sigma |w|), the bias in units of the pre-activation's standard deviation (docs/math.md
    sec. 0); |a| above MAX_STD_BIAS is an InputError (products such as a^2 would overflow)."""
    with np.errstate(over="ignore"):
        a = b / scale
    if not np.all(np.abs(a) <= MAX_STD_BIAS):
        raise InputError(f"{what}: |bias| / (sigma |w|) exceeds {MAX_STD_BIAS:g} standard deviations")
    return a


def as_angle(theta0, what: str = "theta0", *, upper: float = math.pi) -> float:
    """``theta0`` (radians) as a float in (0, upper); InputError naming ``what`` otherwise."""
    try:
        t = float(theta0)
    except (TypeError, ValueError):
        raise InputError(f"{what}: expected an angle in radians, got {theta0!r}") from None
    if not (0.0 < t < upper):
        raise InputError(f"{what}: must lie in (0, {upper:.6g}) radians, got {theta0!r}")
    return t


def as_number(x, what: str, *, positive: bool = False, allow_inf: bool = False) -> float:
    """``x`` as a float >= 0 (> 0 if ``positive``; finite unless ``allow_inf``), else InputError naming ``what``."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise InputError(f"{what}: expected a number, got {x!r}") from None
    if math.isnan(v) or (math.isinf(v) and not allow_inf) or v < 0 or (positive and v == 0):
        raise InputError(f"{what}: must be a {'positive' if positive else 'non-negative'} finite number, got {x!r}")
    return v
