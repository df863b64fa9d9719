"""Feasibility maps of Theorems 4 and 5 over their main parameters (docs/math.md 3(iii)).

* :func:`thm4_map` -> Dataset with ``gamma(theta0, m)``, ``feasible(theta0, m)``, ``d_bar``,
  ``rate`` (= d_bar gamma), ``K_d`` and ``eps_d`` (same dims); ``theta0`` in degrees.
* :func:`thm5_map` -> Dataset with ``gamma(eps, n)``, ``lambda_bar(eps, n)``, ``feasible(eps, n)``,
  ``C_dr(eps, n)``; eps_d = eps_l = eps.

Both set ``attrs["result_kind"] = "feasibility"`` and ``attrs["map"]`` ("thm4" / "thm5"); ``form``
says which formulas were used. Store them with ``luckbench.store.write_dataset``.

Teacher schemes of :func:`thm4_map` (rows in whitened augmented coordinates, unit norm):

* ``orthogonal``: w*_j = e_j (zero bias) or [e_j; a]/sqrt(1 + a^2) with common standardised bias
  a = ``bias``. By symmetry every pair looks alike, so K_d is computed once per theta0 on
  min(m, 2) teachers (exact for zero bias, a search lower bound with a bias coordinate); eps_d is
  measured per (theta0, m). Needs m <= ``dim`` (default: the largest m).
* ``paper``: the paper's first-layer teacher (H2's ``teacher_init_``; entries in {+-0.5, +-0.25, 0},
  input std 10, dimension ``dim`` = 20 by default); ``bias`` None gives zero-bias rows, anything
  else the scheme's U[-0.5, 0.5] biases. K_d and eps_d are measured per (theta0, m).
"""
from __future__ import annotations

import math

import numpy as np
import xarray as xr

from luckbench.errors import InputError
from luckbench.theory import geometry
from luckbench.theory import assumption2 as a2
from luckbench.theory import theorem4, theorem5

SCHEMES = ("orthogonal", "paper")


def _grid(values, what: str, *, integer: bool = False) -> np.ndarray:
    try:
        a = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        raise InputError(f"{what}: expected numbers, got {values!r}") from None
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)):
        raise InputError(f"{what}: expected a non-empty list of finite numbers")
    if integer:
        if np.any(a != np.round(a)) or np.any(a < 1):
            raise InputError(f"{what}: expected positive integers, got {values!r}")
        return a.astype(int)
    return a


def orthogonal_rows(m: int, dim: int, bias: float | None) -> np.ndarray:
    """Unit rows e_j (j < m) in R^dim, with a last bias column a (then normalised) unless ``bias`` is None."""
    rows = np.eye(dim)[:m]
    if bias is None:
        return rows
    return geometry.unit_rows(np.concatenate([rows, np.full((m, 1), float(bias))], axis=1))


