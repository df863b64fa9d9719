"""Right-hand sides of the Thm 4 and Thm 5 dynamics in whitened augmented coordinates.

Row convention (the transpose of docs/math.md's columns): W (n, D) and W* (m, D) have one row per
hidden node; V (n [+1], C) and V* (m [+1], C) have one row per hidden node's fan-out (row j = v_j),
plus a last row for the top-layer bias when ``top_bias`` (a constant hidden unit, docs/math.md sec 4).
In this convention docs/math.md's column equations read

* Eq. (Thm 5, W):  dW/dt = P_W[(H* W* - H W) L0],  H = (V V^T) o D (n x n),  H* = (V V*^T) o D* (n x m);
* Eq. (Thm 5, V):  dV/dt = L* V* - L V  (no projection, mode ``paper``; mode ``code`` also projects
  every column of V, as the released code's per-step normalisation does);
* Eq. (Thm 4):     dW/dt = P_W[(D* W* - D W) L0], i.e. Thm 5 with V = V* = 1 (beta = 11^T) held fixed.

D = psi_d(W, W), D* = psi_d(W, W*), L = psi_l(W, W), L* = psi_l(W, W*); P_W projects each row w_j
onto the tangent space of its sphere, P(g)_j = g_j - (w^_j . g_j) w^_j. The bias unit is excluded
from beta/H (docs/math.md sec 4, "restricted to real nodes").

``gradient="exact"`` replaces the Assumption-1 factorised W term by the population gradient
E[g_j x~] of J = 1/2 E||y* - y||^2 (Eq. 15), via the Stein companion E[1(u_j>0) relu(u_k) x~]:
Assumption 1's layer residual along a trajectory is the gap between the two (:func:`a1_residual`).
"""
from __future__ import annotations

from typing import Literal, get_args

import numpy as np
from scipy import sparse

from luckbench.errors import InputError
from luckbench.theory.geometry import project_rows

MODES = ("paper", "code", "fixed")
Gradient = Literal["factorised", "exact"]
GRADIENTS = get_args(Gradient)


