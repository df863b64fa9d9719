"""Networks of luckbench.theory.network: validation, traces, BN with eps=0, teacher/student inits."""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from luckbench.errors import InputError
from luckbench.theory.teacher_scheme import ENTRIES
from luckbench.theory.network import (BatchNorm1d, NetSpec, ReLUNet, randomize_bn_,
                                      student_init_, teacher_init_)

CHOICES = torch.tensor(ENTRIES, dtype=torch.float64)


@pytest.mark.parametrize("kwargs, word", [
    (dict(widths=()), "widths"),
    (dict(widths=(5,)), "widths"),
    (dict(widths=(5, 0, 3)), "widths"),
    (dict(widths=(5, -2, 3)), "widths"),
    (dict(widths=("a", 3)), "widths"),
    (dict(widths=(5, 3), kind="rnn"), "kind"),
    (dict(widths=(5, 3), bn="middle"), "bn"),
    (dict(widths=(5, 3), dtype="float16"), "dtype"),
    (dict(widths=(5, 3), bn_eps=-1.0), "bn_eps"),
    (dict(widths=(1, 4, 4, 4, 2), kind="conv", image_size=6), "image_size"),
    (dict(widths=(1, 4, 4, 2), kind="conv", image_size=8, pool="max"), "image_size"),
    (dict(widths=(1, 4, 2), kind="conv", stride=0), "stride"),
    (dict(widths=(1, 4, 2), kind="conv", pool="median"), "pool"),
    (dict(widths=(5, 3), pool="max"), "pool"),
])
def test_spec_validation_names_the_argument(kwargs, word):
    with pytest.raises(InputError) as err:
        NetSpec(**kwargs)
    assert word in str(err.value) and "\n" not in str(err.value)


def test_spec_shapes_and_widening():
    spec = NetSpec((1, 64, 64, 64, 64, 100), kind="conv")
    assert spec.map_sizes == (16, 14, 12, 10, 8) and spec.input_dim == 256 and spec.depth == 4
    pooled = NetSpec((1, 8, 8, 3), kind="conv", image_size=17, padding=1, stride=2, pool="avg")
    assert pooled.map_sizes == (17, 9, 2) and pooled.pooled_sizes == (17, 4, 1)  # 17 -> 9 -> pool 4 -> 2 -> pool 1
    assert ReLUNet(pooled)(torch.zeros(2, 1, 17, 17)).shape == (2, 3)
    wide = NetSpec((20, 50, 75, 100, 125, 100)).widened(10)
    assert wide.widths == (20, 500, 750, 1000, 1250, 100)


@pytest.mark.parametrize("kind", ["fc", "conv"])
@pytest.mark.parametrize("bn", ["none", "before", "after"])
def test_trace_matches_forward(kind, bn):
    spec = NetSpec((2, 3, 4, 5), kind=kind, bn=bn, dtype="float64", image_size=6)
    net = randomize_bn_(teacher_init_(ReLUNet(spec), 0), 1).eval()
    x = torch.randn(7, spec.input_dim, dtype=torch.float64)
    trace = net.forward_all(x)
    assert torch.equal(trace.out, net(x))
    for block, z, g, f in zip(net.hidden, trace.pre, trace.gate, trace.act):
        assert torch.equal(g, (z > 0).to(z.dtype))
        expected = block.bn(torch.relu(z)) if bn == "after" else torch.relu(z)
        assert torch.allclose(f, expected, rtol=0, atol=0)
    assert net.hidden[0].linear.weight.dtype == torch.float64


def test_zero_eps_batchnorm_trains_like_pytorch():
    x = torch.randn(32, 5, dtype=torch.float64) * 3 + 1
    ours, ref = BatchNorm1d(5, eps=0.0).double(), torch.nn.BatchNorm1d(5, eps=1e-300).double()
    for bn in (ours, ref):
        bn.weight.data = torch.linspace(0.5, 1.5, 5, dtype=torch.float64)
        bn.bias.data = torch.linspace(-1, 1, 5, dtype=torch.float64)
    y_ours, y_ref = ours(x), ref(x)
    assert torch.allclose(y_ours, y_ref, rtol=1e-13, atol=1e-13)
    assert torch.allclose(ours.running_var, ref.running_var, rtol=1e-13)
    assert torch.allclose(ours.running_mean, ref.running_mean, rtol=1e-13)
    assert int(ours.num_batches_tracked) == 1


@given(depth=st.integers(0, 3), width=st.integers(1, 12), fan_in=st.integers(2, 8), bias=st.booleans(),
       seed=st.integers(0, 10_000))