def thm4_map(theta0_deg, m, *, scheme: str = "orthogonal", bias=None, dim: int | None = None, seed: int = 0,
             paper_mode: bool = False) -> xr.Dataset:
    """gamma, feasibility, d_bar, rate, K_d, eps_d of Theorem 4 on the grid theta0 (degrees) x m."""
    if scheme not in SCHEMES:
        raise InputError(f"scheme: expected one of {', '.join(SCHEMES)}, got {scheme!r}")
    thetas = _grid(theta0_deg, "theta0_deg")
    if np.any(thetas <= 0) or np.any(thetas >= 90):
        raise InputError("theta0_deg: every angle must lie in (0, 90) degrees")
    ms = _grid(m, "m", integer=True)
    if bias is not None and not math.isfinite(float(bias)):
        raise InputError(f"bias: must be finite or None, got {bias!r}")
    dim = int(dim) if dim is not None else (int(ms.max()) if scheme == "orthogonal" else 20)
    limit = dim if scheme == "orthogonal" else 5 ** min(dim, 12) - 1
    if ms.max() > limit:
        raise InputError(f"m: scheme {scheme!r} allows at most {limit} teachers in dimension {dim}, got {ms.max()}")
    has_bias = bias is not None
    shape = (thetas.size, ms.size)
    out = {k: np.full(shape, np.nan) for k in ("gamma", "d_bar", "rate", "K_d", "eps_d")}
    feas = np.zeros(shape, dtype=bool)
    method = ""
    for i, deg in enumerate(thetas):
        t0 = math.radians(deg)
        k_sym = {}
        for jm, mm in enumerate(ms):
            if scheme == "orthogonal":
                rows = orthogonal_rows(int(mm), dim, bias)
                key = min(int(mm), 2)
                if key not in k_sym:
                    est = a2.region_constant("d", a2.Region.caps(rows[:key], t0, bias=has_bias), seed=seed)
                    k_sym[key] = est
                est = k_sym[key]
            else:
                rows = geometry.teacher_rows((dim, int(mm), 1), bias=has_bias, seed=seed)
                est = a2.region_constant("d", a2.Region.caps(rows, t0, bias=has_bias), seed=seed)
            method = est.method
            c = theorem4.conditions(rows, t0, bias=has_bias, K_d=est.K, paper_mode=paper_mode)
            for k in out:
                out[k][i, jm] = getattr(c, k)
            feas[i, jm] = c.holds
    coords = {"theta0": ("theta0", thetas, {"units": "degree"}), "m": ("m", ms)}
    ds = xr.Dataset({k: (("theta0", "m"), v) for k, v in out.items()} | {"feasible": (("theta0", "m"), feas)},
                    coords=coords)
    ds["gamma"].attrs["long_name"] = "Thm 4 gamma = cos(theta0) - (m-1) eps_d M_d"
    ds["rate"].attrs["long_name"] = "d_bar * gamma (continuous-time exponent)"
    ds.attrs.update({"result_kind": "feasibility", "map": "thm4", "scheme": scheme,
                     "bias": "none" if bias is None else float(bias), "dim": dim, "teacher_seed": int(seed),
                     "form": "paper (d_bar plus sign)" if paper_mode else "corrected",
                     "K_method": method})
    return ds


def thm5_map(eps, n, **fixed) -> xr.Dataset:
    """gamma, lambda_bar, feasibility and C_dr of Theorem 5 on the grid eps (= eps_d = eps_l) x n.

    ``fixed`` holds the other keyword arguments of :func:`luckbench.theory.theorem5.constants`
    (m, theta0 in radians, B_v, B_dv, K_d, K_l, C0, eta, min_d_diag, min_l_diag, b_v, mode).
    """
    eps_v = _grid(eps, "eps")
    if np.any(eps_v < 0):
        raise InputError("eps: every value must be >= 0")
    ns = _grid(n, "n", integer=True)
    for key in ("eps_d", "eps_l", "n"):
        if key in fixed:
            raise InputError(f"{key}: set by the map's grid, do not pass it")
    shape = (eps_v.size, ns.size)
    out = {k: np.full(shape, np.nan) for k in ("gamma", "lambda_bar", "C_dr")}
    feas = np.zeros(shape, dtype=bool)
    for i, e in enumerate(eps_v):
        for j, nn in enumerate(ns):
            r = theorem5.constants(eps_d=float(e), eps_l=float(e), n=int(nn), **fixed)
            for k in out:
                out[k][i, j] = getattr(r, k)
            feas[i, j] = r.feasible
    ds = xr.Dataset({k: (("eps", "n"), v) for k, v in out.items()} | {"feasible": (("eps", "n"), feas)},
                    coords={"eps": eps_v, "n": ns})
    ds["gamma"].attrs["long_name"] = "Thm 5 gamma = min(R41, R42) at the fixed point"
    attrs = {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in fixed.items() if v is not None}
    ds.attrs.update({"result_kind": "feasibility", "map": "thm5", "form": fixed.get("mode", "fixed"), **attrs})
    return ds
