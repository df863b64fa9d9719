"""Assumption 2: zero-bias closed forms (docs/math.md 3(i)), region constants, search, bad input."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import special_ortho_group

from luckbench.errors import InputError
from luckbench.theory import geometry
from luckbench.theory import assumption2 as a2
from luckbench.theory.checks import CheckSetup

DEG = math.pi / 180


@pytest.mark.parametrize("deg, expected", [(30, 0.518), (45, 0.541), (60, 0.577), (90, 0.707),
                                           (120, 1.155), (135, 1.624), (150, 2.588)])
def test_kd_global_perturbation_table(deg, expected):
    assert a2.kd_zero_bias(deg * DEG, 2.0) == pytest.approx(expected, abs=5e-4)
    # the delta = 2 case has the form max{Theta/(2 sin(Theta/2)(pi-Theta)), 1/(2 cos(Theta/2))}
    t = deg * DEG
    assert a2.kd_zero_bias(t, 2.0) == pytest.approx(max(t / (2 * math.sin(t / 2) * (math.pi - t)),
                                                        1 / (2 * math.cos(t / 2))), rel=1e-12)


@pytest.mark.parametrize("deg, expected", [(30, 0.639), (60, 0.951), (90, 1.794), (100, 2.388),
                                           (120, 5.01), (150, 34.9)])
def test_kl_zero_bias_table(deg, expected):
    assert a2.profile_constant("l", deg * DEG, 2.0) == pytest.approx(expected, rel=2e-3)


def test_kd_local_limit():
    for deg in (10, 60, 120):
        t = deg * DEG
        assert a2.kd_zero_bias(t, 1e-9) == pytest.approx(1 / (math.pi - t), rel=1e-8)
    assert a2.kd_zero_bias(math.pi, 0.1) == math.inf


@given(st.floats(0.01, 3.0), st.floats(1e-3, 2.0))
def test_profile_search_matches_kd_closed_form(theta, delta):
    exact = a2.kd_zero_bias(theta, delta)
    assert a2.profile_constant("d", theta, delta) == pytest.approx(exact, rel=1e-8)
    assert a2.profile_constant("d", theta, delta) <= exact * (1 + 1e-9)


def _random_rows(rng, m, dim):
    return geometry.unit_rows(rng.standard_normal((m, dim)))


@settings(max_examples=15)
@given(st.integers(0, 10 ** 6), st.floats(1.0, 40.0), st.integers(1, 3))
def test_used_form_bounds_sampled_ratios_zero_bias(seed, theta_deg, m):
    """The exact zero-bias region constants bound every sampled triple of the four families."""
    rng = np.random.default_rng(seed)
    rows = _random_rows(rng, m, 4)
    region = a2.Region.caps(rows, theta_deg * DEG, bias=False)
    K = {k: a2.region_constant(k, region).K for k in ("d", "l")}
    trip = []
    for _ in range(16):
        j, k = rng.integers(m), rng.integers(m)
        x = geometry.cap_points(rows[j], region.radii[j], rng)[0]
        y = geometry.cap_points(rows[k], region.radii[k], rng)[0]
        trip += [(rows[j], x, rows[j]), (rows[j], rows[j], x)]  # self families
        if j != k:  # cross families (Eqs. 24, 26)
            trip += [(x, rows[k], y), (rows[k], rows[j], x)]
    w, w1, w2 = (np.array(t) for t in zip(*trip))
    for kind in ("d", "l"):
        used, printed = a2.ratio_arrays(kind, w, w1, w2, bias=False)
        assert np.all(used <= K[kind] * (1 + 1e-7) + 1e-12)
        assert np.all(printed <= used + 1e-15)


@settings(max_examples=5)
@given(st.floats(1.0, 60.0), st.integers(1, 3), st.integers(0, 1000))
def test_search_matches_exact_zero_bias(deg, m, seed):
    """The search is a lower bound of the exact zero-bias constant and finds it (docs/math.md 3(i))."""
    rows = special_ortho_group.rvs(5, random_state=seed)[:m]
    region = a2.Region.caps(rows, deg * DEG, bias=False)
    for kind in ("d", "l"):
        exact = a2.region_constant(kind, region).K
        found = a2.search_constant(kind, region, samples=64, seed=seed)
        assert found.K <= exact * (1 + 1e-9)
        assert found.K == pytest.approx(exact, rel=1e-3)
        assert "lower bound" in found.method


def test_orthogonal_zero_bias_region_constant_is_local_form():
    # base angle pi/2 + theta0, perturbation 2 sin(theta0/2): K = Psi(theta0)/(pi/2 - theta0) (docs/math.md 3(iii))
    for deg in (1, 3, 5):
        t = deg * DEG
        K = a2.region_constant("d", a2.Region.caps(np.eye(3)[:2], t, bias=False)).K
        assert K == pytest.approx(t / (2 * math.sin(t / 2)) / (math.pi / 2 - t), rel=1e-12)


@pytest.mark.parametrize("a, expected", [(0.0, 1.02), (-1.0, 4.4), (-3.0, 48.0)])
def test_bias_table_orthogonal(a, expected):
    """docs/math.md 3(i): sampled K_d for orthogonal teachers with common standardised bias a, theta0 -> 0."""
    rows = np.concatenate([np.eye(4)[:2], np.full((2, 1), a)], axis=1)
    K = a2.region_constant("d", a2.Region.caps(rows, 0.05 * DEG, bias=True), samples=64).K
    assert K == pytest.approx(expected, rel=0.08)


def test_printed_form_is_much_weaker():
    """Eq. 8 allows psi(w,w2) <= 2 psi(w,w1): on small caps its constant is 0 while Eq. 24's is not."""
    est = a2.region_constant("d", a2.Region.caps(np.eye(3)[:2], 5 * DEG, bias=False))
    assert est.K_printed == 0.0 and est.K > 0.6
    # beyond a right angle the printed form needs a positive constant too, still below the used one
    assert 0 < a2.profile_constant("d", 150 * DEG, 2.0, printed=True) < a2.kd_zero_bias(150 * DEG, 2.0)


