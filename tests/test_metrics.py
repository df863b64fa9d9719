"""rho-bar, ranks, matching and beta*/H* against slow, obvious reference implementations."""
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from luckbench.empirical import metrics
from luckbench.errors import InputError
from luckbench.theory.network import NetSpec, ReLUNet, randomize_bn_, student_init_, teacher_init_


def _pair(teacher=(6, 3, 4, 2), mult=2, seed=0, bn="none", kind="fc", **kw):
    t = ReLUNet(NetSpec(teacher, bn=bn, kind=kind, dtype="float64", **kw))
    s = ReLUNet(NetSpec(teacher, bn=bn, kind=kind, dtype="float64", **kw).widened(mult))
    teacher_init_(t, seed)
    student_init_(s, seed + 1)
    return t, s


def _numpy_acts(net, x):
    """Plain numpy forward of a BN-free FC net: the ReLU outputs of every hidden layer."""
    h, acts = x.numpy(), []
    for block in net.hidden:
        w, b = block.linear.weight.detach().numpy(), block.linear.bias.detach().numpy()
        h = np.maximum(h @ w.T + b, 0.0)
        acts.append(h)
    return acts


def _slow_corr(a, b):
    """Pearson correlation of every column pair, one np.corrcoef call per pair; 0 for a constant
    student column, NaN for a constant (dead) teacher column."""
    out = np.zeros((a.shape[1], b.shape[1]))
    for j, k in itertools.product(range(a.shape[1]), range(b.shape[1])):
        if b[:, k].std() == 0:
            out[j, k] = np.nan
        elif a[:, j].std() > 0:
            out[j, k] = np.corrcoef(a[:, j], b[:, k])[0, 1]
    return out


