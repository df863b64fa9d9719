"""Theorem 1 (recursive gradient rule): exact per sample against autograd, FC and conv, BN in eval mode."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from luckbench.theory import theorem1
from luckbench.theory.checks import CheckSetup
from luckbench.theory.network import teacher_student
from luckbench.theory.theorem1 import (beta_matrices, effective_layers, gaussian_inputs, recursive_gradients,
                                       relative_residuals, relu_trace)

architectures = st.fixed_dictionaries({
    "depth": st.integers(1, 3),
    "teacher_width": st.integers(1, 5),
    "extra": st.integers(0, 4),
    "inputs": st.integers(2, 4),  # >= 2: enough distinct teacher rows exist
    "outputs": st.integers(1, 3),
    "bias": st.booleans(),
    "bn": st.sampled_from(["none", "before", "after"]),
    "seed": st.integers(0, 1000),
})


def _pair(a, kind="fc", dtype="float64", **extra):
    t = (a["inputs"], *([a["teacher_width"]] * a["depth"]), a["outputs"])
    s = (a["inputs"], *([a["teacher_width"] + a["extra"]] * a["depth"]), a["outputs"])
    return teacher_student(t, s, seed=a["seed"], kind=kind, bias=a["bias"], bn=a["bn"], dtype=dtype, **extra)


@settings(max_examples=15)
@given(a=architectures)
def test_recursive_rule_exact_fc_float64(a):
    teacher, student = _pair(a)
    x = gaussian_inputs(student, 16, a["seed"])
    assert relative_residuals(student, teacher, x).max() <= 1e-10


@settings(max_examples=10)
@given(a=architectures, padding=st.integers(0, 1), kernel=st.integers(1, 3))
def test_recursive_rule_exact_conv_float64(a, padding, kernel):
    teacher, student = _pair(a, kind="conv", image_size=7, padding=padding, kernel_size=kernel)
    x = gaussian_inputs(student, 4, a["seed"])
    assert relative_residuals(student, teacher, x).max() <= 1e-10


@settings(max_examples=10)
@given(a=architectures)
def test_recursive_rule_float32(a):
    teacher, student = _pair(a, dtype="float32")
    x = gaussian_inputs(student, 16, a["seed"])
    assert relative_residuals(student, teacher, x).max() <= 1e-4


@settings(max_examples=15)
@given(a=architectures)
def test_explicit_beta_matrices_reproduce_both_terms(a):
    """Eq. 3 as explicit per-sample matrices gives the same f' B* f~* and f' B f~ as the matrix-free path."""
    teacher, student = _pair(a)
    x = gaussian_inputs(student, 8, a["seed"])
    star, own = recursive_gradients(student, teacher, x)
    s_gate, s_act = relu_trace(student, x)
    _, t_act = relu_trace(teacher, x)
    one = torch.ones(x.shape[0], 1, dtype=x.dtype)
    for l, (b_star, b_own) in enumerate(beta_matrices(student, teacher, x)):
        f_star, f_own = torch.cat([t_act[l], one], 1), torch.cat([s_act[l], one], 1)
        scale = 1 + star[l].abs().max() + own[l].abs().max()
        assert (s_gate[l] * torch.einsum("nio,no->ni", b_star, f_star) - star[l]).abs().max() <= 1e-12 * scale
        assert (s_gate[l] * torch.einsum("nio,no->ni", b_own, f_own) - own[l]).abs().max() <= 1e-12 * scale


@pytest.mark.parametrize("kind", ["fc", "conv"])
@pytest.mark.parametrize("bn", ["before", "after"])
def test_folded_bn_layers_reproduce_the_network(kind, bn):
    teacher, student = teacher_student((2, 3, 4, 2), (2, 5, 6, 2), kind=kind, bn=bn, dtype="float64", image_size=6,
                                       padding=1)
    x = gaussian_inputs(student, 5, 0)
    gates, acts = relu_trace(student, x)
    layers = effective_layers(student)
    h = student.prepare_input(x)
    for k in range(len(layers) - 1):
        z = layers[k](h)
        h = torch.relu(z)
        assert torch.equal((z > 0).to(z.dtype), gates[k])
    assert torch.allclose(layers[-1](h), student(x), rtol=1e-12, atol=1e-12)


def test_the_check_detects_a_wrong_teacher_chain(monkeypatch):
    """Dropping the teacher's gates D* from Eq. 3 must be caught."""
    teacher, student = teacher_student((4, 5, 6, 3), (4, 8, 9, 3), dtype="float64")
    x = gaussian_inputs(student, 16, 0)
    real = theorem1.relu_trace

    def ungated_teacher(net, xx):
        gates, acts = real(net, xx)
        return ([torch.ones_like(g) for g in gates], acts) if net is teacher else (gates, acts)

    monkeypatch.setattr(theorem1, "relu_trace", ungated_teacher)
    assert relative_residuals(student, teacher, x).max() > 1e-3


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_check_verdict(dtype):
    v = theorem1.check(CheckSetup(teacher=(6, 4, 5, 3), bn="after", dtype=dtype))
    assert v.name == "theorem1" and v.kind == "exact" and v.holds is True
    assert v.value <= v.tolerance and len(v.details["conv_max_rel_residual_per_layer"]) == 2


