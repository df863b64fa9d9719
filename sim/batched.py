"""All seeds of one Theorem 5 cell as one batched state: W (S, n, D), V (S, n [+1], C).

The per-seed right-hand side (:class:`luckbench.sim.dynamics.Dynamics`, Eq. (Thm 5, W/V) of
``docs/math.md`` sec 4) is evaluated for every seed at once with batched matrix products
(``numpy.matmul`` over the leading seed axis), so one Python step serves S seeds. Seeds keep their
own teachers (W*, V* stacked) and their own random streams (mini-batches are drawn from each seed's
generator in the per-seed order), so a batched discrete run reproduces the per-seed runs to float
precision, and a batched flow (one solve_ivp over the stacked state, one shared step size) agrees
with them to the solver tolerance.

The factorised W term only (Assumption 1): the exact-gradient variant stays per seed.

Kernels:

* :class:`BatchedGaussianKernel` - the closed forms of ``luckbench.theory.kernels``: each seed's pair
  geometry comes from the same ``_pairs`` as a per-seed call, stacked, and one call of the per-pair
  forms (``kernels._psi_d`` / ``kernels._psi_l``, the bodies of psi_d / psi_l) evaluates them for every
  seed: a thin wrapper, the kernels' numerics are shared, not copied;
* :class:`BatchedSampleKernel` - Monte Carlo / mini-batch moments over X~ (S, N, D). The gate
  products G^T G are exact integer counts, so they run in float32 (exact up to N = 2^24, half the
  cost of float64); the V term is formed as F~^T (F~* V* - F~ V) / N without the n x n Gram L
  (O(N n C) instead of O(N n^2)).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from luckbench.errors import InputError
from luckbench.sim.dynamics import Dynamics, block_kron_identity, extended_gram, project_cols
from luckbench.theory.geometry import project_rows
from luckbench.sim.kernel import GaussianKernel, SampleKernel, augment
from luckbench.theory import kernels

CHUNK_BYTES = 3e5  # seeds per batched product: as many as keep one (chunk, n, n) float64 array in cache
_EXACT_FLOAT32_COUNT = 2 ** 24  # float32 sums of 0/1 products are exact integers up to this sample size


def _t(a: np.ndarray) -> np.ndarray:
    """Transpose the last two axes (the batched A^T)."""
    return np.swapaxes(a, -1, -2)


class BatchedGaussianKernel:
    """Closed-form moments for stacked rows (S, n, D); x~ = [z; 1] (``bias``) or z, z ~ N(0, I)."""

    def __init__(self, bias: bool):
        self.bias = bool(bias)
        self._split = GaussianKernel(bias).split

    def l0(self) -> None:
        return None

    def part(self, seeds: slice) -> "BatchedGaussianKernel":
        """The kernel for a subset of the seeds (closed forms hold no per-seed data)."""
        return self

    def _geometry(self, a: np.ndarray, b: np.ndarray):
        """Every seed's pair geometry (the per-seed ``kernels._pairs``), stacked to (S, n1, n2)."""
        per_seed = []
        for a_s, b_s in zip(a, b):
            oa, ba = self._split(a_s)
            ob, bb = self._split(b_s)
            per_seed.append(kernels._pairs(oa, ob, ba, bb, 1.0))
        fields = kernels._Pairs.__dataclass_fields__
        return kernels._Pairs(**{f: np.stack([getattr(p, f) for p in per_seed]) for f in fields})

    def relu_mean(self, a: np.ndarray) -> np.ndarray:
        """(S, n) E[relu(w~ . x~)]: a row-wise form, so the seeds are simply stacked as rows."""
        s, n, dim = a.shape
        o, b = self._split(a.reshape(s * n, dim))
        return kernels.relu_mean(o, b, sigma=1.0).reshape(s, n)

    def d_moments(self, w: np.ndarray, w_star: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(D, D*, 1): D = psi_d(W, W) (S, n, n) and D* = psi_d(W, W*) (S, n, m)."""
        zero = not self.bias
        return (kernels._psi_d(self._geometry(w, w), zero), kernels._psi_d(self._geometry(w, w_star), zero), 1.0)

    def v_residual(self, w, w_star, v, v_star, top_bias: bool) -> np.ndarray:
        """L* V* - L V (S, n [+1], C), the constant hidden unit appended when ``top_bias``."""
        zero = not self.bias
        lw = kernels._psi_l(self._geometry(w, w), zero)
        lw_star = kernels._psi_l(self._geometry(w, w_star), zero)
        if top_bias:
            mean, mean_star = self.relu_mean(w), self.relu_mean(w_star)
            lw, lw_star = extended_gram(lw, mean, mean), extended_gram(lw_star, mean, mean_star)
        return lw_star @ v_star - lw @ v


class BatchedSampleKernel:
    """Moments over a stacked augmented sample ``x`` (S, N, D): E[.] -> mean over each seed's rows."""

    def __init__(self, x: np.ndarray):
        self.x = np.asarray(x, dtype=float)
        if self.x.ndim != 3:
            raise InputError(f"batched sample: expected (seeds, samples, dim), got shape {self.x.shape}")

    def l0(self) -> np.ndarray:
        return _t(self.x) @ self.x / self.x.shape[1]

    def part(self, seeds: slice) -> "BatchedSampleKernel":
        """The kernel of a subset of the seeds (their samples)."""
        return BatchedSampleKernel(self.x[seeds])

    def _gates(self, w: np.ndarray) -> np.ndarray:
        return self.x @ _t(w) > 0

    def d_moments(self, w: np.ndarray, w_star: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(G^T G, G^T G*, 1 / N): the gate co-activation counts (D = counts / N), kept unscaled so that the
        caller folds 1 / N into a smaller product (the n x n arrays dominate a step's memory traffic)."""
        n_samples = self.x.shape[1]
        dtype = np.float32 if n_samples <= _EXACT_FLOAT32_COUNT else np.float64
        g, g_star = self._gates(w).astype(dtype), self._gates(w_star).astype(dtype)
        gt = _t(g)
        return gt @ g, gt @ g_star, 1.0 / n_samples

    def _features(self, w: np.ndarray) -> np.ndarray:
        """relu(X~ W^T) (S, N, n)."""
        return np.maximum(self.x @ _t(w), 0.0)

    def v_residual(self, w, w_star, v, v_star, top_bias: bool) -> np.ndarray:
        """F~^T (F~* V* - F~ V) / N = L* V* - L V without forming L; with ``top_bias`` F~ = [F, 1] (the constant
        hidden unit, i.e. the extended Grams), whose column is applied as a sum instead of being stored."""
        f, f_star = self._features(w), self._features(w_star)
        n, m = f.shape[2], f_star.shape[2]
        r = f_star @ v_star[:, :m] - f @ v[:, :n]  # (S, N, C): the output residual y* - y per sample
        if not top_bias:
            return _t(f) @ r / self.x.shape[1]
        r += (v_star[:, m] - v[:, n])[:, None, :]
        return np.concatenate([_t(f) @ r, r.sum(axis=1, keepdims=True)], axis=1) / self.x.shape[1]

    def gram(self, w: np.ndarray, top_bias: bool) -> np.ndarray:
        """L = F~^T F~ / N (S, n [+1], n [+1]) for the Jacobian's V block."""
        f = self._features(w)
        if top_bias:
            f = np.concatenate([f, np.ones(f.shape[:2] + (1,))], axis=2)
        return _t(f) @ f / self.x.shape[1]


def batched_kernel(kernel):
    """The batched counterpart of one seed's kernel type; sample kernels are stacked by the caller."""
    if isinstance(kernel, GaussianKernel):
        return BatchedGaussianKernel(kernel.bias)
    raise InputError(f"batched dynamics: no batched form of {type(kernel).__name__}")


class BatchedDynamics:
    """S copies of the Theorem 5 flow (same n, mode, top bias; own teachers), integrated together.

    The interface of :class:`luckbench.sim.dynamics.Dynamics` that ``integrate.solve`` and
    ``integrate.iterate`` use: ``velocity``, ``rhs``, ``pack``/``unpack``, ``jacobian_blocks``.
    """

    def __init__(self, dyns: Sequence[Dynamics]):
        dyns = list(dyns)
        first = dyns[0]
        for d in dyns:
            if (d.n, d.mode, d.top_bias, d.gradient, d.w_star.shape, d.v_star.shape, type(d.kernel)) != (
                    first.n, first.mode, first.top_bias, first.gradient, first.w_star.shape, first.v_star.shape,
                    type(first.kernel)):
                raise InputError("batched dynamics: every seed needs the same sizes, mode and kernel type")
        if first.mode == "fixed" or first.gradient != "factorised":
            raise InputError("batched dynamics: the Theorem 5 flow (mode paper/code) with the factorised W term only")
        self.seeds = len(dyns)
        self.n, self.mode, self.top_bias, self.dim = first.n, first.mode, first.top_bias, first.dim
        self.v_rows = first.v_rows
        self.w_star = np.stack([d.w_star for d in dyns])
        self.v_star = np.stack([d.v_star for d in dyns])
        self.v_fixed = None
        if isinstance(first.kernel, SampleKernel):
            self.kernel = BatchedSampleKernel(np.stack([d.kernel.x for d in dyns]))
        else:
            self.kernel = batched_kernel(first.kernel)

    def pack(self, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        """y = [vec(W) of every seed, vec(V) of every seed] (the order of :meth:`jacobian_blocks`)."""
        return np.concatenate([np.ravel(w), np.ravel(v)]).astype(float)

    def unpack(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = self.seeds * self.n * self.dim
        return (y[:k].reshape(self.seeds, self.n, self.dim),
                y[k:].reshape(self.seeds, self.v_rows, self.v_star.shape[2]))

    def velocity(self, w: np.ndarray, v: np.ndarray, kernel=None, *, project: bool = True):
        """(dW/dt, dV/dt) of every seed: P_W[(H* W* - H W) L0] and L* V* - L V (projected in ``code``).

        Evaluated in groups of seeds whose (chunk, n, n) float64 intermediates fit CHUNK_BYTES, so they stay
        in cache (measured under load, 32 seeds, CPU ms per step: n = 100, 3 seeds per group 6.0 against 11.3
        for all 32; n = 200, 1-3 seeds 13.6-14.5 against 28; small n keeps ~20 seeds per group, where the
        per-call overhead dominates)."""
        kernel = self.kernel if kernel is None else kernel
        dw, dv = np.empty_like(w), np.empty_like(v)
        chunk = max(1, int(CHUNK_BYTES // (8 * self.n ** 2)))
        for lo in range(0, self.seeds, chunk):
            part = slice(lo, lo + chunk)
            dw[part], dv[part] = self._velocity(w[part], v[part], kernel.part(part), self.w_star[part],
                                                self.v_star[part], project)
        return dw, dv

    def _velocity(self, w, v, kernel, w_star, v_star, project: bool):
        m = w_star.shape[1]
        vr = np.ascontiguousarray(v[:, :self.n])  # BLAS needs contiguous stacks (2x slower otherwise)
        d, d_star, scale = kernel.d_moments(w, w_star)
        h = vr @ _t(vr)
        h *= d  # in place: H = (V V^T) o D, the largest array of the step
        g = ((vr @ _t(v_star[:, :m])) * d_star) @ w_star - h @ w
        g *= scale
        l0 = kernel.l0()
        if l0 is not None:
            g = g @ l0
        dv = kernel.v_residual(w, w_star, v, v_star, self.top_bias)
        if project:
            g = project_rows(g, w)
            if self.mode == "code":
                dv = project_cols(v, dv)
        return g, dv

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        return self.pack(*self.velocity(*self.unpack(y)))

    def jacobian_blocks(self, t: float, y: np.ndarray) -> list[tuple[np.ndarray, int]]:
        """Per seed, the blocks of :meth:`Dynamics.jacobian_blocks` (-H on W, -L on V): block-diagonal
        over seeds, in the order of :meth:`pack`."""
        w, v = self.unpack(y)
        d, _, scale = self.kernel.d_moments(w, self.w_star)
        vr = v[:, :self.n]
        h = -(vr @ _t(vr)) * d * scale
        lw = self._gram(w)
        return [(a, self.dim) for a in h] + [(-a, self.v_star.shape[2]) for a in lw]

    def jacobian(self, t: float, y: np.ndarray):
        """:meth:`jacobian_blocks` as one sparse matrix (for BDF/Radau)."""
        return block_kron_identity(self.jacobian_blocks(t, y))

    def _gram(self, w: np.ndarray) -> np.ndarray:
        """L (S, n [+1], n [+1]) for the Jacobian's V block."""
        kernel = self.kernel
        if isinstance(kernel, BatchedSampleKernel):
            return kernel.gram(w, self.top_bias)
        lw = kernels._psi_l(kernel._geometry(w, w), not kernel.bias)
        if self.top_bias:
            mean = kernel.relu_mean(w)
            lw = extended_gram(lw, mean, mean)
        return lw


def minibatch_kernels(rngs: Sequence[np.random.Generator], batch: int, dim: int, bias: bool,
                      sampler: Callable) -> Callable[[], BatchedSampleKernel]:
    """Per step, one mini-batch per seed drawn from that seed's generator (as the per-seed run draws it)."""
    if batch < 1:
        raise InputError(f"--batch: need a positive mini-batch size, got {batch}")
    draw = sampler(dim)
    return lambda: BatchedSampleKernel(np.stack([augment(draw(batch, rng), bias) for rng in rngs]))
