"""Theorem 5: the fixed-point example of docs/math.md, the printed equations at the solution, maps, bad input."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from luckbench.errors import InputError
from luckbench.theory import feasibility, theorem5 as T5
from luckbench.theory.checks import CheckSetup

DEG = math.pi / 180
EXAMPLE = dict(m=4, n=12, theta0=5 * DEG, B_v=1.0, B_dv=0.3, K_d=2.0, K_l=2.0, C0=0.5, eta=0.01,
               min_d_diag=0.45, min_l_diag=0.45)


def test_example_paper_mode():
    r = T5.constants(eps_d=1e-4, eps_l=1e-4, mode="paper", **EXAMPLE)
    assert r.feasible and r.converged
    assert r.gamma == pytest.approx(0.692, abs=5e-4)
    assert r.lambda_bar == pytest.approx(0.293, abs=5e-4)
    assert r.C_dr == pytest.approx(0.023, abs=5e-4)
    assert r.rate == pytest.approx(1 - 0.01 * r.lambda_bar * r.gamma, rel=1e-14)
    bad = T5.constants(eps_d=1e-3, eps_l=1e-3, mode="paper", **EXAMPLE)
    assert not bad.feasible and bad.reason != "feasible" and math.isnan(bad.rate)


def test_paper_mode_solves_printed_equations():
    """At the solution, Eqs. 41-54 as printed (with gamma = min(R41, R42)) hold to float precision."""
    e = 1e-4
    r = T5.constants(eps_d=e, eps_l=e, mode="paper", **EXAMPLE)
    K, t0, m, n = 2.0, 5 * DEG, 4, 12
    c = math.cos(t0 / 2)
    Cu = 2 * K * math.sin(t0 / 2)
    Cr = r.C_dr
    Mru, Mrr = (1 + K) * (1 + Cu) * (1 + Cr) / c, (1 + K) * (1 + Cr) ** 2
    Muu, Mur = (1 + K) * (1 + Cu) ** 2 / c, (1 + K) * (1 + Cu) * (1 + Cr)
    Bu, Br = (m - 1) * Muu + (n - m) * Mur, (m - 1) * Mru + (n - m) * Mrr
    lam = (1 - K * max(Cu, Cr)) * 0.45
    R41 = (1 - 0.3) * math.cos(t0) - e * 1.3 * max(Bu, Br)
    kappa = 2 * 0.5 * math.sin(t0 / 2) * 1.3
    R42 = 1 - e * max(Bu, Br) - kappa
    gam = min(R41, R42)
    assert r.lambda_bar == pytest.approx(lam, rel=1e-12)
    assert r.gamma == pytest.approx(gam, rel=1e-12)
    assert r.R41 == pytest.approx(R41, rel=1e-12) and r.kappa == pytest.approx(kappa, rel=1e-12)
    assert Cr == pytest.approx(e * K * Br * 1.3 * 1.0 / (lam * gam * (2 - 0.01 * lam * gam)), rel=1e-10)


def test_fixed_mode_example():
    r = T5.constants(eps_d=1e-4, eps_l=1e-4, mode="fixed", **EXAMPLE)
    assert r.feasible and r.mode == "fixed"
    # no double K in d_bar: (1 - max(C_du, C_dr)) * 0.45 with C_du = 2 K sin(theta0/2) dominating
    assert r.d_bar == pytest.approx((1 - 4 * math.sin(2.5 * DEG)) * 0.45, rel=1e-12)
    assert r.gamma == pytest.approx(min(r.R41, r.R42), rel=1e-12)
    assert r.gamma < T5.constants(eps_d=1e-4, eps_l=1e-4, mode="paper", **EXAMPLE).gamma
    assert r.kappa == pytest.approx(0.5 * 2 * math.sin(2.5 * DEG) * 1.3, rel=1e-12)
    assert not T5.constants(eps_d=1e-2, eps_l=1e-2, mode="fixed", **EXAMPLE).feasible


@given(st.floats(0.0, 2e-3), st.floats(0.0, 2e-3), st.sampled_from(["paper", "fixed"]))
def test_gamma_monotone_in_eps(e1, e2, mode):
    lo, hi = sorted((e1, e2))
    a = T5.constants(eps_d=lo, eps_l=lo, mode=mode, **EXAMPLE)
    b = T5.constants(eps_d=hi, eps_l=hi, mode=mode, **EXAMPLE)
    if b.feasible:
        assert a.feasible and a.gamma >= b.gamma - 1e-12
        assert b.gamma <= min(b.R41, b.R42) + 1e-12


def test_infeasible_reasons():
    r = T5.constants(eps_d=1e-4, eps_l=1e-4, **{**EXAMPLE, "C0": None})
    assert not r.feasible and "C0" in r.reason
    r = T5.constants(eps_d=1e-4, eps_l=1e-4, **{**EXAMPLE, "theta0": 100 * DEG})
    assert not r.feasible and "theta0" in r.reason
    r = T5.constants(eps_d=0.3, eps_l=0.3, **EXAMPLE)
    assert not r.feasible and "gamma" in r.reason
    r = T5.constants(eps_d=1e-4, eps_l=1e-4, **{**EXAMPLE, "K_d": math.inf})
    assert not r.feasible and "K = inf" in r.reason
    r = T5.constants(eps_d=1e-4, eps_l=1e-4, **{**EXAMPLE, "B_dv": 0.0})
    assert not r.feasible and "B_dv" in r.reason
    assert T5.constants(eps_d=1e-4, eps_l=1e-4, mode="paper", **{**EXAMPLE, "B_dv": 0.0}).feasible


def test_bad_input():
    with pytest.raises(InputError, match="mode"):
        T5.constants(eps_d=0, eps_l=0, mode="x", **EXAMPLE)
    with pytest.raises(InputError, match="n"):
        T5.constants(eps_d=0, eps_l=0, **{**EXAMPLE, "n": 3})
    with pytest.raises(InputError, match="eps_d"):
        T5.constants(eps_d=-1, eps_l=0, **EXAMPLE)
    with pytest.raises(InputError, match="theta0"):
        T5.constants(eps_d=0, eps_l=0, **{**EXAMPLE, "theta0": 0.0})
    with pytest.raises(InputError, match="K_l"):
        T5.constants(eps_d=0, eps_l=0, **{**EXAMPLE, "K_l": float("nan")})
    with pytest.raises(InputError, match="W_star"):
        T5.constants_from_weights([[np.nan, 1.0]], [[1.0]], None, [[1.0]], 0.1, 0.01)
    with pytest.raises(InputError, match="C0"):
        T5.constants_from_weights([[0.0, 1.0]], [[1.0]], None, [[1.0]], 0.1, 0.01, C0="x")


def test_constants_from_weights_zero_bias():
    """Orthogonal zero-bias rows: eps = 1/2 and 1/pi, and the numbers feed constants() unchanged."""
    rng = np.random.default_rng(0)
    W = np.eye(6)
    ws, wr = W[:2], W[2:]
    vs = np.array([[1.0, 0.0], [0.0, 1.0]])
    v0 = np.concatenate([vs + 0.1, 0.5 * rng.standard_normal((4, 2))])
    r = T5.constants_from_weights(ws, vs, wr, v0, 5 * DEG, 0.01, k_search=1.5)
    B_v = max(1.0, np.linalg.norm(v0[2:], axis=1).max())
    ref = T5.constants(m=2, n=6, theta0=5 * DEG, B_v=B_v, B_dv=math.hypot(0.1, 0.1), b_v=1.0, eps_d=0.5,
                       eps_l=1 / math.pi, K_d=1.5, K_l=1.5, C0=0.5, eta=0.01, min_d_diag=0.5, min_l_diag=0.5)
    assert r.gamma == pytest.approx(ref.gamma, rel=1e-9) and r.feasible == ref.feasible
    wb = np.eye(7)[:6]  # the last column is the bias coordinate (0 here)
    biased = T5.constants_from_weights(wb[:2], vs, wb[2:], v0, 5 * DEG, 0.01, bias=True)
    assert not biased.feasible and "C0" in biased.reason


def test_check():
    v = T5.check(CheckSetup(bias=False))
    assert v.holds is None and v.details["form"].startswith("mode fixed")
    assert not v.details["feasible"]
    p = T5.check(CheckSetup(bias=False, paper_mode=True))
    assert p.details["form"].startswith("mode paper")


def test_thm5_map():
    ds = feasibility.thm5_map([1e-4, 1e-3], [8, 12], mode="paper",
                              **{k: v for k, v in EXAMPLE.items() if k != "n"})
    assert ds.attrs["result_kind"] == "feasibility" and ds.attrs["map"] == "thm5"
    assert ds.gamma.dims == ("eps", "n")
    assert ds.gamma.sel(eps=1e-4, n=12).item() == pytest.approx(0.692, abs=5e-4)
    assert ds.feasible.sel(eps=1e-4).all() and not ds.feasible.sel(eps=1e-3, n=12).item()
    with pytest.raises(InputError, match="eps_d"):
        feasibility.thm5_map([1e-4], [8], eps_d=0.1, **{k: v for k, v in EXAMPLE.items() if k != "n"})
