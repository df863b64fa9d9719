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
* :class:`BatchedSampleKernel` - Monte Carlo / mini-batch moments over X~ (S, N, D). One product
  U = X~ W^T per step gives both the gates and the features. The gate products G^T G are exact
  integer counts, so they run in float32 (exact up to N = 2^24, half the cost of float64); the V term
  is formed as F~^T (F~* V* - F~ V) / N without the n x n Gram L (O(N n C) instead of O(N n^2)).

``dtype`` float32 (``--dtype``, mini-batch iterations only) holds the state, the teachers and the
samples in float32, the precision of the authors' PyTorch code: 1.39-1.55x faster per width and 1.5x
for the whole protocol42 grid on 2 cores (9 min 37 s against 14 min 24 s), with row norms ~1e-4 from
the float64 run's after 200 steps (``benchmarks/protocol42.py`` prints both).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from luckbench.errors import InputError
from luckbench.sim.dynamics import Dynamics, block_kron_identity, extended_gram, project_cols
from luckbench.theory.geometry import project_rows
from luckbench.sim.kernel import GaussianKernel, SampleKernel, augment
from luckbench.theory import kernels

CHUNK_BYTES = 4e6  # seeds per batched product: as many as keep one (chunk, n, n) array in the 4 MiB L2
DRAW_BLOCK_BYTES = 4e6  # mini-batches drawn ahead, all seeds together
_EXACT_FLOAT32_COUNT = 2 ** 24  # float32 sums of 0/1 products are exact integers up to this sample size


def as_array(a, dtype, device: str | None):
    """``a`` as a numpy array of ``dtype`` (``device`` None), or as a torch tensor on ``device``."""
    a = np.asarray(a, dtype=dtype)
    if device is None:
        return a
    import torch

    return torch.as_tensor(a, device=device)


def namespace(a):
    """The array API namespace of ``a``: numpy itself for numpy arrays (compliant since 2.1, and without the
    wrappers' per-call overhead: clip 18.6 against 6.9 us on a step's (1, 64, 200) array), ``array_api_compat``'s
    torch namespace for tensors."""
    if isinstance(a, np.ndarray):
        return np
    from array_api_compat import array_namespace

    return array_namespace(a)


def to_host(a) -> np.ndarray:
    """A numpy array of ``a`` (a torch tensor is copied off its device)."""
    return a if isinstance(a, np.ndarray) else a.cpu().numpy()


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

    def terms(self, w, w_star, v, v_star, top_bias: bool) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        """(D, D*, 1, L* V* - L V): the moments of one step, each pair geometry computed once for psi_d and psi_l;
        the V residual has the constant hidden unit appended when ``top_bias``."""
        zero = not self.bias
        pairs, pairs_star = self._geometry(w, w), self._geometry(w, w_star)
        lw, lw_star = kernels._psi_l(pairs, zero), kernels._psi_l(pairs_star, zero)
        if top_bias:
            mean, mean_star = self.relu_mean(w), self.relu_mean(w_star)
            lw, lw_star = extended_gram(lw, mean, mean), extended_gram(lw_star, mean, mean_star)
        return kernels._psi_d(pairs, zero), kernels._psi_d(pairs_star, zero), 1.0, lw_star @ v_star - lw @ v


