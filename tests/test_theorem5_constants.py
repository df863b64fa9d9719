"""Theorem 5's constants recomputed independently from the formulas of docs/math.md sec. 2
(Theorem 5, "What we compute"), in both modes, away from the symmetric point B_v = 1 where several
printed/corrected differences (kappa's (1 + B_dv) against (B_v + B_dv), b_v against B_v) vanish.

Two levels: the definitions (Eqs. 41-54 and the fixed-mode forms) at arbitrary states
(C_dr, C_lr, delta_r), where every term counts whichever side of a max wins, and the solved fixed
point. Any change to a pair count, kappa, d-bar, R41/R42 or the r-drift in
luckbench.theory.theorem5 fails here."""
import math

import pytest
from hypothesis import given, settings, strategies as st

from luckbench.theory import theorem5 as T5

DEG = math.pi / 180
ETA, MIN_D, MIN_L = 0.01, 0.45, 0.4

# (m, n, B_v, B_dv, b_v, eps_d, eps_l, K_d, K_l, C0, theta0 in degrees), feasible in both modes:
# R41 or R42 binding, n = m (empty r-set) and n > m, B_v above and below 1
CONFIGS = [
    (4, 12, 1.7, 0.4, 1.2, 1e-4, 2e-4, 2.0, 1.5, 0.5, 5),
    (3, 4, 2.5, 0.6, 2.0, 3e-4, 1e-4, 1.0, 3.0, 0.6, 3),
    (2, 9, 1.3, 0.5, 1.3, 2e-4, 3e-4, 1.5, 1.0, 0.5, 8),
    (5, 5, 1.1, 0.2, 0.9, 1e-3, 5e-4, 0.5, 0.8, 0.5, 4),
    (2, 3, 0.6, 0.3, 0.5, 1e-3, 2e-3, 1.0, 1.0, 0.5, 6),
    (3, 30, 1.5, 0.3, 1.5, 5e-5, 1e-3, 1.0, 0.5, 0.5, 2),
]


def fixed_definitions(cfg, C_dr, C_lr, delta):
    """Mode "fixed" at the state (C_dr, C_lr, delta_r); ``num`` is delta_r's next numerator."""
    m, n, B_v, B_dv, b_v, eps_d, eps_l, K_d, K_l, C0, deg = cfg
    t0 = deg * DEG
    s0, c, B, sin0 = 2 * math.sin(t0 / 2), math.cos(t0 / 2), B_v + B_dv, math.sin(t0)
    C_du, C_lu = K_d * s0, K_l * s0
    kappa = C0 * s0 * B
    q = B_dv + K_l * B * s0
    Y_u = eps_l * ((m - 1) * (1 + C_lu) ** 2 * q / B_dv
                   + (n - m) * (1 + C_lu) ** 2 * (1 + C_lr) * B_v / B_dv) + kappa * s0 / B_dv
    Y_r = eps_l * (m * (1 + C_lr) ** 2 * q / B_v + (n - m - 1) * (1 + C_lr) ** 3) + C0 * delta ** 2
    return dict(
        C_du=C_du, C_lu=C_lu, kappa=kappa, Y_u=Y_u, Y_r=Y_r, R42=1 - max(Y_u, Y_r),
        d_bar=(1 - max(C_du, C_dr)) * MIN_D, l_bar=(1 - max(C_lu, C_lr)) * MIN_L,
        R41=b_v * (b_v - B_dv) * math.cos(t0) - eps_d * B * (
            (m - 1) * ((1 + K_d) * (1 + C_du) ** 2 * B_v / c + (1 + C_du) ** 3 * B_dv / sin0)
            + (n - m) * (1 + C_du) ** 2 * (1 + C_dr) * B_v / sin0),
        num=eps_d * B_v * (m * ((1 + K_d) * (1 + C_dr) ** 2 * s0 * B_v + (1 + C_du) * (1 + C_dr) ** 2 * B_dv)
                           + (n - m - 1) * (1 + C_dr) ** 3 * B_v))


def paper_definitions(cfg, C_dr, C_lr):
    """Mode "paper" (Eqs. 41-54 as printed) at the state (C_dr, C_lr); ``nums`` are the next C_r numerators."""
    m, n, B_v, B_dv, _, eps_d, eps_l, K_d, K_l, C0, deg = cfg
    t0 = deg * DEG
    c, B = math.cos(t0 / 2), B_v + B_dv
    C_du, C_lu = 2 * K_d * math.sin(t0 / 2), 2 * K_l * math.sin(t0 / 2)

    def sums(K, Cu, Cr):
        M_uu, M_ur = (1 + K) * (1 + Cu) ** 2 / c, (1 + K) * (1 + Cu) * (1 + Cr)
        M_ru, M_rr = M_ur / c, (1 + K) * (1 + Cr) ** 2
        return (m - 1) * M_uu + (n - m) * M_ur, (m - 1) * M_ru + (n - m) * M_rr

    (B_du, B_dr), (B_lu, B_lr) = sums(K_d, C_du, C_dr), sums(K_l, C_lu, C_lr)
    kappa = 2 * C0 * math.sin(t0 / 2) * (1 + B_dv)
    return dict(C_du=C_du, C_lu=C_lu, kappa=kappa,
                d_bar=(1 - K_d * max(C_du, C_dr)) * MIN_D, l_bar=(1 - K_l * max(C_lu, C_lr)) * MIN_L,
                R41=(B_v - B_dv) * math.cos(t0) - eps_d * B * max(B_du, B_dr),
                R42=1 - eps_l * max(B_lu, B_lr) - kappa,
                nums=(eps_d * K_d * B_dr * B * B_v, eps_l * K_l * B_lr * B * B_v))


