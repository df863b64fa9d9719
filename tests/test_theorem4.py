"""Theorem 4: reference feasibility numbers (docs/math.md 3(iii)), d_bar sign, envelopes, maps, bad input."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.optimize import brentq

from luckbench.errors import InputError
from luckbench.theory import geometry
from luckbench.theory import assumption2 as a2
from luckbench.theory import feasibility, theorem4 as T4
from luckbench.theory.checks import CheckSetup

DEG = math.pi / 180
ORTHO2 = np.eye(3)[:2]


def _gamma_local(deg):
    return T4.conditions(ORTHO2, deg * DEG).gamma


@pytest.mark.parametrize("deg, expected", [(1, 0.159), (3, 0.111), (5, 0.057)])
def test_gamma_m2_orthogonal_zero_bias(deg, expected):
    """Local K_d = Psi(theta0)/(pi/2 - theta0) (base angle pi/2 + theta0), eps_d = 1/2."""
    c = T4.conditions(ORTHO2, deg * DEG)
    t = deg * DEG
    assert c.K_d == pytest.approx(t / (2 * math.sin(t / 2)) / (math.pi / 2 - t), rel=1e-12)
    assert c.eps_d == pytest.approx(0.5, abs=1e-12)
    assert c.gamma == pytest.approx(expected, abs=6e-4)
    assert c.holds and c.d_bar_form == "exact zero-bias"


def test_m2_feasibility_boundary():
    assert brentq(_gamma_local, 1, 20) == pytest.approx(6.9, abs=0.05)
    # with the global-perturbation K (delta = 2) the boundary is 4.9 deg
    glob = lambda d: T4.conditions(ORTHO2, d * DEG, K_d=a2.kd_zero_bias(math.pi / 2 + d * DEG, 2.0)).gamma
    assert brentq(glob, 1, 20) == pytest.approx(4.9, abs=0.05)


@pytest.mark.parametrize("m", [3, 4, 8])
def test_m_at_least_3_infeasible(m):
    assert (m - 1) * 0.5 * (1 + 2 / math.pi) > 1
    for deg in (0.1, 1, 10, 45, 80):
        assert T4.conditions(np.eye(m), deg * DEG).holds is False


def test_d_bar_counterexample():
    t, K = 5 * DEG, 0.674
    paper = T4.d_bar(t, K, 0.5, paper_mode=True)
    assert paper == pytest.approx(0.529, abs=5e-4)
    assert T4.d_bar(t, K, 0.5) == pytest.approx(0.471, abs=5e-4)
    assert T4.d_bar_exact_zero_bias(t) == pytest.approx(0.486, abs=5e-4)
    assert paper > 0.5  # but d*_jj <= 1/2 for zero bias: the plus sign is no lower bound
    c = T4.conditions(ORTHO2, t, paper_mode=True)
    assert c.d_bar > 0.5 and c.d_bar_form.startswith("paper")


def test_envelopes():
    c = T4.conditions(ORTHO2, 3 * DEG, eta=0.1)
    t = np.array([0.0, 1.0, 10.0])
    assert np.allclose(T4.envelope_continuous(t, 0.05, c), 0.05 * np.exp(-c.d_bar * c.gamma * t), rtol=1e-14)
    it = np.arange(4)
    q = 1 - 0.1 * c.d_bar * c.gamma
    assert np.allclose(T4.envelope_discrete(it, 0.05, 0.1, c), 0.05 * q ** it, rtol=1e-14)
    cp = T4.conditions(ORTHO2, 3 * DEG, eta=0.1, paper_mode=True)
    qp = 1 - 0.1 * cp.d_bar * cp.gamma
    assert np.allclose(T4.envelope_discrete(it, 0.05, 0.1, cp), 0.05 * qp ** (it - 1), rtol=1e-14)
    bad = T4.conditions(np.eye(3), 3 * DEG)
    assert np.all(np.isnan(T4.envelope_continuous(t, 0.05, bad)))
    assert np.all(np.isnan(T4.envelope_discrete(it, 0.05, 0.1, bad)))


@settings(max_examples=8)
@given(st.floats(0.5, 6.0), st.integers(0, 10 ** 6))
def test_discrete_dynamics_respect_envelope(theta_deg, seed):
    """Theorem 4 (corrected) on feasible zero-bias orthogonal m = 2: sin theta_j^t under the envelope."""
    t0, eta, steps = theta_deg * DEG, 0.5, 60
    c = T4.conditions(ORTHO2, t0, eta=eta)
    assert c.holds
    w0 = geometry.cap_points(ORTHO2, t0, np.random.default_rng(seed), boundary=1.0)
    sines = T4.iterate(ORTHO2, w0, eta, steps, bias=False)
    env = T4.envelope_discrete(np.arange(steps + 1), math.sin(t0), eta, c)
    assert np.all(sines <= env[:, None] * (1 + 1e-9))


def test_bias_values_are_appended():
    om, b = np.eye(4)[:2], np.array([-1.0, -1.0])
    c1 = T4.conditions(om, 0.01, bias=b, K_d=4.0)
    c2 = T4.conditions(np.concatenate([om, b[:, None]], axis=1), 0.01, bias=True, K_d=4.0)
    assert c1.eps_d == c2.eps_d == pytest.approx(0.15865525393145707, rel=1e-9)
    assert c1.gamma == c2.gamma and c1.d_bar_form == "corrected (minus sign)"


def test_bad_input():
    for bad in (0.0, math.pi, 4.0, float("nan")):
        with pytest.raises(InputError, match="theta0"):
            T4.conditions(ORTHO2, bad)
    with pytest.raises(InputError, match="w_star"):
        T4.conditions([[1.0, np.nan]], 0.1)
    with pytest.raises(InputError, match="bias"):
        T4.conditions(ORTHO2, 0.1, bias=[1.0, 2.0, 3.0])
    for bad in (-1.0, -math.inf, "x"):
        with pytest.raises(InputError, match="K_d"):
            T4.conditions(ORTHO2, 0.1, K_d=bad)
    assert T4.conditions(ORTHO2, 0.1, K_d=math.inf).holds is False
    with pytest.raises(InputError, match="eta"):
        T4.conditions(ORTHO2, 0.1, eta=float("nan"))


def test_check():
    v = T4.check(CheckSetup(bias=False))
    assert v.holds is None and v.details["gamma"] < 0  # paper scheme m = 10: infeasible
    one = T4.check(CheckSetup(teacher=(20, 1, 4), bias=False))
    assert one.holds is True and one.value <= 1 + 1e-9
    assert "corrected" in one.details["form"]


def test_thm4_map_orthogonal():
    ds = feasibility.thm4_map([1, 3, 5, 7], [1, 2, 3])
    assert ds.attrs["result_kind"] == "feasibility" and ds.attrs["map"] == "thm4"
    assert ds.gamma.dims == ("theta0", "m") and ds.feasible.dtype == bool
    assert ds.feasible.sel(m=1).all() and not ds.feasible.sel(m=3).any()
    assert list(ds.feasible.sel(m=2).values) == [True, True, True, False]
    assert ds.gamma.sel(m=2, theta0=3).item() == pytest.approx(_gamma_local(3), rel=1e-12)
    assert np.allclose(ds.rate, ds.gamma * ds.d_bar)


def test_thm4_map_stores(tmp_path):
    from luckbench import store

    ds = feasibility.thm4_map([1, 7], [2])
    path = store.write_dataset(ds, tmp_path / "map.nc", config={"theta0_deg": [1, 7]}, seed=0)
    back = store.read_dataset(path)
    assert back.attrs["result_kind"] == "feasibility"
    assert list(back.feasible.values[:, 0]) == [True, False]
    assert np.array_equal(back.gamma.values, ds.gamma.values)


def test_thm4_map_bias_minus3():
    """docs/math.md 3(iii): orthogonal teachers with a = -3 allow m <= 14 at 0.05 deg (K is sampled)."""
    ds = feasibility.thm4_map([0.05], [2, 12, 17], bias=-3.0)
    assert list(ds.feasible.values[0]) == [True, True, False]


def test_thm4_map_bad_input():
    with pytest.raises(InputError, match="m"):
        feasibility.thm4_map([1], [5], dim=3)
    with pytest.raises(InputError, match="theta0_deg"):
        feasibility.thm4_map([95], [2])
    with pytest.raises(InputError, match="scheme"):
        feasibility.thm4_map([1], [2], scheme="nope")


def test_paper_form_envelope_is_violated():
    """One zero-bias teacher: the printed d_bar (plus sign, > 1/2) promises a faster decay than the
    dynamics deliver; the corrected envelope holds on the same run."""
    paper = T4.check(CheckSetup(teacher=(8, 1, 2), bias=False, paper_mode=True))
    assert paper.holds is False and paper.details["d_bar"] > 0.5
    fixed = T4.check(CheckSetup(teacher=(8, 1, 2), bias=False))
    assert fixed.holds is True and fixed.details["d_bar"] < 0.5