def project_cols(v: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Column-wise projection: g_c - (v^_c . g_c) v^_c (mode ``code``; leading axes batch)."""
    return np.swapaxes(project_rows(np.swapaxes(g, -1, -2), np.swapaxes(v, -1, -2)), -1, -2)


def extended_gram(gram: np.ndarray, mean_left: np.ndarray, mean_right: np.ndarray) -> np.ndarray:
    """[[L, E f], [E f*^T, 1]]: the Gram matrix with the constant hidden unit appended (leading axes batch)."""
    top = np.concatenate([gram, mean_left[..., None]], axis=-1)
    bottom = np.concatenate([mean_right, np.ones(mean_right.shape[:-1] + (1,))], axis=-1)[..., None, :]
    return np.concatenate([top, bottom], axis=-2)


class Dynamics:
    """The two-layer teacher-student flow; ``rhs(t, y)`` is what solve_ivp integrates.

    ``mode``: ``paper`` (V free, unprojected), ``code`` (V's columns projected) or ``fixed``
    (V = ``v_fixed`` held constant: Theorem 4). ``kernel``: a GaussianKernel or SampleKernel.
    """

    dtype = np.dtype(np.float64)  # the float type of the state (the seed-batched dynamics may hold float32)

    def __init__(self, w_star: np.ndarray, v_star: np.ndarray, kernel, *, n: int, top_bias: bool = False,
                 mode: str = "paper", gradient: str = "factorised", v_fixed: np.ndarray | None = None):
        if mode not in MODES:
            raise InputError(f"--mode: expected one of {', '.join(MODES)}, got {mode!r}")
        if gradient not in GRADIENTS:
            raise InputError(f"--gradient: expected one of {', '.join(GRADIENTS)}, got {gradient!r}")
        self.w_star = np.asarray(w_star, dtype=float)
        self.v_star = np.asarray(v_star, dtype=float)
        self.kernel = kernel
        self.n = int(n)
        self.top_bias = bool(top_bias) and mode != "fixed"
        self.mode = mode
        self.gradient = gradient
        self.v_fixed = None if v_fixed is None else np.asarray(v_fixed, dtype=float)
        self.dim = self.w_star.shape[1]
        self.v_rows = self.n + 1 if self.top_bias else self.n

    # ----- state packing -------------------------------------------------------------------
    def pack(self, w: np.ndarray, v: np.ndarray | None) -> np.ndarray:
        """y = [vec(W), vec(V)] (V omitted in mode ``fixed``)."""
        if self.mode == "fixed":
            return np.asarray(w, dtype=float).ravel().copy()
        return np.concatenate([np.ravel(w), np.ravel(v)]).astype(float)

    def unpack(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of :meth:`pack`: (W (n, D), V (n [+1], C))."""
        k = self.n * self.dim
        w = y[:k].reshape(self.n, self.dim)
        v = self.v_fixed if self.mode == "fixed" else y[k:].reshape(self.v_rows, self.v_star.shape[1])
        return w, v

    # ----- right-hand sides ----------------------------------------------------------------
    def w_velocity(self, w: np.ndarray, v: np.ndarray, kernel=None, *, project: bool = True,
                   gradient: str | None = None, moments=None) -> np.ndarray:
        """dW/dt = P_W[(H* W* - H W) L0] (factorised), or P_W[E[g x~]] (exact, Eq. 15)."""
        kernel = self.kernel if kernel is None else kernel
        gradient = self.gradient if gradient is None else gradient
        m = self.w_star.shape[0]
        vr, vr_star = v[:self.n], self.v_star[:m]
        beta, beta_star = vr @ vr.T, vr @ vr_star.T
        if gradient == "factorised":
            mom = kernel.moments(w, self.w_star, activations=False) if moments is None else moments
            g = (beta_star * mom.d_star) @ self.w_star - (beta * mom.d) @ w
            l0 = kernel.l0()
            if l0 is not None:
                g = g @ l0
        else:
            g = (np.einsum("jk,jkd->jd", beta_star, kernel.gate_relu_x(w, self.w_star))
                 - np.einsum("jk,jkd->jd", beta, kernel.gate_relu_x(w, w)))
            if self.top_bias:
                g += (vr @ (self.v_star[-1] - v[-1]))[:, None] * kernel.gate_x(w)
        return project_rows(g, w) if project else g

    def v_velocity(self, w: np.ndarray, v: np.ndarray, kernel=None, *, project: bool = True,
                   moments=None) -> np.ndarray:
        """dV/dt = L* V* - L V (Thm 5), with the bias unit appended when ``top_bias``; projected in ``code``."""
        if self.mode == "fixed":
            return np.zeros_like(v)
        kernel = self.kernel if kernel is None else kernel
        mom = kernel.moments(w, self.w_star) if moments is None else moments
        lw, lw_star = mom.l, mom.l_star
        if self.top_bias:
            lw = extended_gram(mom.l, mom.mean, mom.mean)
            lw_star = extended_gram(mom.l_star, mom.mean, mom.mean_star)
        g = lw_star @ self.v_star - lw @ v
        return project_cols(v, g) if project and self.mode == "code" else g

    def velocity(self, w: np.ndarray, v: np.ndarray, kernel=None, *, project: bool = True):
        """(dW/dt, dV/dt) sharing one evaluation of the kernel moments."""
        kernel = self.kernel if kernel is None else kernel
        mom = kernel.moments(w, self.w_star, activations=self.mode != "fixed")
        dw = self.w_velocity(w, v, kernel, project=project, moments=mom)
        if self.mode == "fixed":
            return dw, np.zeros_like(v)
        return dw, self.v_velocity(w, v, kernel, project=project, moments=mom)

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        """d y / d t for ``scipy.integrate.solve_ivp``."""
        w, v = self.unpack(y)
        dw, dv = self.velocity(w, v)
        return self.pack(dw, dv)

    def jacobian_blocks(self, t: float, y: np.ndarray) -> list[tuple[np.ndarray, int]]:
        """Approximate Jacobian diag(kron(-H, I_D), kron(-L, I_C)) as its blocks [(-H, D), (-L, C)]: the parts
        linear in the state with the kernel matrices frozen (exact for the V block in mode ``paper``). The
        V block carries the stiffness: lambda_max(L) grows like n (about 32 for n = 200 zero-bias students)."""
        w, v = self.unpack(y)
        mom = self.kernel.moments(w, self.w_star, activations=self.mode != "fixed")
        vr = v[: self.n]
        blocks = [(-(vr @ vr.T) * mom.d, self.dim)]
        if self.mode != "fixed":
            lw = extended_gram(mom.l, mom.mean, mom.mean) if self.top_bias else mom.l
            blocks.append((-lw, self.v_star.shape[1]))
        return blocks

    def jacobian(self, t: float, y: np.ndarray) -> sparse.csc_matrix:
        """:meth:`jacobian_blocks` as one sparse matrix (for BDF/Radau)."""
        return block_kron_identity(self.jacobian_blocks(t, y))


def block_kron_identity(blocks: list[tuple[np.ndarray, int]]) -> sparse.csc_matrix:
    """diag(kron(A_1, I_k1), kron(A_2, I_k2), ...) for dense square A_i, built directly in CSC
    (sparse.kron + block_diag take ~20x longer): kron(A, I_k) has entry (i k + c, j k + c) = A[i, j],
    the Jacobian of the row-major vec(X) -> vec(A X)."""
    data, indices, indptr, offset = [], [], [np.zeros(1, dtype=np.int64)], 0
    for a, k in blocks:
        n = a.shape[0]
        cols = np.arange(n * k)
        indices.append(offset + (np.arange(n)[None, :] * k + (cols % k)[:, None]).ravel())
        data.append(np.repeat(a.T, k, axis=0).ravel())
        indptr.append(indptr[-1][-1] + np.arange(n, n * n * k + 1, n))
        offset += n * k
    return sparse.csc_matrix((np.concatenate(data), np.concatenate(indices), np.concatenate(indptr)),
                             shape=(offset, offset))


def thm4_dynamics(w_star: np.ndarray, kernel, *, gradient: str = "factorised") -> Dynamics:
    """Theorem 4's flow: n = m students, beta = 11^T (V = V* = 1, fixed), L = L* = I."""
    m = w_star.shape[0]
    return Dynamics(w_star, np.ones((m, 1)), kernel, n=m, mode="fixed", gradient=gradient,
                    v_fixed=np.ones((m, 1)))


def a1_residual(dyn: Dynamics, w: np.ndarray, v: np.ndarray, *, project: bool = True) -> float:
    """Assumption 1 along a trajectory: ||dW_exact - dW_fact||_F / ||dW_exact||_F (docs/math.md sec 2, A1 item 2/3)."""
    exact = dyn.w_velocity(w, v, project=project, gradient="exact")
    fact = dyn.w_velocity(w, v, project=project, gradient="factorised")
    return float(np.linalg.norm(exact - fact) / np.linalg.norm(exact))