def solve(cfg, mode):
    """The fixed point of docs/math.md's iteration, from C_dr = C_lr = delta_r = 0."""
    K_d, K_l = cfg[7], cfg[8]
    state = (0.0, 0.0, 0.0)
    for _ in range(2000):
        s = fixed_definitions(cfg, *state) if mode == "fixed" else paper_definitions(cfg, *state[:2])
        lam, gam = min(s["d_bar"], s["l_bar"]), min(s["R41"], s["R42"])
        denom = lam * gam * (2 - ETA * lam * gam)
        if mode == "fixed":
            delta = s["num"] / denom
            new = (K_d * delta, K_l * delta, delta)
        else:
            new = (s["nums"][0] / denom, s["nums"][1] / denom, 0.0)
        if all(abs(x - y) <= 1e-15 * (1 + abs(y)) for x, y in zip(new, state)):
            break
        state = new
    return dict(gamma=gam, lambda_bar=lam, d_bar=s["d_bar"], l_bar=s["l_bar"], C_du=s["C_du"], C_dr=state[0],
                C_lu=s["C_lu"], C_lr=state[1], R41=s["R41"], R42=s["R42"], kappa=s["kappa"])


def _inputs(cfg, mode):
    m, n, B_v, B_dv, b_v, eps_d, eps_l, K_d, K_l, C0, deg = cfg
    return dict(m=m, n=n, theta0=deg * DEG, B_v=B_v, B_dv=B_dv, b_v=b_v if mode == "fixed" else None,
                eps_d=eps_d, eps_l=eps_l, K_d=K_d, K_l=K_l, C0=C0, eta=ETA, min_d_diag=MIN_D, min_l_diag=MIN_L)


def _close(a, b):
    return a == pytest.approx(b, rel=1e-10, abs=1e-14)


@pytest.mark.parametrize("mode", ["fixed", "paper"])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_solved_constants_match_the_documented_formulas(cfg, mode):
    got = T5.constants(mode=mode, **_inputs(cfg, mode))
    assert got.feasible and got.converged and got.mode == mode
    for key, value in solve(cfg, mode).items():
        assert _close(getattr(got, key), value), key


@settings(max_examples=60, deadline=None)
@given(cfg=st.sampled_from(CONFIGS), C_dr=st.floats(0, 0.5), C_lr=st.floats(0, 0.5), delta=st.floats(0, 2))
def test_definitions_at_any_state(cfg, C_dr, C_lr, delta):
    """Eqs. 41-54 and the fixed-mode forms term by term, at states where either side of each max wins."""
    b_v = cfg[4]
    for mode in ("fixed", "paper"):
        args = _inputs(cfg, mode)
        p = T5._Inputs(m=args["m"], n=args["n"], theta0=args["theta0"], B_v=args["B_v"], B_dv=args["B_dv"],
                       b_v=b_v if mode == "fixed" else args["B_v"], eps_d=args["eps_d"], eps_l=args["eps_l"],
                       K_d=args["K_d"], K_l=args["K_l"], C0=args["C0"], eta=ETA, min_d=MIN_D, min_l=MIN_L)
        got = T5._definitions(p, C_dr, C_lr, delta, mode)
        want = fixed_definitions(cfg, C_dr, C_lr, delta) if mode == "fixed" else paper_definitions(cfg, C_dr, C_lr)
        for key in ("C_du", "C_lu", "kappa", "d_bar", "l_bar", "R41", "R42"):
            assert _close(got[key], want[key]), (mode, key)
        nums = (cfg[7] * want["num"], cfg[8] * want["num"], want["num"]) if mode == "fixed" else (*want["nums"], 0.0)
        assert all(_close(a, b) for a, b in zip(got["nums"], nums)), mode


def test_the_cases_exercise_every_branch():
    """Each max/min is decided both ways among the cases above, and B_v != 1 throughout, so no term
    hides behind a max and the printed kappa differs from the corrected one."""
    solved = [(solve(c, "fixed"), solve(c, "paper")) for c in CONFIGS]
    assert {f["R41"] < f["R42"] for f, _ in solved} == {True, False}
    assert {p["R41"] < p["R42"] for _, p in solved} == {True, False}
    states = [fixed_definitions(c, 0.1, 0.1, d) for c in CONFIGS for d in (0.0, 2.0)]
    assert {s["Y_u"] > s["Y_r"] for s in states} == {True, False}
    paper_states = [paper_definitions(c, cr, 0.1) for c in CONFIGS for cr in (0.0, 0.5)]
    assert {p["d_bar"] == (1 - c[7] * 2 * c[7] * math.sin(c[-1] * DEG / 2)) * MIN_D
            for p, c in zip(paper_states, [c for c in CONFIGS for _ in (0, 1)])} == {True, False}
    assert all(c[2] != 1.0 for c in CONFIGS) and any(c[1] > c[0] + 1 for c in CONFIGS)
    assert all(p["kappa"] != f["kappa"] for f, p in solved)