def test_augment_whitens():
    w = np.array([[1.0, -2.0], [0.5, 0.0]])
    out = geometry.augment(w, np.array([0.3, -1.0]), sigma=10.0)
    assert np.array_equal(out, [[10.0, -20.0, 0.3], [5.0, 0.0, -1.0]])
    assert np.array_equal(geometry.augment(w, sigma=2.0), 2 * w)


def test_bad_input():
    with pytest.raises(InputError, match="w_star"):
        a2.Region.caps([[np.nan, 1.0]], 0.1, bias=False)
    with pytest.raises(InputError, match="w_star"):
        a2.Region.caps([[0.0, 0.0]], 0.1, bias=False)
    for bad in (0.0, math.pi, -1.0, float("nan"), "x"):
        with pytest.raises(InputError, match="theta0"):
            a2.Region.caps(np.eye(2), bad, bias=False)
    with pytest.raises(InputError, match="sigma"):
        geometry.augment(np.eye(2), sigma=0.0)
    with pytest.raises(InputError, match="sigma"):
        geometry.augment(np.eye(2), sigma="x")
    with pytest.raises(InputError, match="b"):
        geometry.augment(np.eye(2), [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="kind"):
        a2.region_constant("x", a2.Region.caps(np.eye(2), 0.1, bias=False))


def test_check_zero_bias_and_paper_mode():
    v = a2.check(CheckSetup(bias=False))
    assert v.kind == "assumption" and v.holds is True
    assert v.details["form"].startswith("used") and v.details["method"].startswith("exact")
    assert v.value == v.details["K_d"] > 0
    p = a2.check(CheckSetup(bias=False, paper_mode=True))
    assert p.details["form"].startswith("printed") and p.value == p.details["K_d_printed"]
