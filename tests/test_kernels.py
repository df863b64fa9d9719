"""Closed-form Gaussian kernels (theory/kernels.py): identities, bounds, references, bad input."""
import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.special import ndtr, owens_t

from luckbench.errors import InputError
from luckbench.theory import kernels as K

PAIRWISE = (K.psi_d, K.psi_l, K.gate_relu)


# ----------------------------------------------------------------------------- strategies
@st.composite
def layers(draw, with_bias=True):
    """Two random layers (w1, w2, b1, b2, sigma) sharing d; biases up to ~3 standard deviations."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    d = draw(st.integers(1, 6))
    n1, n2 = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sigma = draw(st.floats(0.1, 10.0))
    w1 = rng.standard_normal((n1, d)) * np.exp(rng.uniform(-1, 1, (n1, 1)))
    w2 = rng.standard_normal((n2, d)) * np.exp(rng.uniform(-1, 1, (n2, 1)))
    if draw(st.booleans()):  # a near-parallel or antipodal pair
        w2[0] = draw(st.sampled_from([1.0, -1.0])) * w1[0] * 1.3 + 1e-7 * rng.standard_normal(d)
    if not with_bias or draw(st.integers(0, 4)) == 0:
        return w1, w2, None, None, sigma
    b1 = rng.uniform(-3, 3, n1) * sigma * np.linalg.norm(w1, axis=1)
    b2 = rng.uniform(-3, 3, n2) * sigma * np.linalg.norm(w2, axis=1)
    return w1, w2, b1, b2, sigma


def std_bias(w, b, sigma):
    return (np.zeros(len(w)) if b is None else b) / (sigma * np.linalg.norm(w, axis=1))


# ----------------------------------------------------------------------------- properties
@given(layers())
def test_symmetry(args):
    w1, w2, b1, b2, s = args
    for f in (K.psi_d, K.psi_l):
        np.testing.assert_allclose(f(w1, w2, b1, b2, s), f(w2, w1, b2, b1, s).T, rtol=1e-12, atol=1e-300)


@given(layers())
def test_psi_d_bounded_by_marginals(args):
    w1, w2, b1, b2, s = args
    d = K.psi_d(w1, w2, b1, b2, s)
    marg = np.minimum(ndtr(std_bias(w1, b1, s))[:, None], ndtr(std_bias(w2, b2, s))[None, :])
    assert np.all(d >= 0)
    assert np.all(d <= marg * (1 + 1e-12))


@given(layers())
def test_cauchy_schwarz(args):
    w1, w2, b1, b2, s = args
    lab = K.psi_l(w1, w2, b1, b2, s)
    laa = np.diag(K.psi_l(w1, w1, b1, b1, s))
    lbb = np.diag(K.psi_l(w2, w2, b2, b2, s))
    assert np.all(lab >= 0)
    assert np.all(lab**2 <= laa[:, None] * lbb[None, :] * (1 + 1e-11))


@given(layers(), st.floats(0.05, 20.0), st.floats(0.05, 20.0))
def test_scaling(args, c1, c2):
    """Rescaled inputs are rounded, so near-parallel pairs move by ~1e-16 / angle: rtol 1e-9 plus 1e-12 abs."""
    w1, w2, b1, b2, s = args
    sb1 = None if b1 is None else c1 * b1
    sb2 = None if b2 is None else c2 * b2
    unit = s**2 * np.linalg.norm(w1, axis=1)[:, None] * np.linalg.norm(w2, axis=1)[None, :]
    # psi_d is invariant to positive rescaling of (w, b); psi_l is homogeneous of degree 1 in each
    np.testing.assert_allclose(K.psi_d(c1 * w1, c2 * w2, sb1, sb2, s), K.psi_d(w1, w2, b1, b2, s), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_less(
        np.abs(K.psi_l(c1 * w1, c2 * w2, sb1, sb2, s) / (c1 * c2) - K.psi_l(w1, w2, b1, b2, s)),
        1e-9 * K.psi_l(w1, w2, b1, b2, s) + 1e-12 * unit,
    )
    # x = sigma y: psi(w, b; sigma) = psi(w, b / sigma; 1) and psi_l picks up sigma^2
    ub1 = None if b1 is None else b1 / s
    ub2 = None if b2 is None else b2 / s
    np.testing.assert_allclose(K.psi_d(w1, w2, b1, b2, s), K.psi_d(w1, w2, ub1, ub2, 1.0), rtol=1e-11, atol=1e-300)
    np.testing.assert_allclose(K.psi_l(w1, w2, b1, b2, s), s**2 * K.psi_l(w1, w2, ub1, ub2, 1.0), rtol=1e-10, atol=1e-300)


@given(st.integers(-6, 6), st.integers(-6, 6), layers())
def test_scaling_by_powers_of_two_is_exact(e1, e2, args):
    """Scaling by 2^e is exact in floating point, so the kernels must scale to rounding."""
    w1, w2, b1, b2, s = args
    c1, c2 = 2.0**e1, 2.0**e2
    sb1 = None if b1 is None else c1 * b1
    sb2 = None if b2 is None else c2 * b2
    np.testing.assert_allclose(K.psi_d(c1 * w1, c2 * w2, sb1, sb2, s), K.psi_d(w1, w2, b1, b2, s), rtol=1e-14)
    np.testing.assert_allclose(K.psi_l(c1 * w1, c2 * w2, sb1, sb2, s), c1 * c2 * K.psi_l(w1, w2, b1, b2, s), rtol=1e-14)


@given(layers(with_bias=False))
def test_zero_bias_limit_of_bias_form(args):
    w1, w2, _, _, s = args
    z1, z2 = np.zeros(len(w1)), np.zeros(len(w2))
    for f in (K.psi_d, K.psi_l):
        exact = f(w1, w2, None, None, s)
        unit = s**2 * np.linalg.norm(w1, axis=1)[:, None] * np.linalg.norm(w2, axis=1)[None, :]
        # contract: 1e-12 relative where the value exceeds 1e-12 (near-antipodal psi_l ~ angle^3 is below)
        np.testing.assert_allclose(f(w1, w2, z1, z2, s), exact, rtol=1e-12, atol=1e-12 * max(1.0, unit.max()))
        # continuity in b: a 1e-14 bias moves the value by O(1e-14) (antipodal pairs go from 0 to ~1e-14)
        tiny = f(w1, w2, z1 + 1e-14, z2 - 1e-14, s)
        np.testing.assert_allclose(tiny, exact, rtol=1e-12, atol=1e-12 * max(1.0, unit.max()))


@settings(max_examples=15)
@given(layers())
def test_stein_companion_is_gradient_of_psi_l(args):
    """d psi_l / d w1 = E[1(u1>0) relu(u2) x] and d psi_l / d b1 = E[1(u1>0) relu(u2)] (central differences)."""
    w1, w2, b1, b2, s = args
    b1 = np.zeros(len(w1)) if b1 is None else b1
    b2 = np.zeros(len(w2)) if b2 is None else b2
    stein = K.gate_relu_x(w1, w2, b1, b2, s)
    scale = np.abs(stein).max() + K.psi_l(w1, w2, b1, b2, s).max() / np.abs(w1).max()
    step = 1e-6 * np.abs(w1).max()
    for c in range(w1.shape[1]):
        e = np.zeros_like(w1)
        e[:, c] = step
        fd = (K.psi_l(w1 + e, w2, b1, b2, s) - K.psi_l(w1 - e, w2, b1, b2, s)) / (2 * step)
        # one perturbation moves every row of w1, but row i only affects row i of the result
        np.testing.assert_allclose(fd, stein[:, :, c], atol=1e-6 * scale)
    hb = 1e-6 * s * np.linalg.norm(w1, axis=1).max()
    fd_b = (K.psi_l(w1, w2, b1 + hb, b2, s) - K.psi_l(w1, w2, b1 - hb, b2, s)) / (2 * hb)
    np.testing.assert_allclose(fd_b, K.gate_relu(w1, w2, b1, b2, s), atol=1e-6 * (scale * s + 1))


def test_single_unit_moments_and_self_pairs():
    rng = np.random.default_rng(7)
    w = rng.standard_normal((6, 5))
    b = np.array([-40.0, -6.0, -1.0, 0.0, 2.0, 9.0]) * 3 * np.linalg.norm(w, axis=1)
    a = b / (3 * np.linalg.norm(w, axis=1))
    mp.mp.dps = 30
    for i, ai in enumerate(a):
        s1 = 3 * np.linalg.norm(w[i])
        gm = float(mp.ncdf(ai))
        rm = float(s1 * (ai * mp.ncdf(ai) + mp.npdf(ai)))
        self_term = float(s1**2 * ((1 + mp.mpf(ai) ** 2) * mp.ncdf(ai) + ai * mp.npdf(ai)))
        assert K.gate_mean(w, b, 3.0)[i] == pytest.approx(gm, rel=1e-12, abs=1e-300)
        assert K.relu_mean(w, b, 3.0)[i] == pytest.approx(rm, rel=1e-10, abs=1e-300)
        assert np.diag(K.psi_d(w, w, b, b, 3.0))[i] == pytest.approx(gm, rel=1e-12, abs=1e-300)
        assert np.diag(K.psi_l(w, w, b, b, 3.0))[i] == pytest.approx(self_term, rel=1e-10, abs=1e-300)
        # E[1(u > 0) relu(u)] = E[relu(u)]
        assert np.diag(K.gate_relu(w, w, b, b, 3.0))[i] == pytest.approx(rm, rel=1e-10, abs=1e-300)


# ----------------------------------------------------------------------------- Owen's T and the two Phi2 forms
@given(st.floats(-8, 8), st.floats(-50, 50))
def test_owens_t_identities(hh, aa):
    assert owens_t(hh, 1.0) == pytest.approx(ndtr(hh) * ndtr(-hh) / 2, rel=1e-12, abs=1e-300)
    assert owens_t(hh, 0.0) == 0.0
    assert owens_t(0.0, aa) == pytest.approx(math.atan(aa) / (2 * math.pi), rel=1e-13, abs=1e-300)
    assert owens_t(hh, -aa) == -owens_t(hh, aa)


@given(st.floats(-6, 6), st.floats(-6, 6), st.floats(-0.92, 0.92))
def test_owen_and_genz_forms_agree(hh, kk, rr):
    """Two independent closed forms of Phi2 agree wherever both are well conditioned."""
    h, k, rho = np.array([hh]), np.array([kk]), np.array([rr])
    owen, owen_mag = K._owen_phi2(h, k, rho, np.sqrt((1 - rho) * (1 + rho)), 1 - rho, 1 + rho)
    genz, genz_mag = K._genz_phi2(h, k, rho)
    if owen_mag[0] < 1e3 * owen[0] and genz_mag[0] < 1e3 * genz[0]:
        np.testing.assert_allclose(owen, genz, rtol=1e-11)
    else:
        np.testing.assert_allclose(owen, genz, rtol=0, atol=1e-14)
    if rr == 0:  # independence, through the repaired public path
        repaired = K._phi2(h, k, rho, np.ones(1), np.ones(1), np.ones(1))
        np.testing.assert_allclose(repaired, ndtr(hh) * ndtr(kk), rtol=1e-12)


def test_genz_node_counts_converged():
    """The banded Gauss-Legendre rules match a 64-node rule to 1e-11 relative where well conditioned."""
    rng = np.random.default_rng(11)
    n = 30_000
    h, k = rng.uniform(-40, 40, n), rng.uniform(-40, 40, n)
    h[: n // 2], k[: n // 2] = rng.uniform(-8, 8, n // 2), rng.uniform(-8, 8, n // 2)
    rho = rng.uniform(-0.925, 0.925, n)
    val, mag = K._genz_phi2(h, k, rho)
    nodes, weights = np.polynomial.legendre.leggauss(64)
    half = 0.5 * np.arcsin(rho)
    sn = np.sin(half[:, None] * (1 + nodes))
    ref = ndtr(h) * ndtr(k) + half * (
        np.exp((sn * (h * k)[:, None] - (0.5 * (h * h + k * k))[:, None]) / (1 - sn * sn)) @ weights
    ) / (2 * math.pi)
    ok = (mag <= 1e3 * val) & (ref > 1e-12)
    assert ok.sum() > n // 3
    np.testing.assert_allclose(val[ok], ref[ok], rtol=1e-11)


# ----------------------------------------------------------------------------- references
def _scipy_quad(h, k, rho, p, q):
    """int_{-h}^oo phi(z) (z + h)^p H_q((k + rho z) / r) dz with scipy.integrate.quad (double precision)."""
    r = math.sqrt(1 - rho * rho)

    def inner(t):
        return ndtr(t) if q == 0 else r * (t * ndtr(t) + math.exp(-t * t / 2) / math.sqrt(2 * math.pi))

    def f(z):
        return math.exp(-z * z / 2) / math.sqrt(2 * math.pi) * (z + h) ** p * inner((k + rho * z) / r)

    pts = [-h, -h + 40] if rho == 0 else sorted({-h, max(-h, -k / rho), -h + 40})
    return sum(integrate.quad(f, lo, hi, epsabs=0, epsrel=1e-13, limit=200)[0] for lo, hi in zip(pts, pts[1:]))


@given(st.floats(-4, 4), st.floats(-4, 4), st.floats(-0.99, 0.99))
def test_agrees_with_1d_quadrature(hh, kk, rr):
    h, k, rho = (np.array([x]) for x in (hh, kk, rr))
    r, om, op = np.sqrt((1 - rho) * (1 + rho)), 1 - rho, 1 + rho
    phi2 = K._phi2(h, k, rho, r, om, op)
    got = {
        (0, 0): phi2[0],
        (1, 1): K._moment(h, k, rho, r, om, op, phi2)[0],
        (0, 1): K._gate_relu_std(h, k, rho, r, om, op, phi2)[0],
    }
    for pq, val in got.items():
        ref = _scipy_quad(hh, kk, rr, *pq)
        assert val == pytest.approx(ref, rel=1e-9, abs=1e-15)


def _mp_ref(h, k, rho, r, p, q, near_edge=()):
    """The same integral at 30 digits with mpmath (independent reference, breakpoints at the kink and
    at -h + c for c in ``near_edge``, where deep-tail integrands fall steeply)."""
    h, k, rho, r = (mp.mpf(x) for x in (h, k, rho, r))

    def f(z):
        num = k + rho * z
        if r == 0:
            inner = (1 if num > 0 else 0) if q == 0 else max(num, 0)
        else:
            t = num / r
            inner = mp.ncdf(t) if q == 0 else r * (t * mp.ncdf(t) + mp.npdf(t))
        return mp.npdf(z) * (z + h) ** p * inner

    pts = [-h] + [-h + c for c in near_edge]
    if rho != 0:
        w = r / abs(rho)
        pts += [-k / rho + c * w for c in (-16, -4, -1, 0, 1, 4, 16) if -k / rho + c * w > -h]
    return mp.quad(f, sorted(set(pts)) + [mp.inf])


HARD = [  # (h, k, rho): deep tails, rho near +-1, huge |a|, the origin, mixed signs
    (-7.0, -7.0, 0.999),
    (-7.0, -7.0, -0.2),
    (-6.5, -2.0, 0.3),
    (5.0, -6.9, -0.999999),
    (-2.0, -2.0, -1 + 1e-12),
    (-3.0, 3.0, -1 + 1e-14),
    (0.0, 0.0, 0.3),
    (0.0, 2.0, -0.5),
    (-3.0, 0.0, -0.9),
    (1e6, -5.0, 0.7),
    (-1e6, 5.0, 0.7),
    (-5.0, -5.5, 1 - 1e-15),
    (-6.0, -6.0, 0.0),
    (2.0, 1.0, -0.95),
    (-4.0, -4.0, -0.99),
]


@pytest.mark.parametrize("h,k,rho", HARD)
def test_deep_tail_relative_accuracy_against_mpmath(h, k, rho):
    mp.mp.dps = 30
    r = math.sqrt((1 - rho) * (1 + rho))
    args = [np.array([x]) for x in (h, k, rho, r, 1 - rho, 1 + rho)]
    phi2 = K._phi2(*args)
    got = {
        (0, 0): phi2[0],
        (1, 1): K._moment(*args, phi2)[0],
        (0, 1): K._gate_relu_std(*args, phi2)[0],
    }
    for pq, val in got.items():
        ref = float(_mp_ref(h, k, rho, r, *pq))
        if ref > 1e-12:
            assert abs(val - ref) <= 1e-9 * ref, (pq, val, ref)
        else:
            assert abs(val) <= 1e-12


@pytest.mark.parametrize("rho", [1.0, -1.0])
@pytest.mark.parametrize("h,k", [(-7.0, -6.5), (0.5, -0.8), (6.0, -5.5), (0.0, 0.0), (-3.0, 3.2)])
def test_degenerate_rho_pm1_against_mpmath(h, k, rho):
    """Exactly parallel/antipodal rows: rho = +-1, r = 0."""
    mp.mp.dps = 30
    w = np.array([[0.6, 0.8]])
    s1 = 1.0
    val_d = K.psi_d(w, rho * w, np.array([h * s1]), np.array([k * s1]))[0, 0]
    val_l = K.psi_l(w, rho * w, np.array([h * s1]), np.array([k * s1]))[0, 0]
    val_n = K.gate_relu(w, rho * w, np.array([h * s1]), np.array([k * s1]))[0, 0]
    lo = max(-h, -k) if rho > 0 else -h
    hi = mp.inf if rho > 0 else k
    ref = {}
    if hi > lo:
        zr = (lambda z: rho * z + k)
        ref["d"] = mp.quad(mp.npdf, [lo, hi])
        ref["l"] = mp.quad(lambda z: mp.npdf(z) * (z + h) * zr(z), [lo, hi])
        ref["n"] = mp.quad(lambda z: mp.npdf(z) * zr(z), [lo, hi])
    for key, val in (("d", val_d), ("l", val_l), ("n", val_n)):
        exact = float(ref.get(key, 0.0))
        if exact > 1e-12:
            assert abs(val - exact) <= 1e-9 * exact, (key, val, exact)
        else:
            assert abs(val) <= 1e-12


def test_near_parallel_rows_keep_relative_precision():
    """Angles of 1e-9 rad between rows: 1 - rho and r come from explicit differences, not the Gram matrix."""
    mp.mp.dps = 40
    u = np.array([[1.0, 0.0, 0.0]])
    for ang in (1e-9, 1e-6, 1e-3):
        v = np.array([[math.cos(ang), math.sin(ang), 0.0]])
        for b1, b2 in ((0.3, 0.1), (-2.0, -2.0), (-5.0, -4.0)):
            val = K.psi_d(u, v, np.array([b1]), np.array([b2]))[0, 0]
            rho, r = mp.cos(mp.mpf(ang)), mp.sin(mp.mpf(ang))
            ref = float(_mp_ref(b1, b2, rho, r, 0, 0))
            assert abs(val - ref) <= 1e-9 * ref, (ang, b1, b2, val, ref)
        # zero bias: (pi - theta) / (2 pi) and the arc-cosine psi_l to full precision
        assert K.psi_d(u, v)[0, 0] == pytest.approx((math.pi - ang) / (2 * math.pi), rel=1e-14)
        g = float(mp.sin(ang) + (mp.pi - ang) * mp.cos(ang))
        assert K.psi_l(u, -v)[0, 0] == pytest.approx(
            float(mp.sin(mp.pi - ang) + ang * mp.cos(mp.pi - ang)) / (2 * math.pi), rel=1e-9
        )
        assert K.psi_l(u, v)[0, 0] == pytest.approx(g / (2 * math.pi), rel=1e-14)


# ----------------------------------------------------------------------------- vectorised deep-tail batches
def _plane_rows(angles):
    return np.stack([np.cos(angles), np.sin(angles), np.zeros(len(angles))], axis=1)


# rows of w2 near-parallel (1e-9, 1e-6 rad) and near-antipodal (1e-8 rad) to rows of w1
BATCH_W1 = _plane_rows(np.array([0.0, 0.7]))
BATCH_W2 = _plane_rows(np.array([1e-9, 0.7 + 1e-6, math.pi - 1e-8])) * np.array([[1.0], [2.0], [0.5]])
BATCHES = {  # standardised biases (a1, a2): all in the deep tail, or mixed so that only some need quadrature
    "deep": (np.array([-3.0, -7.0]), np.array([-7.0, -3.0, -5.0])),
    "mixed": (np.array([-7.0, -0.3]), np.array([-6.5, 0.5, -2.0])),
}


DEEP_EDGE = tuple(1e-3 * 2.0**i for i in range(14))  # geometric breakpoints 1e-3 ... 8.2 beyond -h


def _batch_reference(w1, w2, a1, a2):
    """psi_d, psi_l, gate_relu per pair at 30 digits, from the exact float64 rows (sigma = 1); the
    dense breakpoints near -h make mpmath converge to 1e-11 on integrands of size 1e-111."""
    mp.mp.dps = 30
    ref = {name: np.empty((len(w1), len(w2))) for name in ("psi_d", "psi_l", "gate_relu")}
    for i, u in enumerate(w1):
        for j, v in enumerate(w2):
            nu = mp.sqrt(mp.fsum(mp.mpf(x) ** 2 for x in u))
            nv = mp.sqrt(mp.fsum(mp.mpf(x) ** 2 for x in v))
            rho = mp.fsum(mp.mpf(x) * mp.mpf(y) for x, y in zip(u, v)) / (nu * nv)
            r = mp.sqrt((1 - rho) * (1 + rho))
            h, k = a1[i], a2[j]
            ref["psi_d"][i, j] = float(_mp_ref(h, k, rho, r, 0, 0, DEEP_EDGE))
            ref["psi_l"][i, j] = float(nu * nv * _mp_ref(h, k, rho, r, 1, 1, DEEP_EDGE))
            ref["gate_relu"][i, j] = float(nv * _mp_ref(h, k, rho, r, 0, 1, DEEP_EDGE))
    return ref


@pytest.mark.parametrize("batch", sorted(BATCHES))
def test_deep_tail_batch_against_mpmath(batch, monkeypatch):
    """Every entry of a batch evaluated together (deep tails, rho within 1e-18 of +-1) is within 1e-9
    relative of 30-digit mpmath; in the mixed batch only some entries go through the quadrature."""
    a1, a2 = BATCHES[batch]
    n1, n2 = np.linalg.norm(BATCH_W1, axis=1), np.linalg.norm(BATCH_W2, axis=1)
    b1, b2 = a1 * n1, a2 * n2
    sizes = []
    quad = K._quad
    monkeypatch.setattr(K, "_quad", lambda h, *rest, **kw: sizes.append(h.size) or quad(h, *rest, **kw))
    got = {f.__name__: f(BATCH_W1, BATCH_W2, b1, b2) for f in PAIRWISE}
    ref = _batch_reference(BATCH_W1, BATCH_W2, b1 / n1, b2 / n2)
    for name, val in got.items():
        tiny = ref[name] <= 1e-300  # antipodal rows with both biases negative: both units can't be on
        assert np.count_nonzero(tiny) <= 1, name
        np.testing.assert_allclose(val[~tiny], ref[name][~tiny], rtol=1e-9, atol=0, err_msg=name)
        assert np.all(np.abs(val[tiny]) <= 1e-300), name
    pairs = n1.size * n2.size
    assert sizes, "no entry went through the quadrature"
    if batch == "mixed":
        assert all(size < pairs for size in sizes), sizes
    else:
        assert max(sizes) > 1, sizes


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_equals_entrywise(seed):
    """A batch of deep-tail and ordinary entries gives each entry what it gives alone: the vectorised
    mode, drop-point and panel iterations keep every entry's own stopping rule and indices."""
    rng = np.random.default_rng(seed)
    w1, w2 = rng.standard_normal((6, 3)), rng.standard_normal((5, 3))
    w2[0] = w1[0] + 1e-8 * rng.standard_normal(3)
    w2[1] = -w1[1] + 1e-11 * rng.standard_normal(3)
    b1 = rng.uniform(-9, 1, 6) * np.linalg.norm(w1, axis=1)
    b2 = rng.uniform(-9, 1, 5) * np.linalg.norm(w2, axis=1)
    for f in PAIRWISE:
        batch = f(w1, w2, b1, b2)
        alone = np.array([[f(w1[i : i + 1], w2[j : j + 1], b1[i : i + 1], b2[j : j + 1])[0, 0] for j in range(5)] for i in range(6)])
        # 1e-12: the Gram products of a batch and of one pair round differently (BLAS), nothing more
        np.testing.assert_allclose(batch, alone, rtol=1e-12, atol=0, err_msg=f.__name__)


