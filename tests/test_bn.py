"""Lemma 1 (BN backprop projection) and Theorem 3 (BN gradient orthogonality) for both placements."""
import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from luckbench.theory import bn
from luckbench.theory.checks import CheckSetup
from luckbench.theory.network import teacher_student
from luckbench.theory.theorem1 import gaussian_inputs


def _batch(n, channels, scale, seed):
    gen = torch.Generator().manual_seed(seed)
    f = torch.randn(n, channels, generator=gen, dtype=torch.float64) * scale + 0.3
    g = torch.randn(n, channels, generator=gen, dtype=torch.float64)
    c0 = 0.5 + torch.rand(channels, generator=gen, dtype=torch.float64)
    c1 = torch.rand(channels, generator=gen, dtype=torch.float64) - 0.5
    return f, g, c0, c1


@given(n=st.integers(3, 64), channels=st.integers(1, 5), scale=st.sampled_from([0.1, 1.0, 30.0]),
       seed=st.integers(0, 10_000))
def test_lemma1_exact_without_eps(n, channels, scale, seed):
    res = bn.lemma1_residuals(*_batch(n, channels, scale, seed), eps=0.0)
    assert res["printed_residual"] <= 1e-10
    assert res["g_c_residual"] <= 1e-10
    assert res["overlap_with_f"] <= 1e-10 and res["overlap_with_1"] <= 1e-10


@settings(max_examples=20)
@given(n=st.integers(3, 64), scale=st.sampled_from([0.003, 0.03, 1.0]), seed=st.integers(0, 10_000))
def test_lemma1_eps_effect(n, scale, seed):
    """With eps > 0: the eps-exact form is exact, the printed one is off by O(eps / sigma^2), and
    <g_f, f - mu> = c0 (g . f^) eps / (sigma^2 + eps) per channel (docs/math.md [FLAG])."""
    f, g, c0, c1 = _batch(n, 3, scale, seed)
    eps = 1e-5
    res = bn.lemma1_residuals(f, g, c0, c1, eps)
    assert res["exact_eps_residual"] <= 1e-10
    assert res["printed_residual"] <= 2 * res["eps_over_sigma2"] + 1e-12
    gf = bn.lemma1_formula(f, g, c0, eps)[0]  # equals autograd (exact_eps_residual above)
    mu, var = f.mean(0), f.var(0, unbiased=False)
    fh = (f - mu) / torch.sqrt(var + eps)
    predicted = c0 * (g * fh).sum(0) * eps / (var + eps)
    assert torch.allclose((gf * (f - mu)).sum(0), predicted, rtol=1e-7, atol=1e-13 * (g.abs().sum() * scale).item())


def test_lemma1_printed_form_really_misses_with_large_eps_over_sigma2():
    res = bn.lemma1_residuals(*_batch(64, 2, 0.003, 0), eps=1e-5)
    assert res["eps_over_sigma2"] > 0.1 and res["printed_residual"] > 1e-3


architectures = st.fixed_dictionaries({
    "depth": st.integers(1, 3), "width": st.integers(2, 5), "extra": st.integers(0, 3), "bias": st.booleans(),
    "kind": st.sampled_from(["fc", "conv"]), "dtype": st.just("float64"), "seed": st.integers(0, 1000),
})


@settings(max_examples=20)
@given(a=architectures)
def test_theorem3_orthogonality_both_placements(a):
    t = (3, *([a["width"]] * a["depth"]), 2)
    s = (3, *([a["width"] + a["extra"]] * a["depth"]), 2)
    for placement in ("before", "after"):
        teacher, student = teacher_student(t, s, seed=a["seed"], bias=a["bias"], bn=placement, bn_eps=0.0,
                                           kind=a["kind"], image_size=7, padding=1, dtype=a["dtype"])
        x = gaussian_inputs(student, 32, a["seed"])
        for r in bn.theorem3_overlaps(student, teacher, x):
            if placement == "before":
                assert r.w_only <= 1e-10 and r.bias_grad <= 1e-10
            else:
                assert r.augmented <= 1e-10