def test_teacher_init_entries_rows_and_normalisation(depth, width, fan_in, bias, seed):
    spec = NetSpec((fan_in, *([width] * depth), 3), bias=bias, dtype="float64")
    raw = teacher_init_(ReLUNet(spec), seed, normalize=False)
    normed = teacher_init_(ReLUNet(spec), torch.Generator().manual_seed(seed), normalize=True)
    for lin_r, lin_n in zip(raw.linears, normed.linears):
        w = lin_r.weight.detach()
        assert torch.isin(w, CHOICES).all()
        assert (w.abs().sum(1) > 0).all()
        assert torch.unique(w, dim=0).shape[0] == w.shape[0]
        b = lin_r.bias.detach() if bias else torch.zeros(w.shape[0], dtype=w.dtype)
        assert ((b >= -0.5) & (b <= 0.5)).all()
        norm = torch.sqrt((w ** 2).sum(1) + b ** 2)
        assert torch.allclose(lin_n.weight.detach(), w / norm[:, None], rtol=1e-14, atol=0)
        if bias:
            assert torch.allclose(lin_n.bias.detach(), b / norm, rtol=1e-14, atol=0)


def test_teacher_init_conv_filters_are_rows_and_impossible_rows_rejected():
    net = teacher_init_(ReLUNet(NetSpec((1, 6, 3), kind="conv", image_size=5, dtype="float64")), 0, normalize=False)
    w = net.hidden[0].linear.weight.detach().flatten(1)
    assert torch.isin(w, CHOICES).all() and torch.unique(w, dim=0).shape[0] == 6
    with pytest.raises(InputError, match="distinct"):
        teacher_init_(ReLUNet(NetSpec((1, 5, 2))), 0)  # only 4 non-zero 1-entry rows exist


def test_inits_are_deterministic():
    spec = NetSpec((4, 6, 3), dtype="float64")
    a, b = teacher_init_(ReLUNet(spec), 7), teacher_init_(ReLUNet(spec), 7)
    c, d = student_init_(ReLUNet(spec), 7), student_init_(ReLUNet(spec), torch.Generator().manual_seed(7))
    for x, y in ((a, b), (c, d)):
        assert all(torch.equal(p, q) for p, q in zip(x.parameters(), y.parameters()))
    with pytest.raises(InputError, match="generator"):
        student_init_(ReLUNet(spec), 1.5)


def test_student_default_init_bounds():
    net = student_init_(ReLUNet(NetSpec((9, 16, 4), kind="conv", image_size=5)), 3)
    for lin in net.linears:
        bound = 1 / math.sqrt(lin.weight[0].numel())
        assert lin.weight.abs().max() <= bound and lin.bias.abs().max() <= bound
        assert lin.weight.abs().max() > 0.5 * bound


@pytest.mark.parametrize("kind", ["fc", "conv"])
@pytest.mark.parametrize("bn", ["none", "after"])
def test_near_teacher_student(kind, bn):
    spec = NetSpec((2, 3, 4, 5), kind=kind, bn=bn, dtype="float64", image_size=6)
    teacher = randomize_bn_(teacher_init_(ReLUNet(spec), 0), 1).eval()
    x = torch.randn(11, spec.input_dim, dtype=torch.float64) * 10
    exact = student_init_(ReLUNet(spec.widened(3)), 2, teacher=teacher, perturb=0.0).eval()
    assert torch.allclose(exact(x), teacher(x), rtol=1e-12, atol=1e-12)
    gaps = []
    for perturb in (1e-3, 1e-1):
        near = student_init_(ReLUNet(spec.widened(3)), 2, teacher=teacher, perturb=perturb)
        w_s, w_t = near.hidden[0].linear.weight.detach(), teacher.hidden[0].linear.weight.detach()
        gaps.append((w_s[: w_t.shape[0]] - w_t).norm() / w_t.norm())
    assert 0 < gaps[0] < gaps[1] and 50 < gaps[1] / gaps[0] < 200


def test_near_teacher_rejects_incompatible_teacher():
    teacher = teacher_init_(ReLUNet(NetSpec((4, 6, 3))), 0)
    with pytest.raises(InputError):
        student_init_(ReLUNet(NetSpec((4, 6, 6, 3))), 0, teacher=teacher)
    with pytest.raises(InputError):
        student_init_(ReLUNet(NetSpec((4, 3, 3))), 0, teacher=teacher)
    with pytest.raises(InputError, match="perturb"):
        student_init_(ReLUNet(NetSpec((4, 12, 3))), 0, teacher=teacher, perturb=float("nan"))
