"""Monte Carlo twins of the kernels in :mod:`luckbench.theory.kernels`, for any input sampler.

The closed forms hold for Gaussian inputs at layer 0 only (docs/math.md sec. 1); deeper layers see
non-Gaussian inputs, and the closed forms themselves need an independent cross-check. For a
``sampler(n, rng) -> (n, d)`` array of inputs x and units u = w.x + b, :func:`mc_kernels` estimates

    psi_d        E[1(u1 > 0) 1(u2 > 0)]           (n1, n2)   paper Eq. 7
    psi_l        E[relu(u1) relu(u2)]             (n1, n2)   paper Eq. 7
    gate_relu    E[1(u1 > 0) relu(u2)]            (n1, n2)   Stein companion, bias coordinate
    gate_relu_x  E[1(u1 > 0) relu(u2) x]          (n1, n2, d) Stein companion (docs/math.md sec. 1)
    gate_mean    E[1(u1 > 0)]                     (n1,)
    relu_mean    E[relu(u1)]                      (n1,)

each as an :class:`MCEstimate` (mean and standard error of the mean). Samples are drawn and reduced
chunk by chunk (sums and sums of squares accumulated in float64), so millions of samples fit in a
few megabytes. One seed gives one result for a given chunk size.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from luckbench.errors import InputError
from luckbench.theory.kernels import _layers

__all__ = ["KERNELS", "MCEstimate", "mc_kernels"]

KERNELS = ("psi_d", "psi_l", "gate_relu", "gate_relu_x", "gate_mean", "relu_mean")
_DEFAULT = ("psi_d", "psi_l", "gate_relu", "gate_mean", "relu_mean")


@dataclass(frozen=True)
class MCEstimate:
    """Sample mean of an expectation, its standard error sqrt(var / n), and the sample count n."""

    mean: np.ndarray
    stderr: np.ndarray
    n_samples: int

    def zscore(self, exact) -> np.ndarray:
        """(mean - exact) / stderr; 0 where both the error and stderr vanish, +-inf where only stderr does."""
        diff = self.mean - np.asarray(exact, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = diff / self.stderr
        return np.where((diff == 0) & (self.stderr == 0), 0.0, z)


_FACTORS = {  # the per-sample factors whose product is the kernel's integrand: (left, right) or (value, None)
    "psi_d": ("gate1", "gate2"),
    "psi_l": ("act1", "act2"),
    "gate_relu": ("gate1", "act2"),
    "gate_relu_x": ("gate1", "act2"),
    "gate_mean": ("gate1", None),
    "relu_mean": ("act1", None),
}
_CHUNK_FLOATS = 1 << 21  # default chunk: about this many floats per (chunk, nodes) array


def _chunk_sums(name, x, left, right):
    """Sum and sum of squares over one chunk of the per-sample values of kernel ``name``."""
    if right is None:
        return left.sum(axis=0), (left * left).sum(axis=0)
    if name == "gate_relu_x":
        return (np.einsum("si,sj,sk->ijk", left, right, x), np.einsum("si,sj,sk->ijk", left * left, right * right, x * x))
    return left.T @ right, (left * left).T @ (right * right)


def _count(value, label: str, minimum: int) -> int:
    """``value`` as an integer >= minimum, else InputError naming ``label``."""
    try:
        n = operator.index(value)
    except TypeError:
        n = None
    if n is None or n < minimum:
        raise InputError(f"{label}: expected an integer >= {minimum}, got {value!r}")
    return n


def mc_kernels(
    w1,
    w2,
    b1=None,
    b2=None,
    *,
    sampler,
    n_samples: int,
    seed: int = 0,
    chunk: int | None = None,
    names=_DEFAULT,
) -> dict[str, MCEstimate]:
    """Monte Carlo estimates of the kernels ``names`` (default: all but the costly gate_relu_x).

    ``w1`` (n1, d), ``w2`` (n2, d), biases (n1,)/(n2,) or None (zero); ``sampler(n, rng)`` returns an
    (n, d) array of inputs (e.g. :func:`luckbench.datasets.samplers.gaussian_sampler`); samples are
    drawn from ``numpy.random.default_rng(seed)`` in chunks of ``chunk`` rows (default: about 2M
    floats per (chunk, n1 + n2 + d) block).
    """
    w1, w2, b1, b2 = _layers(w1, w2, b1, b2)
    names = tuple(names)
    unknown = [n for n in names if n not in KERNELS]
    if unknown:
        raise InputError(f"names: unknown kernel(s) {unknown}; choose from {list(KERNELS)}")
    n_samples = _count(n_samples, "n_samples", 2)
    rng = np.random.default_rng(seed)
    d = w1.shape[1]
    chunk = max(1, _CHUNK_FLOATS // (w1.shape[0] + w2.shape[0] + d)) if chunk is None else _count(chunk, "chunk", 1)
    needed = {f for name in names for f in _FACTORS[name] if f is not None}
    sums: dict[str, list] = {name: [0.0, 0.0] for name in names}
    done = 0
    while done < n_samples:
        n = min(chunk, n_samples - done)
        x = np.asarray(sampler(n, rng), dtype=np.float64)
        if x.shape != (n, d):
            raise InputError(f"sampler: returned shape {x.shape}, expected ({n}, {d})")
        u = {"1": x @ w1.T + b1, "2": x @ w2.T + b2}
        factors = {f"gate{i}": (u[i] > 0).astype(np.float64) for i in "12" if f"gate{i}" in needed}
        factors.update({f"act{i}": np.maximum(u[i], 0.0) for i in "12" if f"act{i}" in needed})
        for name in names:
            left, right = _FACTORS[name]
            s, q = _chunk_sums(name, x, factors[left], None if right is None else factors[right])
            sums[name][0] = sums[name][0] + s
            sums[name][1] = sums[name][1] + q
        done += n
    out = {}
    for name, (s, q) in sums.items():
        mean = s / n_samples
        var = np.maximum(q / n_samples - mean * mean, 0.0) * n_samples / (n_samples - 1)
        out[name] = MCEstimate(mean=mean, stderr=np.sqrt(var / n_samples), n_samples=n_samples)
    return out