class BatchedSampleKernel:
    """Moments over a stacked augmented sample ``x`` (S, N, D): E[.] -> mean over each seed's rows."""

    def __init__(self, x):
        """``x``: a float array (numpy, or a torch tensor on the device the dynamics run on; see :func:`as_array`)."""
        if x.ndim != 3:
            raise InputError(f"batched sample: expected (seeds, samples, dim), got shape {tuple(x.shape)}")
        self.x = x
        self.xp = namespace(x)

    def l0(self) -> np.ndarray:
        return self.x.mT @ self.x / self.x.shape[1]

    def part(self, seeds: slice) -> "BatchedSampleKernel":
        """The kernel of a subset of the seeds (their samples)."""
        return BatchedSampleKernel(self.x[seeds])

    def d_moments(self, w: np.ndarray, w_star: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(G^T G, G^T G*, 1 / N): the gate co-activation counts (D = counts / N)."""
        return self._moments(self.x @ w.mT, self.x @ w_star.mT)

    def _moments(self, u: np.ndarray, u_star: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Gate counts from the pre-activations U = X~ W^T (S, N, n), kept unscaled so that the caller folds
        1 / N into a smaller product (the n x n arrays dominate a step's memory traffic)."""
        xp, n_samples = self.xp, self.x.shape[1]
        dtype = xp.float32 if n_samples <= _EXACT_FLOAT32_COUNT else xp.float64
        g, g_star = xp.astype(u > 0, dtype), xp.astype(u_star > 0, dtype)
        gt = g.mT
        return gt @ g, gt @ g_star, 1.0 / n_samples

    def terms(self, w, w_star, v, v_star, top_bias: bool) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        """(G^T G, G^T G*, 1 / N, L* V* - L V) from one pre-activation product per weight set. The V residual is
        F~^T (F~* V* - F~ V) / N without forming L; with ``top_bias`` F~ = [F, 1] (the constant hidden unit,
        i.e. the extended Grams), whose column is applied as a sum instead of being stored."""
        xp = self.xp
        u, u_star = self.x @ w.mT, self.x @ w_star.mT
        d, d_star, scale = self._moments(u, u_star)
        f, f_star = xp.clip(u, min=0.0), xp.clip(u_star, min=0.0)
        n, m = f.shape[2], f_star.shape[2]
        r = f_star @ v_star[:, :m] - f @ v[:, :n]  # (S, N, C): the output residual y* - y per sample
        if not top_bias:
            return d, d_star, scale, f.mT @ r / self.x.shape[1]
        r += (v_star[:, m] - v[:, n])[:, None, :]
        return d, d_star, scale, xp.concat([f.mT @ r, xp.sum(r, axis=1, keepdims=True)], axis=1) / self.x.shape[1]

    def gram(self, w: np.ndarray, top_bias: bool) -> np.ndarray:
        """L = F~^T F~ / N (S, n [+1], n [+1]) for the Jacobian's V block."""
        f = np.maximum(self.x @ w.mT, 0.0)
        if top_bias:
            f = np.concatenate([f, np.ones(f.shape[:2] + (1,))], axis=2)
        return f.mT @ f / self.x.shape[1]


def batched_kernel(kernel):
    """The batched counterpart of one seed's kernel type; sample kernels are stacked by the caller."""
    if isinstance(kernel, GaussianKernel):
        return BatchedGaussianKernel(kernel.bias)
    raise InputError(f"batched dynamics: no batched form of {type(kernel).__name__}")


class BatchedDynamics:
    """S copies of the Theorem 5 flow (same n, mode, top bias; own teachers), integrated together.

    The interface of :class:`luckbench.sim.dynamics.Dynamics` that ``integrate.solve`` and
    ``integrate.iterate`` use: ``velocity``, ``rhs``, ``pack``/``unpack``, ``jacobian_blocks``.

    ``device`` (a torch device name) evaluates :meth:`velocity` there, with torch tensors, for sample kernels
    (the mini-batch iteration): the state stays a numpy array on the host, and per step W and V travel to the
    device and their velocities back; None (default) computes with numpy on the host.
    """

    def __init__(self, dyns: Sequence[Dynamics], dtype=np.float64, device: str | None = None):
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
        self.dtype, self.device = np.dtype(dtype), device
        self.w_star = as_array(np.stack([d.w_star for d in dyns]), self.dtype, device)
        self.v_star = as_array(np.stack([d.v_star for d in dyns]), self.dtype, device)
        self.v_fixed = None
        if isinstance(first.kernel, SampleKernel):
            self.kernel = BatchedSampleKernel(as_array(np.stack([d.kernel.x for d in dyns]), self.dtype, device))
        else:
            self.kernel = batched_kernel(first.kernel)

    def pack(self, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        """y = [vec(W) of every seed, vec(V) of every seed] (the order of :meth:`jacobian_blocks`)."""
        return np.concatenate([np.ravel(w), np.ravel(v)]).astype(self.dtype)

    def unpack(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = self.seeds * self.n * self.dim
        return (y[:k].reshape(self.seeds, self.n, self.dim),
                y[k:].reshape(self.seeds, self.v_rows, self.v_star.shape[2]))

    def velocity(self, w: np.ndarray, v: np.ndarray, kernel=None, *, project: bool = True):
        """(dW/dt, dV/dt) of every seed: P_W[(H* W* - H W) L0] and L* V* - L V (projected in ``code``).

        Evaluated on the host in groups of seeds whose (chunk, n, n) intermediates fit CHUNK_BYTES (measured on
        2 cores, protocol42 cells, 32 seeds, CPU s per 200 steps for n = 40/100/200: 0.43/1.12/2.66 with 4e6 bytes
        against 0.55/1.17/2.89 with 3e5, where n = 200 had one seed per group); on a device, all seeds at once."""
        kernel = self.kernel if kernel is None else kernel
        if self.device and not isinstance(kernel, BatchedSampleKernel):
            raise InputError("batched dynamics on a device: sample kernels only (the closed forms compute in numpy)")
        xp = namespace(self.w_star)
        w, v = as_array(w, self.dtype, self.device), as_array(v, self.dtype, self.device)
        dw, dv = xp.empty_like(w), xp.empty_like(v)
        chunk = self.seeds if self.device else max(1, int(CHUNK_BYTES // (self.dtype.itemsize * self.n ** 2)))
        for lo in range(0, self.seeds, chunk):
            part = slice(lo, lo + chunk)
            dw[part], dv[part] = self._velocity(w[part], v[part], kernel.part(part), self.w_star[part],
                                                self.v_star[part], project)
        return to_host(dw), to_host(dv)

    def _velocity(self, w, v, kernel, w_star, v_star, project: bool):
        m = w_star.shape[1]
        vr = namespace(v).asarray(v[:, :self.n], copy=True)  # BLAS needs contiguous stacks (2x slower otherwise)
        d, d_star, scale, dv = kernel.terms(w, w_star, v, v_star, self.top_bias)
        h = vr @ vr.mT
        h *= d  # in place: H = (V V^T) o D, the largest array of the step
        g = ((vr @ v_star[:, :m].mT) * d_star) @ w_star - h @ w
        g *= scale
        l0 = kernel.l0()
        if l0 is not None:
            g = g @ l0
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
        h = -(vr @ vr.mT) * d * scale
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
                      sampler: Callable, steps: int, dtype=np.float64,
                      device: str | None = None) -> Callable[[], BatchedSampleKernel]:
    """Per step, one mini-batch per seed drawn from that seed's generator (as the per-seed run draws it, in
    float64, then rounded to ``dtype`` and moved to ``device``, see :func:`as_array`), for ``steps`` steps.
    The draws are made ``DRAW_BLOCK_BYTES`` at a time: one (k * batch, dim) draw is the same stream as k
    successive (batch, dim) draws, since every sampler fills its array value by value in C order (tested),
    and it saves the per-call overhead that otherwise took a fifth of a narrow cell's time (profiled)."""
    if batch < 1:
        raise InputError(f"--batch: need a positive mini-batch size, got {batch}")
    draw = sampler(dim)
    block = max(1, int(DRAW_BLOCK_BYTES // (8 * len(rngs) * batch * (dim + 1))))

    def kernels():
        for start in range(0, steps, block):
            k = min(block, steps - start)
            z = np.stack([draw(k * batch, rng).reshape(k, batch, dim) for rng in rngs], axis=1)
            yield from map(BatchedSampleKernel, as_array(augment(z, bias), dtype, device))

    return kernels().__next__
