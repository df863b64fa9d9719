"""``luckbench beyond``: Hessian spectra, node sets and pruning (luckbench.empirical.beyond), the
stored results, the B1-B3 rules and one-line errors for bad input."""
import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import given, strategies as st
from scipy.stats import hypergeom

from luckbench import cli, store
from luckbench.empirical.train_data import build_networks, load_data
from luckbench.empirical.beyond import flat, hessian, lottery, nodes, prune, runs
from luckbench.reports import beyond_figures, beyond_rows
from luckbench.theory.network import NetSpec, ReLUNet, student_init_, teacher_init_


def _net(widths, seed, init=student_init_):
    net = ReLUNet(NetSpec(tuple(widths), dtype="float64"))
    return init(net, seed)


# --------------------------------------------------------------------------- Hessian


@pytest.mark.parametrize("widths,seed", [((5, 8, 3), 0), ((4, 6, 5, 2), 1), ((3, 20, 4), 2)])
def test_lanczos_top_eigenvalues_match_the_dense_hessian(widths, seed):
    teacher, student = _net(widths, seed, teacher_init_), _net(widths, seed + 10)
    x = torch.randn((200, widths[0]), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    with torch.no_grad():
        target = teacher(x)
    f, theta = hessian.flat_loss(student, lambda out: ((out - target) ** 2).mean(), x)
    assert 50 < theta.numel() <= 300
    reference = torch.autograd.functional.hessian(f, theta).numpy()
    dense = np.linalg.eigvalsh(reference)[::-1]
    top = hessian.top_eigenvalues(hessian.hvp_operator(f, theta), 8, seed=seed)
    np.testing.assert_allclose(top, dense[:8], rtol=1e-8, atol=0)
    np.testing.assert_allclose(hessian.dense_hessian(f, theta), reference, rtol=0, atol=1e-12 * np.abs(reference).max())


def test_dead_nodes_at_an_exact_minimum_add_their_fan_in_as_flat_directions():
    """Student = teacher's nodes + extra nodes with zero fan-out: the residual is 0, so the Hessian is
    J^T J and each extra node's fan-in (d + 1 numbers) is exactly flat."""
    d, m, c, extra = 4, 3, 2, 3
    teacher = _net((d, m, c), 3, teacher_init_)
    net = _net((d, m + extra, c), 4)
    with torch.no_grad():
        net.hidden[0].linear.weight[:m] = teacher.hidden[0].linear.weight
        net.hidden[0].linear.bias[:m] = teacher.hidden[0].linear.bias
        net.head.weight[:, :m] = teacher.head.weight
        net.head.weight[:, m:] = 0.0
        net.head.bias.copy_(teacher.head.bias)
    x = torch.randn((500, d), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    with torch.no_grad():
        target = teacher(x)
    problem = flat.Problem(net, lambda out: 0.5 * ((out - target) ** 2).sum(1).mean(), x,
                           [k for k, _ in net.named_parameters()], [np.arange(m, m + extra)])
    cfg = flat.HessianConfig(teacher=(d, m, c), width_mult=2, top_k=3, flat_tol=1e-9, seeds=1)
    out = flat.measure(cfg, problem, 0)
    assert out["loss"] < 1e-25 and out["n_dead_r"] == extra
    assert out["n_flat"] - out["n_flat_pruned"] == extra * (d + 1)
    assert out["n_flat"] == out["n_flat_predicted"]


# --------------------------------------------------------------------------- node sets


@given(st.integers(0, 10_000))
def test_ticket_built_from_the_lucky_set_overlaps_it_fully(seed):
    rng = np.random.default_rng(seed)
    n, m = 30, 6
    corr = rng.uniform(-1, 1, (n, m))
    lucky = runs.winners(corr)
    scores = rng.uniform(0, 1, n)
    scores[lucky] += 10.0  # the lucky nodes end with the largest weights
    ticket = nodes.top_nodes(scores, len(lucky))
    assert nodes.overlap(ticket, lucky) == 1.0
    assert nodes.overlap(np.setdiff1d(np.arange(n), lucky), lucky) == 0.0


@pytest.mark.parametrize("n,k,ref", [(40, 10, 8), (25, 5, 5), (100, 30, 12)])
def test_random_tickets_match_the_hypergeometric_expectation(n, k, ref):
    rng = np.random.default_rng(n + k)
    reference = rng.choice(n, ref, replace=False)
    draws = 4000
    overlaps = np.array([nodes.overlap(lottery.random_nodes([n], [k], rng)[0], reference) for _ in range(draws)])
    law = hypergeom(n, ref, k)  # population n, ref marked, k drawn
    z = (overlaps.mean() - nodes.chance_overlap(n, ref)) / (law.std() / k / np.sqrt(draws))
    assert abs(z) < 4.0
    assert abs(overlaps.var() / (law.var() / k**2) - 1) < 0.15


def test_subnetwork_computes_the_network_with_the_other_nodes_removed():
    net = _net((6, 12, 9, 3), 7)
    keep = [np.array([0, 3, 4, 11]), np.array([1, 2, 8])]
    removed = [np.setdiff1d(np.arange(w), k) for w, k in zip((12, 9), keep)]
    x = torch.randn((64, 6), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        a, b = nodes.subnetwork(net, keep)(x), nodes.remove_nodes(net, removed)(x)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)


def _tiny_trained(seed=0):
    run = runs.StudentRun(teacher=(6, 3, 4, 2), width_mult=3, epochs=0, valid_samples=512, seeds=1, seed=seed)
    cfg = run.train_config(0)
    teacher, student = build_networks(cfg, torch.device("cpu"))
    return runs.Trained(cfg, load_data(cfg, torch.device("cpu")), teacher, student, student)


def test_pruning_no_node_leaves_the_loss_unchanged():
    tr = _tiny_trained()
    loss, rho = runs.evaluate(tr.final, tr)
    for crit in prune.CRITERIA:
        orders = prune.removal_orders(tr.final, crit, np.random.default_rng(0))
        got = prune.pruned_measures(tr, orders, np.array([0.0, 1.0]))
        assert got[0, 0] == loss and np.array_equal(got[0, 1:], rho)
        assert got[1, 0] != loss and np.all(got[1, 1:] == 0)  # every node removed: constant output


def test_fan_out_order_removes_the_smallest_fan_out_first():
    tr = _tiny_trained()
    order = prune.removal_orders(tr.final, "fan_out", None)[0]
    norms = nodes.fan_out_norms(tr.final)[0]
    assert np.all(np.diff(norms[order]) >= 0)


# --------------------------------------------------------------------------- commands and stored results

TINY = {
    "lottery": ["--teacher", "6,3,4,2", "--width-mult", "3", "--epochs", "1", "--steps-per-epoch", "20",
                "--valid-samples", "256", "--seeds", "3"],
    "hessian": ["--teacher", "4,2,2", "--width-mult", "2", "--iters", "40", "--hessian-samples", "128",
                "--top-k", "4", "--seeds", "3"],
    "prune": ["--teacher", "6,3,4,2", "--width-mult", "3", "--epochs", "1", "--steps-per-epoch", "20",
              "--valid-samples", "256", "--seeds", "3", "--fractions", "0,0.5,1", "--random-draws", "2"],
}
KIND = {"lottery": "beyond-lottery", "hessian": "beyond-hessian", "prune": "beyond-prune"}
JUDGE = {"lottery": beyond_rows.judge_lottery, "hessian": beyond_rows.judge_hessian, "prune": beyond_rows.judge_prune}
DRAW = {"lottery": beyond_figures.draw_lottery, "hessian": beyond_figures.draw_hessian,
        "prune": beyond_figures.draw_prune}


@pytest.mark.parametrize("name", list(TINY))
def test_each_experiment_stores_a_described_result_judged_and_drawn(tmp_path, name, capsys):
    out = tmp_path / f"{name}.nc"
    assert cli.main(["beyond", name, *TINY[name], "--out", str(out)]) == 0
    ds = store.read_dataset(out)
    assert ds.attrs["result_kind"] == KIND[name] and ds.attrs["command"] and "seeds" in store.stored_config(ds)
    for var in ds.variables.values():
        assert var.attrs.get("long_name") and var.attrs.get("units"), var.name
    assert ds.sizes["seed"] == 3
    row = JUDGE[name]([ds])
    assert row["verdict"] in ("holds", "fails", "inconclusive") and row["rule"] and row["measured"]
    assert JUDGE[name]([]) ["verdict"] == "not run"
    assert DRAW[name](ds) is not None
    (png,) = beyond_figures.plot(ds, tmp_path / "figures")  # the report's path, without pyplot
    assert png.stat().st_size > 0
    assert cli.main(["beyond", name, *TINY[name], "--out", str(out)]) == 2  # no --overwrite
    assert "--overwrite" in capsys.readouterr().err


def test_same_seed_same_result(tmp_path):
    paths = [tmp_path / f"{i}.nc" for i in range(2)]
    for p in paths:
        assert cli.main(["beyond", "hessian", *TINY["hessian"], "--setting", "student", "--teacher", "4,2,2",
                         "--epochs", "1", "--steps-per-epoch", "20", "--valid-samples", "256", "--out", str(p)]) == 0
    a, b = (store.read_dataset(p) for p in paths)
    xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())


@pytest.mark.parametrize("argv,needle", [
    (["jackpot"], "invalid choice"),
    (["lottery", "--seeds", "0"], "--seeds"),
    (["prune", "--seeds", "1000000000"], "--seeds"),
    (["prune", "--fractions", "0,1.5"], "--fractions"),
    (["prune", "--fractions", "-0.1"], "--fractions"),
    (["prune", "--fractions", "nan"], "--fractions"),
    (["lottery", "--teacher", "20,100000,10", "--width-mult", "1000"], "parameters"),
    (["hessian", "--teacher", "20,200,10"], "dense Hessian"),
    (["hessian", "--teacher", "20,10,15,10"], "--teacher"),
    (["hessian", "--flat-tol", "2"], "--flat-tol"),
    (["lottery", "--keep-mult", "5", "--width-mult", "5"], "--keep-mult"),
    (["lottery", "--lr", "nan"], "--lr"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, argv, needle):
    try:
        code = cli.main(["beyond", *argv, "--out", str(tmp_path / "x.nc")])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "x.nc").exists()


@pytest.mark.parametrize("values,verdict", [
    ([0.9, 0.95, 0.92], "holds"), ([0.1, 0.2, 0.15], "fails"), ([0.2, 0.8, 0.5, 0.6], "inconclusive"),
    ([0.9, 0.95], "inconclusive"),
])
def test_decide_rule(values, verdict):
    assert beyond_rows.decide(np.array(values), 0.5, above=True) == verdict


def test_thm5_state_as_a_network_computes_v_transpose_relu_w_x():
    rng = np.random.default_rng(3)
    d, n, c = 4, 6, 3
    w, v = rng.standard_normal((n, d + 1)), rng.standard_normal((n + 1, c))
    net = flat._two_layer(w, v, dim=d, has_bias=True, top_bias=True)
    z = rng.standard_normal((50, d))
    x_aug = np.concatenate([z, np.ones((50, 1))], axis=1)
    expected = np.maximum(x_aug @ w.T, 0) @ v[:n] + v[n]
    with torch.no_grad():
        got = net(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)
