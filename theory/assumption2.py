"""Assumption 2 (relative Lipschitz continuity of psi_d, psi_l) measured over a region.

Coordinates (docs/math.md sec 0): every weight is a row w~ = [s*w; b] of a unit-norm matrix, so that
w~ . x~ = w . x + b with x~ = [x/s; 1] and E[x~ x~^T] = I. With ``bias=True`` the last column is the
bias coordinate; with ``bias=False`` the model has no bias (w~ = s*w). :func:`luckbench.theory.geometry.augment` gets there.

Two forms of the constant (docs/math.md, Assumption 2):

* used form (Eq. 24, also Eqs. 26/28): |psi(w,w1) - psi(w,w2)| <= K psi(w,w1) ||w1 - w2||, so
  K = sup |psi(w,w1) - psi(w,w2)| / (psi(w,w1) ||w1 - w2||);
* printed form (Eq. 8): |..| <= psi(w,w1)(1 + K||w1 - w2||), so
  K_printed = sup (|psi(w,w1) - psi(w,w2)| - psi(w,w1))_+ / (psi(w,w1) ||w1 - w2||).

The region (:class:`Region`) is a set of caps {w : angle(w, c_k) <= r_k} around centres c_k (the
teachers for Thm 4, plus the r-set's initial rows for Thm 5). The triples actually used are
(w_j, c_j' -> w_j') [Eq. 24], (c_j', c_j -> w_j) [Eq. 26], (c_j, w_j -> c_j) [Eq. 28] and
(c_j, c_j -> w_j) [d-bar, Eq. 55], with w_j in cap j.

* Zero bias: exact up to 1-D/2-D numerical maximisation. psi depends on the angle only; the
  region's constant is the max over the four triple families (:func:`zero_bias_constant`): the
  closed form K_d(Theta, delta) of docs/math.md 3(i) (:func:`kd_zero_bias`) or the 2-D supremum over the
  angle profile (:func:`profile_constant`, K_l and the printed forms) for the cross families, a 1-D
  supremum (:func:`self_constant`) for the self families.
* With a bias coordinate: sampled triples (half the students on the cap boundary) refined by
  Nelder-Mead (:func:`search_constant`). The result is a LOWER bound on the supremum.
"""
from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from luckbench.errors import InputError
from luckbench.theory import kernels
from luckbench.theory.geometry import cap_point, cap_points, inverse_cap_point, pair_angles, unit_rows
from luckbench.theory.validation import as_angle
from luckbench.theory.verdict import Verdict


def psi(kind: str, w1: np.ndarray, w2: np.ndarray, *, bias: bool) -> np.ndarray:
    """psi_d / psi_l (Eq. 7) between augmented rows, (n1, n2); the last column is the bias if ``bias``."""
    fn = {"d": kernels.psi_d, "l": kernels.psi_l}[kind]
    w1 = np.atleast_2d(w1)
    w2 = np.atleast_2d(w2)
    if bias:
        return np.asarray(fn(w1[:, :-1], w2[:, :-1], w1[:, -1], w2[:, -1], sigma=1.0))
    return np.asarray(fn(w1, w2, sigma=1.0))


# ----------------------------------------------------------------------------- zero-bias forms
def big_psi(alpha):
    """Psi(alpha) = alpha / (2 sin(alpha/2)), Psi(0) = 1 (docs/math.md 3(i))."""
    alpha = np.asarray(alpha, dtype=np.float64)
    half = np.sin(alpha / 2)
    return np.where(alpha > 1e-12, alpha / (2 * np.where(half > 0, half, 1.0)), 1.0)


def kd_zero_bias(Theta: float, delta: float) -> float:
    """Exact zero-bias K_d(Theta, delta) = Psi(min(2 arcsin(delta/2), max(Theta, pi-Theta))) / (pi - Theta).

    Theta = largest base angle angle(w, w1), delta = largest perturbation ||w1 - w2|| (docs/math.md 3(i)).
    """
    if Theta >= math.pi:
        return math.inf
    alpha = 2 * math.asin(min(delta / 2, 1.0))
    return float(big_psi(min(alpha, max(Theta, math.pi - Theta)))) / (math.pi - Theta)