@settings(max_examples=12, deadline=None)
@given(a=architectures, geometry=st.fixed_dictionaries({
    "padding": st.integers(0, 2), "kernel_size": st.integers(1, 3), "stride": st.integers(1, 3),
    "pool": st.sampled_from(["none", "max", "avg"]), "pool_size": st.integers(2, 3)}),
    image=st.integers(0, 6))
def test_recursive_rule_exact_strided_padded_pooled_conv(a, geometry, image):
    """Theorem 1 with strides, zero padding and max / average pooling (odd map sizes included, so
    pooling drops a border): still exact per sample in float64."""
    a = {**a, "depth": min(a["depth"], 2)}
    shrink = (geometry["stride"] * (geometry["pool_size"] if geometry["pool"] != "none" else 1)) ** a["depth"]
    side = shrink * 3 + image  # large enough for every layer to keep a map
    teacher, student = _pair(a, kind="conv", image_size=side, **geometry)
    x = gaussian_inputs(student, 4, a["seed"])
    assert relative_residuals(student, teacher, x).max() <= 1e-12


@pytest.mark.parametrize("bn", ["none", "before", "after"])
def test_folded_layers_with_pooling_reproduce_the_network(bn):
    teacher, student = teacher_student((2, 3, 4, 2), (2, 5, 6, 2), kind="conv", bn=bn, dtype="float64",
                                       image_size=11, padding=1, stride=2, pool="max")
    x = gaussian_inputs(student, 5, 0)
    layers, sels = effective_layers(student), theorem1.pool_selections(student, x)
    h = student.prepare_input(x)
    for k in range(len(layers) - 1):
        h = torch.relu(layers[k](h, sels[k]))
    assert torch.allclose(layers[-1](h, sels[-1]), student(x), rtol=1e-12, atol=1e-12)


def test_a_wrong_max_pool_selection_is_caught(monkeypatch):
    """The rule needs each sample's own max-pool selection: giving the student the window maxima of
    another sample must break the identity."""
    teacher, student = teacher_student((2, 4, 3), (2, 6, 3), kind="conv", dtype="float64", image_size=8,
                                       padding=1, pool="max")
    x = gaussian_inputs(student, 8, 0)
    assert relative_residuals(student, teacher, x).max() <= 1e-12
    real = theorem1.pool_selections
    monkeypatch.setattr(theorem1, "pool_selections",
                        lambda net, xx: real(net, xx.roll(1, 0) if net is student else xx))
    assert relative_residuals(student, teacher, x).max() > 1e-3


def test_check_covers_strided_and_pooled_convolutions():
    v = theorem1.check(CheckSetup(teacher=(3, 4, 5, 2), bn="after"))
    assert v.holds is True
    for name in ("conv_strided", "conv_maxpool", "conv_avgpool"):
        assert max(v.details[f"{name}_max_rel_residual_per_layer"]) <= 1e-12
