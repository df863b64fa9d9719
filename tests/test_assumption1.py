"""Assumption 1 / Theorem 2: Stein exact case, Monte Carlo agreement of the closed forms, Eq. 15 identity."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from luckbench.theory.geometry import project_rows
from luckbench.theory.assumption1 import (check, check_theorem2, mc_layer_dynamics, relative_residual,
                                          stein_two_layer)
from luckbench.theory.checks import CheckSetup
from luckbench.theory.network import NetSpec, ReLUNet, student_init_, teacher_student
from luckbench.theory.theorem1 import autograd_gradients, gaussian_inputs


@settings(max_examples=25)
@given(d=st.integers(2, 6), n=st.integers(1, 6), m=st.integers(1, 4), c=st.integers(1, 3),
       sigma=st.sampled_from([1.0, 10.0]), seed=st.integers(0, 10_000))
def test_stein_case_projected_residual_vanishes(d, n, m, c, sigma, seed):
    """2 layers, zero bias, Gaussian input: P_W(exact) = P_W(factorised) to float precision."""
    rng = np.random.default_rng(seed)
    dyn = stein_two_layer(rng.normal(size=(n, d)), rng.normal(size=(c, n)), rng.normal(size=(m, d)),
                          rng.normal(size=(c, m)), sigma)
    assert dyn.residual(projected=True) <= 1e-10


def test_stein_case_raw_residual_is_not_zero_and_bias_breaks_it():
    rng = np.random.default_rng(1)
    args = (rng.normal(size=(5, 4)), rng.normal(size=(2, 5)), rng.normal(size=(3, 4)), rng.normal(size=(2, 3)))
    assert stein_two_layer(*args).residual() > 1e-2
    biased = stein_two_layer(*args, b=rng.normal(size=5) * 0.5, b_star=rng.normal(size=3) * 0.5)
    assert biased.residual(projected=True) > 1e-3


@pytest.mark.parametrize("bias", [False, True])
def test_closed_form_exact_gradient_matches_monte_carlo(bias):
    """Layer-0 E[g_j x~] from kernels (Stein companion) against the sample mean of autograd's g_j x~ (z-scores)."""
    t_spec, s_spec = NetSpec((4, 3, 2), bias=bias, dtype="float64"), NetSpec((4, 5, 2), bias=bias, dtype="float64")
    teacher = student_init_(ReLUNet(t_spec), 0)
    student = student_init_(ReLUNet(s_spec), 1)
    with torch.no_grad():  # bias-free top layer, as stein_two_layer assumes
        for net in (teacher, student):
            if net.head.bias is not None:
                net.head.bias.zero_()
    w, ws = student.hidden[0].linear, teacher.hidden[0].linear
    get = lambda p: None if p is None else p.detach().numpy()  # noqa: E731
    closed = stein_two_layer(get(w.weight), get(student.head.weight), get(ws.weight), get(teacher.head.weight),
                             2.0, get(w.bias), get(ws.bias)).exact
    gen = torch.Generator().manual_seed(5)
    x = 2.0 * torch.randn(400_000, 4, generator=gen, dtype=torch.float64)
    g = autograd_gradients(student, teacher, x)[0]
    xt = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], 1)
    samples = (g[:, :, None] * xt[:, None, :]).numpy()  # (N, n, d + 1)
    z = (samples.mean(0) - closed) / (samples.std(0) / np.sqrt(x.shape[0]))
    assert np.abs(z).max() < 4.5


@settings(max_examples=8)
@given(depth=st.integers(1, 3), width=st.integers(2, 4), bias=st.booleans(),
       bn=st.sampled_from(["none", "before", "after"]), seed=st.integers(0, 1000))
def test_eq15_and_top_layer_identities_are_exact(depth, width, bias, bn, seed):
    teacher, student = teacher_student((3, *([width] * depth), 2), (3, *([width + 2] * depth), 2), seed=seed,
                                       bias=bias, bn=bn, dtype="float64")
    x = gaussian_inputs(student, 300, seed)
    dyns = mc_layer_dynamics(student, teacher, x, chunk=128)
    assert len(dyns) == depth + 1
    for dyn in dyns[:-1]:
        assert dyn.eq15_residual <= 1e-12
        assert dyn.term_residual_star is not None and dyn.term_residual_own is not None
    assert dyns[-1].residual() <= 1e-12


def test_project_rows_and_bias_column():
    rng = np.random.default_rng(0)
    g, w = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    p = project_rows(g, w)
    assert np.abs(np.einsum("jk,jk->j", p, w)).max() <= 1e-12 * np.abs(g).max() * np.abs(w).max()
    exact, fact = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    fact_same_but_bias = exact.copy()
    fact_same_but_bias[:, -1] += 1.0
    assert relative_residual(exact, fact_same_but_bias, has_bias=False) == 0.0
    assert relative_residual(exact, fact_same_but_bias, has_bias=True) > 0.1
    assert relative_residual(exact, fact) > 0.1


def test_checks_report_measured_assumption_and_exact_theorem2():
    setup = CheckSetup(teacher=(5, 3, 4, 2))
    a1 = check(setup)
    assert a1.kind == "assumption" and a1.holds is (a1.value <= a1.bound)
    assert a1.details["stein_zero_bias_r_A1_projected"] <= 1e-10
    assert max(a1.details["eq15_identity_residual_per_layer"]) <= 1e-12
    t2 = check_theorem2(setup)
    assert t2.kind == "exact" and t2.holds is True and t2.value <= 1e-10
    assert t2.details["stein_with_bias_projected"] > 1e-3