def arccos_profile(kind: str, theta):
    """psi on unit zero-bias rows as a function of their angle: (pi-t)/(2pi) for d, g(t)/(2pi) for l (docs/math.md sec 1)."""
    theta = np.asarray(theta, dtype=np.float64)
    if kind == "d":
        return (np.pi - theta) / (2 * np.pi)
    return kernels.arccos_g(theta) / (2 * np.pi)


def grid_sup(f, lo: float, hi: float, points: int) -> float:
    """sup of the scalar function ``f`` (vectorised) on [lo, hi]: the best of ``points`` grid values
    (NaN read as 0), refined by bounded Brent between that grid point's neighbours."""
    grid = np.linspace(lo, hi, points)
    vals = np.nan_to_num(f(grid), nan=0.0)
    i = int(np.argmax(vals))
    res = minimize_scalar(lambda t: -float(f(t)), bounds=(grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]),
                          method="bounded")
    return float(max(vals[i], -res.fun))


def _profile_ratio(kind: str, theta1, alpha, printed: bool):
    """Largest ratio for base angle theta1 and perturbation angle alpha: the reachable angles to w2
    are [|theta1-alpha|, min(theta1+alpha, 2pi-theta1-alpha)] and the profile is monotone."""
    f1 = arccos_profile(kind, theta1)
    lo = arccos_profile(kind, np.abs(theta1 - alpha))
    hi = arccos_profile(kind, np.minimum(theta1 + alpha, 2 * np.pi - theta1 - alpha))
    diff = np.maximum(np.abs(lo - f1), np.abs(hi - f1))
    if printed:
        diff = np.maximum(diff - f1, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return diff / (f1 * 2 * np.sin(alpha / 2))


def profile_constant(kind: str, Theta: float, delta: float, *, printed: bool = False) -> float:
    """Zero-bias sup over angle(w,w1) <= Theta, ||w1-w2|| <= delta (unit rows) of the A2 ratio.

    Used form (Eq. 24) by default, printed form (Eq. 8) with ``printed=True``. A dense grid on
    (theta1, alpha) refined by L-BFGS-B; the local limit alpha -> 0 is included exactly.
    """
    if Theta >= math.pi:
        return math.inf
    amax = 2 * math.asin(min(delta / 2, 1.0))
    if amax <= 0:
        return 0.0
    t1 = np.linspace(0.0, Theta, 257)
    al = np.linspace(amax * 1e-4, amax, 257)
    T, A = np.meshgrid(t1, al, indexing="ij")
    # the kinks alpha = pi - theta1 (w2 antipodal to w) and alpha = theta1 (w2 = w) are candidates too
    kinks = np.clip(np.concatenate([np.pi - t1, t1]), amax * 1e-4, amax)
    T = np.concatenate([T.ravel(), t1, t1])
    A = np.concatenate([A.ravel(), kinks])
    R = np.nan_to_num(_profile_ratio(kind, T, A, printed), nan=0.0, posinf=0.0)
    i = int(np.argmax(R))
    neg = lambda z: -float(np.nan_to_num(_profile_ratio(kind, z[0], z[1], printed), nan=0.0))
    res = minimize(neg, x0=[T[i], A[i]], method="L-BFGS-B", bounds=[(0.0, Theta), (amax * 1e-6, amax)])
    return float(max(R[i], -res.fun))


# ----------------------------------------------------------------------------- regions
@dataclasses.dataclass(frozen=True)
class Region:
    """Caps {w : angle(w, centres[k]) <= radii[k]} on the unit sphere of augmented rows."""

    centres: np.ndarray  # (k, D), unit rows
    radii: np.ndarray  # (k,), radians
    bias: bool  # last column is the bias coordinate

    @classmethod
    def caps(cls, centres, theta0, *, bias: bool, radii=None) -> "Region":
        """Caps of half-angle ``theta0`` (or per-centre ``radii``) around the unit-normalised ``centres``."""
        c = unit_rows(centres, "w_star")
        if radii is None:
            r = np.full(c.shape[0], as_angle(theta0))
        else:
            r = np.asarray(radii, dtype=np.float64).reshape(-1)
            if r.shape[0] != c.shape[0] or np.any(~np.isfinite(r)) or np.any(r < 0) or np.any(r >= np.pi):
                raise InputError("radii: need one finite cap angle in [0, pi) per centre")
        if bias and c.shape[1] < 2:
            raise InputError("w_star: a bias coordinate needs at least 2 columns")
        return cls(c, r, bool(bias))


def self_constant(kind: str, radius: float, *, moving_base: bool, printed: bool = False) -> float:
    """Zero-bias sup over the self triples of one cap (alpha = angle(w, c) <= radius):
    (c, w -> c) if ``moving_base`` [Eq. 28], ratio |f(0) - f(alpha)| / (f(alpha) 2 sin(alpha/2)), or
    (c, c -> w) [d-bar, Eq. 55], ratio |f(0) - f(alpha)| / (f(0) 2 sin(alpha/2)); f = :func:`arccos_profile`."""
    if radius <= 0:
        return 0.0

    def ratio(alpha):
        f0, fa = arccos_profile(kind, 0.0), arccos_profile(kind, alpha)
        base = fa if moving_base else f0
        diff = np.abs(f0 - fa)
        if printed:
            diff = np.maximum(diff - base, 0.0)
        return diff / (base * 2 * np.sin(alpha / 2))

    return grid_sup(ratio, radius * 1e-6, radius, 1025)


def zero_bias_constant(kind: str, region: Region, *, printed: bool = False) -> float:
    """Zero-bias region constant: the max over the four triple families (module docstring).

    Self families: :func:`self_constant` (1-D, exact). Cross families (w_j, c_j' -> w_j') and
    (c_j', c_j -> w_j): the sup over base angles up to angle(c_j, c_j') + r_j (resp. exactly
    angle(c_j, c_j')) and perturbations up to 2 sin(r/2); attained at the largest base angle (the
    ratio grows with it), closed form for psi_d (:func:`kd_zero_bias`), :func:`profile_constant` otherwise.
    """
    ang, r = pair_angles(region.centres), region.radii
    pert = 2 * np.sin(r / 2)
    best = max(max(self_constant(kind, float(rj), moving_base=mb, printed=printed) for mb in (True, False))
               for rj in np.unique(r))
    cases = []
    k = len(r)
    for j in range(k):
        for jp in range(k):
            if j != jp:
                cases.append((min(math.pi, ang[j, jp] + r[j]), float(pert[jp])))  # (w_j, c_j' -> w_j')
                cases.append((float(ang[j, jp]), float(pert[j])))  # (c_j', c_j -> w_j)
    if kind == "d" and not printed:
        return float(max([best] + [kd_zero_bias(t, p) for t, p in cases if p > 0]))
    # the profile constant is non-decreasing in both arguments: evaluate only the dominating cases
    best_t = {}
    for t, p in cases:
        if p > 0:
            best_t[p] = max(best_t.get(p, 0.0), t)
    return float(max([best] + [profile_constant(kind, t, p, printed=printed) for p, t in best_t.items()]))


def paired_psi(kind: str, a: np.ndarray, b: np.ndarray, *, bias: bool, chunk: int = 16) -> np.ndarray:
    """psi(a_i, b_i) for paired rows, (N,): the diagonals of chunk x chunk kernel blocks."""
    out = np.empty(a.shape[0])
    for s in range(0, a.shape[0], chunk):
        out[s:s + chunk] = np.diagonal(psi(kind, a[s:s + chunk], b[s:s + chunk], bias=bias))
    return out


def ratio_arrays(kind: str, w, w1, w2, *, bias: bool) -> tuple[np.ndarray, np.ndarray]:
    """(used-form, printed-form) ratios for paired triples (N, D) each:
    |psi(w,w1) - psi(w,w2)| / (psi(w,w1) ||w1-w2||) and (|..| - psi(w,w1))_+ / (psi(w,w1) ||w1-w2||)."""
    w, w1, w2 = (np.atleast_2d(x) for x in (w, w1, w2))
    dist = np.linalg.norm(w1 - w2, axis=1)
    p1 = paired_psi(kind, w, w1, bias=bias)
    p2 = paired_psi(kind, w, w2, bias=bias)
    diff = np.abs(p1 - p2)
    with np.errstate(divide="ignore", invalid="ignore"):
        used = np.where(dist > 0, diff / (p1 * dist), 0.0)
        printed = np.where(dist > 0, np.maximum(diff - p1, 0.0) / (p1 * dist), 0.0)
    return np.nan_to_num(used, nan=0.0), np.nan_to_num(printed, nan=0.0)


@dataclasses.dataclass(frozen=True)
class KEstimate:
    """A region constant of Assumption 2: ``K`` (used form, Eq. 24) and ``K_printed`` (Eq. 8)."""

    kind: str  # "d" or "l"
    K: float
    K_printed: float
    method: str  # "exact zero-bias closed form" | "search (lower bound on the sup)"
    evaluations: int = 0


def _triple_family(region: Region, fam: int, j: int, jp: int):
    """Build a triple from free cap points (x = w_j, y = w_j') for triple family ``fam`` (module docstring)."""
    c = region.centres
    if fam == 0:
        return lambda x, y: (x, c[jp], y)
    if fam == 1:
        return lambda x, y: (c[jp], c[j], x)
    if fam == 2:
        return lambda x, y: (c[j], x, c[j])
    return lambda x, y: (c[j], c[j], x)


def _boundary_points(centre: np.ndarray, radius: float, targets: list, count: int = 8) -> list:
    """Cap-boundary points in the tangent plane spanned by the directions to ``targets`` (towards the
    first target, towards the second, and ``count`` mixtures around the circle)."""
    basis = []
    for t in targets:
        v = t - (t @ centre) * centre
        for e in basis:
            v = v - (v @ e) * e
        if np.linalg.norm(v) > 1e-9:
            basis.append(v / np.linalg.norm(v))
    if not basis:
        return [centre.copy()]
    if len(basis) == 1:
        dirs = [basis[0], -basis[0]]
    else:
        phis = 2 * np.pi * np.arange(count) / count
        dirs = [math.cos(p) * basis[0] + math.sin(p) * basis[1] for p in phis]
    return [math.cos(radius) * centre + math.sin(radius) * d for d in dirs]


def _structured_samples(region: Region, rng: np.random.Generator, max_pairs: int = 12):
    """Extreme triples: free students on their cap boundaries, moved in the plane of two centres and
    the bias axis (where the zero-bias supremum sits); (family, j, j', x, y) tuples."""
    c, r, k = region.centres, region.radii, region.centres.shape[0]
    axes = [np.eye(c.shape[1])[-1]] if region.bias else []
    pairs = [(a, b) for a in range(k) for b in range(k) if a != b] or [(a, a) for a in range(k)]
    out = []
    for p in rng.permutation(len(pairs))[:max_pairs]:
        a, b = pairs[p]
        xs = _boundary_points(c[a], r[a], [c[b]] + axes)
        ys = _boundary_points(c[b], r[b], [c[a]] + axes)
        for f in ((0, 1, 2, 3) if a != b else (2, 3)):
            out.extend((f, a, b, x, y) for x in xs for y in (ys if f == 0 else ys[:1]))
    return out


def search_constant(kind: str, region: Region, *, samples: int = 256, starts: int = 2, maxfev: int = 100,
                    seed: int = 0) -> KEstimate:
    """Sampled + Nelder-Mead estimate of the region constant (used and printed forms).

    ``samples`` random triples over the four families (half of the free students on the cap
    boundary) plus extreme planar/bias-axis triples, then Nelder-Mead from the ``starts`` best
    ones. A LOWER bound on the supremum.
    """
    rng = np.random.default_rng(seed)
    c, r, k = region.centres, region.radii, region.centres.shape[0]
    cand = _structured_samples(region, rng)
    for _ in range(samples):
        f = int(rng.integers(0, 4)) if k > 1 else int(rng.integers(2, 4))
        a = int(rng.integers(k))
        b = int((a + rng.integers(1, k)) % k) if k > 1 else a
        x, y = cap_points(c[[a, b]], r[[a, b]], rng)
        cand.append((f, a, b, x, y))
    triples = [_triple_family(region, f, a, b)(x, y) for f, a, b, x, y in cand]
    used, printed = ratio_arrays(kind, *(np.array(t) for t in zip(*triples)), bias=region.bias)
    evals, best, best_printed = len(cand), float(used.max()), float(printed.max())
    if not math.isfinite(best):
        return KEstimate(kind, math.inf, math.inf, "search (lower bound on the sup)", evals)
    D = c.shape[1]
    for s in np.argsort(-used)[:starts]:
        f, a, b, x, y = cand[s]
        build = _triple_family(region, f, a, b)
        seen = [0.0]

        def neg(z, build=build, a=a, b=b):
            u, p = ratio_arrays(kind, *build(cap_point(c[a], r[a], z[:D]), cap_point(c[b], r[b], z[D:])),
                                bias=region.bias)
            seen[0] = max(seen[0], float(p[0]))
            return -float(u[0]) if math.isfinite(u[0]) else -1e12

        z0 = np.concatenate([inverse_cap_point(c[a], r[a], x), inverse_cap_point(c[b], r[b], y)])
        res = minimize(neg, z0, method="Nelder-Mead", options={"maxfev": maxfev, "xatol": 1e-10, "fatol": 1e-12})
        evals += int(res.nfev)
        best = max(best, -float(res.fun))
        best_printed = max(best_printed, seen[0])
    return KEstimate(kind, best, best_printed, "search (lower bound on the sup)", evals)


def region_constant(kind: str, region: Region, *, samples: int = 256, seed: int = 0) -> KEstimate:
    """K_d (kind "d") or K_l ("l") over ``region``: exact for zero bias, a search otherwise (memoised)."""
    if kind not in ("d", "l"):
        raise InputError(f"kind: expected 'd' or 'l', got {kind!r}")
    c = np.ascontiguousarray(region.centres)
    r = np.ascontiguousarray(region.radii)
    return _region_constant(kind, c.tobytes(), c.shape, r.tobytes(), region.bias, int(samples), int(seed))


@functools.lru_cache(maxsize=128)
def _region_constant(kind, centres, shape, radii, bias, samples, seed) -> KEstimate:
    region = Region(np.frombuffer(centres).reshape(shape), np.frombuffer(radii), bias)
    if not bias:
        return KEstimate(kind, zero_bias_constant(kind, region), zero_bias_constant(kind, region, printed=True),
                         "exact zero-bias closed form")
    return search_constant(kind, region, samples=samples, seed=seed)


# ----------------------------------------------------------------------------- the check
def check(setup) -> Verdict:
    """Assumption 2 on the caps of half-angle ``setup.theta0_deg`` around the setup's first-layer teachers."""
    theta0 = setup.theta0
    rows = setup.teacher_rows()
    region = Region.caps(rows, theta0, bias=setup.bias)
    kd = region_constant("d", region, seed=setup.seed)
    kl = region_constant("l", region, seed=setup.seed)
    form = "printed (Eq. 8)" if setup.paper_mode else "used (Eq. 24)"
    value = kd.K_printed if setup.paper_mode else kd.K
    return Verdict(
        name="assumption2",
        statement="|psi(w,w1)-psi(w,w2)| <= K psi(w,w1) ||w1-w2|| with finite K_d, K_l on the teacher caps",
        kind="assumption",
        holds=bool(math.isfinite(kd.K) and math.isfinite(kl.K)),
        value=value,
        details={
            "form": form, "K_d": kd.K, "K_l": kl.K, "K_d_printed": kd.K_printed, "K_l_printed": kl.K_printed,
            "method": kd.method, "theta0_deg": setup.theta0_deg, "teachers": rows.shape[0], "sigma": setup.sigma,
            "evaluations": kd.evaluations + kl.evaluations,
        },
    )