def test_theorem3_after_relu_conserves_augmented_not_plain_norm():
    """Linear -> ReLU -> BN with biases: <w, grad_w> = -b dJ/db != 0, so ||w|| is not conserved."""
    teacher, student = teacher_student((6, 4, 5, 3), (6, 8, 10, 3), seed=3, bn="after", bn_eps=0.0, dtype="float64")
    x = gaussian_inputs(student, 64, 0)
    results = bn.theorem3_overlaps(student, teacher, x)
    assert max(r.w_only for r in results) > 1e-3
    lin = student.hidden[1].linear
    w_dot = (lin.weight * lin.weight.grad).sum(1)
    assert torch.allclose(w_dot, -lin.bias * lin.bias.grad, rtol=1e-9, atol=1e-14)


def test_theorem3_with_eps_has_error_of_order_eps_over_sigma2():
    teacher, student = teacher_student((6, 4, 3), (6, 8, 3), seed=1, bn="before", bn_eps=1e-3, dtype="float64")
    x = gaussian_inputs(student, 64, 0)
    r = bn.theorem3_overlaps(student, teacher, x)[0]
    assert 1e-12 < r.w_only < 1e-1


@pytest.mark.parametrize("bias", [True, False])
def test_checks_corrected_and_paper_mode(bias):
    setup = CheckSetup(teacher=(6, 4, 5, 3), bias=bias)
    assert bn.check_lemma1(setup).holds is True
    v = bn.check_theorem3(setup)
    assert v.holds is True and v.value <= 1e-10 and "corrected" in v.details["form"]
    paper = bn.check_theorem3(CheckSetup(teacher=(6, 4, 5, 3), bias=bias, paper_mode=True))
    assert "printed" in paper.details["form"]
    assert paper.holds is (not bias)  # the printed ||w|| claim fails exactly when BN-after units have biases
    lemma_paper = bn.check_lemma1(CheckSetup(paper_mode=True))
    assert lemma_paper.details["eps"] == 1e-5 and lemma_paper.tolerance > 1e-10


def test_theorem3_bias_gradient_is_measured():
    """bias_grad is |dJ/db_j| / ||grad_(w,b) J||_F, recomputed here from autograd: zero for
    Linear -> BN -> ReLU (the second half of Theorem 3's claim), clearly non-zero after the ReLU."""
    for placement, expect_zero in (("before", True), ("after", False)):
        teacher, student = teacher_student((6, 4, 5, 3), (6, 8, 10, 3), seed=3, bn=placement, bn_eps=0.0,
                                           dtype="float64")
        x = gaussian_inputs(student, 64, 0)
        results = bn.theorem3_overlaps(student, teacher, x)
        for r, block in zip(results, student.hidden):
            lin = block.linear
            layer_norm = torch.cat([lin.weight.grad.flatten(1), lin.bias.grad[:, None]], 1).norm()
            direct = (lin.bias.grad.abs() / layer_norm).max().item()
            assert r.bias_grad == pytest.approx(direct, rel=1e-12, abs=1e-300)
            assert (direct <= 1e-12) if expect_zero else (direct > 1e-3)


def test_theorem3_check_fails_when_a_bias_gradient_survives(monkeypatch):
    """Linear -> BN -> ReLU claims dJ/db = 0 as well as <w, grad_w J> = 0: a non-zero bias gradient
    in the measured results (faked here, with the weight part still orthogonal) must fail the check."""
    real = bn.theorem3_overlaps

    def leaky(student, teacher, x):
        out = real(student, teacher, x)
        return [dataclasses.replace(r, bias_grad=0.5) for r in out] if student.spec.bn == "before" else out

    monkeypatch.setattr(bn, "theorem3_overlaps", leaky)
    v = bn.check_theorem3(CheckSetup(teacher=(6, 4, 5, 3), bias=True))
    assert v.holds is False and v.value >= 0.5
