"""Lemmas 2-4: inequalities over random configurations, printed vs corrected forms, C0 values."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from luckbench.theory import geometry
from luckbench.theory import assumption2 as a2
from luckbench.theory import assumption3 as a3
from luckbench.theory import lemmas as L
from luckbench.theory.checks import CheckSetup

DEG = math.pi / 180


def _setting(seed, theta_deg, m=3, dim=5):
    rng = np.random.default_rng(seed)
    rows = geometry.unit_rows(rng.standard_normal((m, dim)))
    t0 = theta_deg * DEG
    region = a2.Region.caps(rows, t0, bias=False)
    K = {k: a2.region_constant(k, region).K for k in ("d", "l")}
    ov = a3.teacher_overlaps(rows, bias=False)
    return rng, rows, t0, K, {k: ov[k].eps for k in ("d", "l")}


@settings(max_examples=25)
@given(st.integers(0, 10 ** 6), st.floats(0.5, 30.0))
def test_lemma2_holds_zero_bias(seed, theta_deg):
    """Zero bias: K_d is exact, so Eqs. 19 and 20 (corrected) must hold for every configuration."""
    rng, rows, t0, K, eps = _setting(seed, theta_deg)
    w = geometry.cap_points(rows, t0, rng)
    for j, k in [(0, 1), (1, 2), (2, 0)]:
        t = L.pair_terms("d", w[j], w[k], rows[j], rows[k], bias=False)
        dp = L.delta_p_norm(t, w[k], rows[k])
        assert dp <= L.triangle_rhs(t) * (1 + 1e-12) + 1e-15
        assert dp <= L.eq19_rhs(t, K["d"]) * (1 + 1e-9) + 1e-15
        assert t.star_jk <= L.eq20_rhs(t, K["d"], eps["d"]) * (1 + 1e-9)


@settings(max_examples=15)
@given(st.integers(0, 10 ** 6), st.floats(0.5, 30.0), st.floats(-2.0, 1.0))
def test_lemma2_triangle_holds_with_bias(seed, theta_deg, a):
    """The unconditional step of Lemma 2 (Eq. 23) holds with a bias coordinate too."""
    rng = np.random.default_rng(seed)
    rows = geometry.unit_rows(np.concatenate([rng.standard_normal((2, 4)), np.full((2, 1), a)], axis=1))
    w = geometry.cap_points(rows, theta_deg * DEG, rng)
    t = L.pair_terms("d", w[0], w[1], rows[0], rows[1], bias=True)
    assert L.delta_p_norm(t, w[1], rows[1]) <= L.triangle_rhs(t) * (1 + 1e-12) + 1e-15


@settings(max_examples=25)
@given(st.integers(0, 10 ** 6), st.floats(0.5, 30.0), st.floats(0.0, 1.0))
def test_lemma3_holds_zero_bias(seed, theta_deg, dv):
    rng, rows, t0, K, eps = _setting(seed, theta_deg)
    w = geometry.cap_points(rows, t0, rng)
    vs = rng.standard_normal(4)
    v = vs + dv * rng.standard_normal(4)
    t = L.pair_terms("l", w[0], w[1], rows[0], rows[1], bias=False)
    assert L.delta_q_norm(t, v, vs) <= L.eq30_rhs(t, K["l"], v, vs) * (1 + 1e-9) + 1e-15
    assert t.star_jk <= L.eq20_rhs(t, K["l"], eps["l"]) * (1 + 1e-9)


def test_printed_eq30_fails_with_dv():
    """Printed Eq. 30 ignores dv: with w = w* and v != v*, its right side is 0 but ||Dq|| > 0."""
    rows = np.eye(3)[:2]
    t = L.pair_terms("l", rows[0], rows[1], rows[0], rows[1], bias=False)
    vs, v = np.array([1.0, 0.0]), np.array([0.5, 0.5])
    dq = L.delta_q_norm(t, v, vs)
    assert dq > 0.05
    assert L.eq30_rhs(t, 1.0, v, vs, paper_mode=True) == 0.0
    assert dq <= L.eq30_rhs(t, 1.0, v, vs) * (1 + 1e-12)


def test_printed_eq20_index_fails():
    """Orthogonal zero bias, w_k = w*_k and w_j turned by theta0 towards w*_k: the printed
    (1+K||dw_k||)(1+K||dw_j||) misses d*_jk, the corrected (1+K||dw_j||)^2 holds."""
    t0 = 5 * DEG
    rows = np.eye(3)[:2]
    K = a2.region_constant("d", a2.Region.caps(rows, t0, bias=False)).K
    wj = math.cos(t0) * rows[0] + math.sin(t0) * rows[1]
    t = L.pair_terms("d", wj, rows[1], rows[0], rows[1], bias=False)
    assert t.star_jk == pytest.approx((math.pi / 2 + t0) / (2 * math.pi), rel=1e-12)
    assert t.star_jk > L.eq20_rhs(t, K, 0.5, paper_mode=True)
    assert t.star_jk <= L.eq20_rhs(t, K, 0.5)


@pytest.mark.parametrize("deg, expected", [(30, 0.505), (60, 0.642), (90, 1.071), (120, 2.72), (150, 17.8)])
def test_c0_values(deg, expected):
    assert L.c0_zero_bias(deg * DEG) == pytest.approx(expected, rel=2e-3)


def test_c0_small_angle_limit():
    assert L.c0_zero_bias(1 * DEG) == pytest.approx(0.5, abs=1e-6)
    # (pi - g(t)) / (g(t) 4 sin^2(t/2)) = 1/2 - t/(3 pi) + O(t^2): the sup is the limit 1/2
    assert L.c0_ratio_zero_bias(1e-3) == pytest.approx(0.5 - 1e-3 / (3 * math.pi), abs=1e-6)


@settings(max_examples=25)
@given(st.integers(0, 10 ** 6), st.floats(1.0, 150.0))
def test_lemma4_zero_bias_bound(seed, theta_deg):
    rng = np.random.default_rng(seed)
    ws = geometry.unit_rows(rng.standard_normal((1, 6)))
    w = geometry.cap_points(ws, theta_deg * DEG, rng)[0]
    assert L.lemma4_ratio(w, ws[0], bias=False) <= L.c0_zero_bias(theta_deg * DEG) * (1 + 1e-9)


def test_lemma4_bias_is_linear_not_quadratic():
    """With a bias coordinate the ratio grows like C1/||dw||: C0 = inf (docs/math.md [FLAG])."""
    a = -0.75
    ws = geometry.unit_rows([[1.0, 0.0, 0.0, a]])
    c1 = L.linear_constant(ws, bias=True)
    assert 2.0 < c1 < 2.8  # docs/math.md quotes C1 ~ 2.37 for its configuration; it depends on a
    grad = L.self_gradient(ws, bias=True)[0]
    u = grad - (grad @ ws[0]) * ws[0]
    u /= np.linalg.norm(u)
    prod = []
    for h in (1e-2, 1e-3, 1e-4):
        w = ws[0] + h * u
        w /= np.linalg.norm(w)
        prod.append(L.lemma4_ratio(w, ws[0], bias=True) * np.linalg.norm(w - ws[0]))
    assert prod[-1] == pytest.approx(c1, rel=1e-3)
    assert abs(prod[-1] - c1) < abs(prod[0] - c1)
    assert L.linear_constant(np.eye(3)[:2], bias=False) < 1e-12  # zero bias: stationary, C1 = 0


def test_checks_zero_bias():
    s = CheckSetup(bias=False)
    for check in (L.check_lemma2, L.check_lemma3):
        v = check(s)
        assert v.holds is True and 0 < v.value <= 1.0 + 1e-9
        assert v.details["form"].startswith("corrected")
    v4 = L.check_lemma4(s)
    assert v4.holds is True and v4.value <= v4.bound == pytest.approx(0.5)
    assert L.check_lemma3(CheckSetup(bias=False, paper_mode=True)).holds is False  # printed Eq. 30


def test_check_lemma4_bias():
    v = L.check_lemma4(CheckSetup(bias=True))
    assert v.holds is False and v.details["C0"] == math.inf and v.details["C1"] > 0
    r = v.details["ratio_by_dw"]
    assert r["0.001"] > 5 * r["0.01"] > 25 * r["0.1"]
