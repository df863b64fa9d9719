"""Gating and activation moments of the dynamics, for augmented rows (nodes, D).

Two interchangeable kernels:

* :class:`GaussianKernel` - closed forms of ``luckbench.theory.kernels`` for x~ = [z; 1] (or z),
  z ~ N(0, I): whitened augmented coordinates, so L0 = E[x~ x~^T] = I (docs/math.md sec 0).
* :class:`SampleKernel` - Monte Carlo moments over a fixed sample X~ (N, D) from any sampler
  (non-Gaussian inputs; with a fresh mini-batch per step it is the authors' "matrix version").

Both return student-major matrices: D[j, k] = psi_d(w_j, w_k) (Eq. 5's gating overlap) and
L[j, k] = psi_l(w_j, w_k) (activation Gram); ``relu_mean`` is E[relu(u_j)], the moment against the
constant hidden unit that carries a top-layer bias (docs/math.md sec 4).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from luckbench.theory import kernels


@dataclass(frozen=True)
class Moments:
    """Student-student (n, n) and student-teacher (n, m) moments; ``mean``/``mean_star`` are E[relu(u)]."""

    d: np.ndarray
    d_star: np.ndarray
    l: np.ndarray | None = None
    l_star: np.ndarray | None = None
    mean: np.ndarray | None = None
    mean_star: np.ndarray | None = None


class GaussianKernel:
    """Closed-form moments for x~ = [z; 1] (``bias=True``, last coordinate the bias) or z, z ~ N(0, I)."""

    def __init__(self, bias: bool):
        self.bias = bool(bias)

    def split(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Augmented rows -> (omega, b); b is None without a bias coordinate."""
        return (a[:, :-1], a[:, -1]) if self.bias else (a, None)

    def l0(self) -> None:
        """E[x~ x~^T] = I in whitened coordinates; None means "identity, skip the product"."""
        return None

    def _pair(self, fn, a, b):
        oa, ba = self.split(a)
        ob, bb = self.split(b)
        return fn(oa, ob, ba, bb, sigma=1.0)

    def relu_mean(self, a: np.ndarray) -> np.ndarray:
        """E[relu(w~ . x~)] per row."""
        o, b = self.split(a)
        return kernels.relu_mean(o, b, sigma=1.0)

    def moments(self, w: np.ndarray, w_star: np.ndarray, *, activations: bool = True) -> Moments:
        """D = psi_d(W, W), D* = psi_d(W, W*) and, with ``activations``, L, L* and E[relu(u)]."""
        d = self._pair(kernels.psi_d, w, w)
        d_star = self._pair(kernels.psi_d, w, w_star)
        if not activations:
            return Moments(d, d_star)
        return Moments(d, d_star, self._pair(kernels.psi_l, w, w), self._pair(kernels.psi_l, w, w_star),
                       self.relu_mean(w), self.relu_mean(w_star))

    def gate_relu_x(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(n1, n2, D) = E[1(u_j > 0) relu(u_k) x~] (Stein companion, docs/math.md sec 1)."""
        z = self._pair(kernels.gate_relu_x, a, b)
        if not self.bias:
            return z
        return np.concatenate([z, self._pair(kernels.gate_relu, a, b)[..., None]], axis=2)

    def gate_x(self, a: np.ndarray) -> np.ndarray:
        """(n, D) = E[1(u > 0) x~] = [omega phi(c)/||omega||; Phi(c)], c = b/||omega|| (Stein's lemma)."""
        o, b = self.split(a)
        r = np.linalg.norm(o, axis=1)
        c = np.zeros_like(r) if b is None else b / r
        z = o * (norm.pdf(c) / r)[:, None]
        return z if b is None else np.concatenate([z, norm.cdf(c)[:, None]], axis=1)


class SampleKernel:
    """Monte Carlo moments over a fixed augmented sample ``x`` (N, D): E[.] -> mean over rows of x."""

    def __init__(self, x: np.ndarray):
        self.x = np.asarray(x, dtype=float)

    def l0(self) -> np.ndarray:
        """L0 = X~^T X~ / N."""
        return self.x.T @ self.x / len(self.x)

    def relu_mean(self, a: np.ndarray) -> np.ndarray:
        return np.maximum(self.x @ a.T, 0.0).mean(axis=0)

    def moments(self, w: np.ndarray, w_star: np.ndarray, *, activations: bool = True) -> Moments:
        n_samples = len(self.x)
        u, u_star = self.x @ w.T, self.x @ w_star.T
        g, g_star = (u > 0).astype(float), (u_star > 0).astype(float)
        d, d_star = g.T @ g / n_samples, g.T @ g_star / n_samples
        if not activations:
            return Moments(d, d_star)
        f, f_star = np.maximum(u, 0.0), np.maximum(u_star, 0.0)
        return Moments(d, d_star, f.T @ f / n_samples, f.T @ f_star / n_samples, f.mean(axis=0), f_star.mean(axis=0))

    def gate_relu_x(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        g = (self.x @ a.T > 0).astype(float)
        f = np.maximum(self.x @ b.T, 0.0)
        return np.einsum("sj,sk,sd->jkd", g, f, self.x) / len(self.x)

    def gate_x(self, a: np.ndarray) -> np.ndarray:
        g = (self.x @ a.T > 0).astype(float)
        return g.T @ self.x / len(self.x)


def augment(z: np.ndarray, bias: bool) -> np.ndarray:
    """x~ = [z, 1] (bias coordinate last) or z; leading axes of z batch."""
    return np.concatenate([z, np.ones(z.shape[:-1] + (1,))], axis=-1) if bias else z