# ----------------------------------------------------------------------------- values printed in docs/math.md
def test_math_md_reference_values():
    """Values in docs/math.md that are fully determined by their stated inputs."""
    eye = np.eye(3)
    # sec. 3(ii): orthogonal teachers, zero bias: eps_d = 1/2, eps_l = 1/pi for any sigma
    d, l = K.psi_d(eye, eye), K.psi_l(eye, eye, sigma=10.0)
    assert d[0, 1] / d[0, 0] == pytest.approx(0.5, rel=1e-15)
    assert l[0, 1] / l[0, 0] == pytest.approx(1 / math.pi, rel=1e-14)
    # orthogonal teachers with standardised bias a: eps_d = Phi(a) = 0.31, 0.16, 0.023, 0.0013
    for a, printed in ((-0.5, 0.31), (-1.0, 0.16), (-2.0, 0.023), (-3.0, 0.0013)):
        d = K.psi_d(eye, eye, np.full(3, a), np.full(3, a))
        assert float(f"{d[0, 1] / d[0, 0]:.2g}") == printed
    # sec. 2, Lemma 4: C0(theta0) = sup_{theta <= theta0} (l_jj - l*_jj) / (l*_jj |dw|^2)
    for deg, printed in ((30, 0.505), (60, 0.642), (90, 1.071), (120, 2.72), (150, 17.8)):
        th = np.linspace(1e-3, math.radians(deg), 4000)
        w_star = np.stack([np.cos(th), np.sin(th)], axis=1)
        w = np.array([[1.0, 0.0]])
        l_star = K.psi_l(w, w_star)[0]
        l_self = K.psi_l(w, w)[0, 0]
        c0 = np.max((l_self - l_star) / (l_star * 4 * np.sin(th / 2) ** 2))
        assert float(f"{c0:.{len(str(printed).replace('.', '').lstrip('0'))}g}") == printed
    # sec. 2, Theorem 4: exact min psi_d on a 5-degree cap = (pi - theta0)/(2 pi) = 0.486
    cap = K.psi_d(np.array([[1.0, 0.0]]), np.array([[math.cos(math.radians(5)), math.sin(math.radians(5))]]))
    assert round(float(cap[0, 0]), 3) == 0.486