def test_correlations_match_the_slow_reference_on_small_nets():
    t, s = _pair()
    x = 10 * torch.randn(700, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ev = metrics.evaluate(s, t, x, batch_size=128)  # several chunks
    for got, a, b in zip(ev.corr, _numpy_acts(s, x), _numpy_acts(t, x)):
        ref = _slow_corr(a, b)
        assert np.allclose(got, ref, atol=1e-12, rtol=0, equal_nan=True)
        best = [max(ref[:, k]) for k in range(ref.shape[1]) if not np.isnan(ref[0, k])]
        assert metrics.rho_bar(got) == pytest.approx(np.mean(best), abs=1e-12)
    out_s, out_t = s(x).detach().numpy(), t(x).detach().numpy()
    assert ev.loss == pytest.approx(np.mean((out_s - out_t) ** 2), rel=1e-12)


@given(st.integers(1, 50), st.floats(-1e4, 1e4), st.integers(0, 2**31 - 1))
def test_accumulator_is_chunking_invariant_and_shift_safe(chunk, offset, seed):
    g = np.random.default_rng(seed)
    a = g.normal(size=(120, 3)) + offset
    b = a[:, :2] * [2.0, -1.0] + 0.1 * g.normal(size=(120, 2)) + offset
    acc = metrics.CorrAccumulator()
    for i in range(0, 120, chunk):
        acc.update(torch.from_numpy(a[i:i + chunk]), torch.from_numpy(b[i:i + chunk]))
    assert np.allclose(acc.result(), _slow_corr(a, b), atol=1e-9, rtol=0, equal_nan=True)


def test_constant_students_get_zero_and_dead_teachers_are_left_out():
    a = torch.tensor([[1.0, 0.0], [2.0, 0.0], [4.0, 0.0]], dtype=torch.float64)
    acc = metrics.CorrAccumulator()
    acc.update(a, a)
    corr = acc.result()
    assert np.array_equal(corr, np.array([[1.0, np.nan], [0.0, np.nan]]), equal_nan=True)
    assert metrics.rho_bar(corr) == 1.0
    winners = metrics.match(corr)
    assert winners.tolist() == [0, -1]
    assert metrics.mean_rank(corr, winners) == 0.0
    assert np.isnan(metrics.ranks(corr, winners)[1]) and np.isnan(metrics.align(corr, winners)[1]).all()


def test_conv_correlation_is_over_samples_and_positions():
    t, s = _pair(teacher=(1, 2, 3, 4), kind="conv", image_size=7)
    x = torch.randn(20, 1, 7, 7, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    ev = metrics.evaluate(s, t, x, batch_size=7)
    ps, pt = s.forward_all(x).pre, t.forward_all(x).pre
    for got, a, b in zip(ev.corr, ps, pt):
        flat = [torch.relu(v).detach().permute(0, 2, 3, 1).reshape(-1, v.shape[1]).numpy() for v in (a, b)]
        assert np.allclose(got, _slow_corr(*flat), atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("bn", ["none", "after", "before"])
def test_rho_bar_is_one_when_the_student_contains_the_teacher(bn):
    t, s = _pair(teacher=(6, 3, 4, 5, 2), mult=3, bn=bn)
    if bn != "none":
        randomize_bn_(t, 5)
    student_init_(s, 9, teacher=t, perturb=0.0)
    x = 10 * torch.randn(400, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    ev = metrics.evaluate(s, t, x)
    for corr in ev.corr:
        assert metrics.rho_bar(corr) == pytest.approx(1.0, abs=1e-12)
        live = metrics.live_teachers(corr)
        assert live.any()  # dead teacher units (constant on x) are left out by definition
        assert np.array_equal(metrics.match(corr, "hungarian")[live], np.arange(corr.shape[1])[live])


def _slow_ranks(corr, students):
    out = []
    for k, j in enumerate(students):
        order = sorted(range(corr.shape[0]), key=lambda i: -corr[i, k])
        first = min(order.index(i) for i in range(corr.shape[0]) if corr[i, k] == corr[j, k])
        out.append(first / (corr.shape[0] - 1))
    return np.array(out)


@given(st.integers(2, 9), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_ranks_match_a_sorting_reference(n, m, seed):
    g = np.random.default_rng(seed)
    corr = np.round(g.uniform(-1, 1, size=(n, m)), 1)  # rounding creates ties
    students = g.integers(0, n, size=m)
    r = metrics.ranks(corr, students)
    assert np.allclose(r, _slow_ranks(corr, students))
    assert np.all((0 <= r) & (r <= 1))


@given(st.integers(2, 30), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_mean_rank_is_zero_when_the_winners_were_first(n, m, seed):
    corr = np.random.default_rng(seed).uniform(-1, 1, size=(n, m))
    winners = metrics.match(corr)
    assert metrics.mean_rank(corr, winners) == 0.0
    losers = np.argmin(corr, axis=0)
    assert metrics.mean_rank(corr, losers) == 1.0


def test_hungarian_matching_is_one_to_one_and_optimal():
    g = np.random.default_rng(4)
    corr = g.uniform(-1, 1, size=(5, 3))
    best = max(sum(corr[p[k], k] for k in range(3)) for p in itertools.permutations(range(5), 3))
    got = metrics.match(corr, "hungarian")
    assert len(set(got.tolist())) == 3
    assert corr[got, np.arange(3)].sum() == pytest.approx(best, abs=1e-12)
    assert np.allclose(np.diag(metrics.align(corr, metrics.match(corr))), corr.max(0))
    with pytest.raises(InputError):
        metrics.match(corr.T, "hungarian")


def _slow_beta_star(s, t, x):
    """Eq. 3 sample by sample with explicit index sums; BN-free FC nets. Returns E[beta*], D*."""
    ws = [b.linear.weight.detach().numpy() for b in s.hidden] + [s.head.weight.detach().numpy()]
    wt = [b.linear.weight.detach().numpy() for b in t.hidden] + [t.head.weight.detach().numpy()]
    n_layers = len(s.hidden)
    sums_b = [np.zeros((ws[l].shape[0], wt[l].shape[0])) for l in range(n_layers)]
    sums_d = [np.zeros_like(v) for v in sums_b]
    for xi in x:
        gs = [(v > 0).astype(float) for v in (p.detach().numpy()[0] for p in s.forward_all(xi[None]).pre)]
        gt = [(v > 0).astype(float) for v in (p.detach().numpy()[0] for p in t.forward_all(xi[None]).pre)]
        top = np.eye(ws[-1].shape[0])  # beta* = I at the linear output
        beta = top
        for l in range(n_layers - 1, -1, -1):
            up_s, up_t = ws[l + 1], wt[l + 1]
            g_up_s = gs[l + 1] if l + 1 < n_layers else np.ones(up_s.shape[0])
            g_up_t = gt[l + 1] if l + 1 < n_layers else np.ones(up_t.shape[0])
            new = np.zeros((up_s.shape[1], up_t.shape[1]))
            for k, ko in itertools.product(range(up_s.shape[1]), range(up_t.shape[1])):
                new[k, ko] = sum(up_s[j, k] * g_up_s[j] * beta[j, jo] * g_up_t[jo] * up_t[jo, ko]
                                 for j in range(up_s.shape[0]) for jo in range(up_t.shape[0]))
            beta = new
            sums_b[l] += beta
            sums_d[l] += np.outer(gs[l], gt[l])
    return [b / len(x) for b in sums_b], [d / len(x) for d in sums_d]


def test_beta_star_and_h_star_match_eq3_sample_by_sample():
    t, s = _pair(teacher=(4, 3, 2, 3, 2), mult=2)
    x = 10 * torch.randn(40, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    got = metrics.beta_h_star(s, t, x, batch_size=16)
    ref_b, ref_d = _slow_beta_star(s, t, x)
    for g, rb, rd in zip(got, ref_b, ref_d):
        assert np.allclose(g.beta, rb, atol=1e-12, rtol=1e-12)
        assert np.allclose(g.d, rd, atol=1e-15)
        assert np.allclose(g.h, rb * rd, atol=1e-12)


@pytest.mark.parametrize("bn", ["after", "before"])
def test_effective_maps_fold_eval_mode_batchnorm(bn):
    t, _ = _pair(teacher=(5, 4, 3, 6, 2), bn=bn)
    randomize_bn_(t, 3)
    t.eval()
    x = 10 * torch.randn(2, 5, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    tr = t.forward_all(x)
    maps = metrics.effective_maps(t)
    nxt = [*tr.pre[1:], tr.out]
    for l, mat in enumerate(maps):
        d_in = torch.relu(tr.pre[l][0]) - torch.relu(tr.pre[l][1])
        d_out = nxt[l][0] - nxt[l][1]
        assert torch.allclose(mat @ d_in, d_out.detach(), atol=1e-12)


def test_beta_star_refuses_conv_nets():
    t, s = _pair(teacher=(1, 2, 2), kind="conv", image_size=5)
    with pytest.raises(InputError, match="fully connected"):
        metrics.beta_h_star(s, t, torch.zeros(2, 1, 5, 5, dtype=torch.float64))