@pytest.mark.parametrize("bias", [[1e99, -1e99, 0.0], [1e10, -1e10, 5.0], [-40.0, -40.0, -40.0], [-8.0, 8.0, -8.0]])
def test_extreme_biases_stay_finite_and_bounded(bias):
    """Huge |a| and a near-antipodal pair (r ~ 1e-9): finite values, 0 <= psi_d <= 1, no warnings."""
    w = np.array([[1.0, 0.0], [0.6, 0.8], [-1.0, 1e-9]])
    b = np.array(bias)
    with np.errstate(over="raise", invalid="raise"):
        d = K.psi_d(w, w, b, b)
        ell = K.psi_l(w, w, b, b)
        n = K.gate_relu(w, w, b, b)
        x = K.gate_relu_x(w, w, b, b)
    assert np.all(np.isfinite(ell)) and np.all(np.isfinite(n)) and np.all(np.isfinite(x))
    assert np.all((d >= 0) & (d <= 1)) and np.all(ell >= 0) and np.all(n >= 0)
    a = b / np.linalg.norm(w, axis=1)
    np.testing.assert_allclose(np.diag(d), ndtr(a), rtol=1e-12)


# ----------------------------------------------------------------------------- bad input
W = np.ones((2, 3))


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda f: f(np.ones((2, 3)), np.ones((2, 4))), "w2"),
        (lambda f: f(np.array([[np.nan, 1, 1]]), W), "w1"),
        (lambda f: f(W, np.array([[np.inf, 1, 1]])), "w2"),
        (lambda f: f(np.array([[0.0, 0, 0], [1, 1, 1]]), W), "w1"),
        (lambda f: f(W, W, np.ones(3), np.ones(2)), "b1"),
        (lambda f: f(W, W, np.ones(2), np.array([1.0, np.nan])), "b2"),
        (lambda f: f(W, W, sigma=-1.0), "sigma"),
        (lambda f: f(W, W, sigma=0.0), "sigma"),
        (lambda f: f(W, W, sigma=float("inf")), "sigma"),
        (lambda f: f(np.ones(3), W), "w1"),
        (lambda f: f(W, W, np.ones(2), np.array([1.0, 1e300])), "b2"),
        (lambda f: f("abc", W), "w1"),
        (lambda f: f(W, [[1.0, 2.0, 3.0], [1.0]]), "w2"),
        (lambda f: f(W, W, ["x", "y"], np.ones(2)), "b1"),
        (lambda f: f(W, W, sigma="x"), "sigma"),
    ],
)
@pytest.mark.parametrize("f", PAIRWISE + (K.gate_relu_x,))
def test_bad_input_names_the_argument(f, call, name):
    with pytest.raises(InputError, match=name):
        call(f)
    assert issubclass(InputError, ValueError)


@pytest.mark.parametrize("f", [K.gate_mean, K.relu_mean])
def test_bad_input_single_unit(f):
    with pytest.raises(InputError, match="w"):
        f(np.zeros((1, 2)))
    with pytest.raises(InputError, match="b"):
        f(np.ones((1, 2)), np.ones(2))
    with pytest.raises(InputError, match="sigma"):
        f(np.ones((1, 2)), sigma=float("nan"))
