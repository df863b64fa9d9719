"""BN-bias audit: exact counts on synthetic weights, published comparison, figures, CLI, training."""
import math
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from luckbench import cli
from luckbench.empirical import bn_audit
from luckbench.empirical.architectures import bn_layers, build
from luckbench.empirical.bn_train import DigitsTrainConfig, train_digits
from luckbench.errors import InputError
from luckbench.reports import bn_figures
from luckbench.store import read_dataset, stored_config


def _phi(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _with_bn(arch, biases, gammas=None):
    """``arch`` with uninitialised non-BN weights (never touched) and the given BN bias/weight."""
    model = build(arch, "meta").to_empty(device="cpu")
    for i, (_, bn) in enumerate(bn_layers(model)):
        bn.bias.data = torch.as_tensor(biases[i], dtype=torch.float32)
        g = torch.ones(bn.num_features) if gammas is None else torch.as_tensor(gammas[i], dtype=torch.float32)
        bn.weight.data = g
    return model


def _published_biases(arch, extra_negative_at=None):
    """Per layer: round(pct * n / 100) biases of -0.1 (<= 0 as published), the rest +0.1."""
    model = build(arch, "meta")
    out = []
    for i, ((_, bn), pct) in enumerate(zip(bn_layers(model), bn_audit.PUBLISHED_PCT_NONPOSITIVE[arch])):
        k = round(pct * bn.num_features / 100) + (1 if i == extra_negative_at else 0)
        out.append([-0.1] * k + [0.1] * (bn.num_features - k))
    return out


def test_exact_counts_with_zeros_near_zero_and_gamma_signs():
    arch = "resnet18"
    sizes = [bn.num_features for _, bn in bn_layers(build(arch, "meta"))]
    biases, gammas, expected = [], [], []
    for i, n in enumerate(sizes):
        neg, zero = i % 5 + 1, i % 3  # plus one -5e-4 and one +5e-4 (near zero, signed)
        b = [-0.5] * neg + [0.0] * zero + [-5e-4, 5e-4] + [0.7] * (n - neg - zero - 2)
        g = [-1.0] * (i % 4) + [0.0] + [1.0] * (n - i % 4 - 1)
        biases.append(b)
        gammas.append(g)
        expected.append((n, neg + 1, zero, n - neg - zero - 1, zero + 2, i % 4, 1))
    ds = bn_audit.audit(_with_bn(arch, biases, gammas), arch, near_zero_tol=1e-3)
    got = np.stack([ds[v].values for v in ("n_channels", "n_negative", "n_zero", "n_positive",
                                            "n_near_zero", "n_gamma_negative", "n_gamma_zero")], axis=1)
    np.testing.assert_array_equal(got, np.array(expected))
    np.testing.assert_array_equal(ds["frac_negative"].values, [(e[1]) / e[0] for e in expected])
    np.testing.assert_array_equal(ds["frac_nonpositive"].values, [(e[1] + e[2]) / e[0] for e in expected])
    assert int(ds["total_channels"]) == 4800
    assert int(ds["total_zero"]) == sum(i % 3 for i in range(20))
    assert list(ds["layer"].values[:2]) == ["bn1", "layer1.0.bn1"]
    assert int(ds["feeds_relu"].sum()) == 20 - 11
    narrow = bn_audit.audit(_with_bn(arch, biases, gammas), arch, near_zero_tol=1e-4)
    np.testing.assert_array_equal(narrow["n_near_zero"].values, [i % 3 for i in range(20)])


def test_pass_probability_closed_form():
    beta = np.array([0.0, 1.0, -1.0, 0.3, -0.3, 0.0])
    gamma = np.array([1.0, -1.0, 2.0, 0.0, 0.0, 0.0])
    expected = [0.5, _phi(1.0), _phi(-0.5), 1.0, 0.0, 0.0]
    np.testing.assert_allclose(bn_audit.pass_probability(beta, gamma), expected, rtol=1e-14, atol=0)


@pytest.mark.parametrize("beta,gamma", [(-0.4, 1.3), (0.2, -0.5)])
def test_pass_probability_monte_carlo(beta, gamma):
    n = 200_000
    z = np.random.default_rng(1).standard_normal(n)
    frac = float(np.mean(gamma * z + beta > 0))
    p = float(bn_audit.pass_probability(np.array([beta]), np.array([gamma]))[0])
    assert abs(frac - p) / math.sqrt(p * (1 - p) / n) < 4.5


def test_p_pass_mean_per_layer():
    sizes = [bn.num_features for _, bn in bn_layers(build("vgg_digits_bn", "meta"))]
    biases = [[1.0] + [0.0] * (n - 1) for n in sizes]
    ds = bn_audit.audit(_with_bn("vgg_digits_bn", biases), "vgg_digits_bn")
    expected = [(_phi(1.0) + 0.5 * (n - 1)) / n for n in sizes]
    np.testing.assert_allclose(ds["p_pass_mean"].values, expected, rtol=1e-12)
    np.testing.assert_allclose(float(ds["total_p_pass_mean"]), (6 * _phi(1.0) + 0.5 * (448 - 6)) / 448, rtol=1e-12)


def test_published_comparison_vgg19_bn():
    ds = bn_audit.audit(_with_bn("vgg19_bn", _published_biases("vgg19_bn")), "vgg19_bn")
    assert ds["matches_published"].values.tolist() == [1] * 16
    assert np.abs(ds["diff_frac_nonpositive"].values).max() < 5e-5
    assert abs(float(ds["total_frac_nonpositive"]) - 0.929) < 5e-4  # "about 92.9 % of 5,504"
    assert abs(float(ds["total_published_frac_nonpositive"]) - float(ds["total_frac_nonpositive"])) < 5e-5
    off = bn_audit.audit(_with_bn("vgg19_bn", _published_biases("vgg19_bn", extra_negative_at=3)), "vgg19_bn")
    assert off["matches_published"].values.tolist() == [1, 1, 1, 0] + [1] * 12
    assert off["diff_frac_nonpositive"].values[3] == pytest.approx(1 / 128, abs=5e-5)


def test_no_published_numbers_no_comparison():
    sizes = [bn.num_features for _, bn in bn_layers(build("vgg11_bn", "meta"))]
    ds = bn_audit.audit(_with_bn("vgg11_bn", [[-1.0] * n for n in sizes]), "vgg11_bn")
    assert "published_frac_nonpositive" not in ds
    assert float(ds["total_frac_negative"]) == 1.0


def test_bad_inputs():
    sizes = [bn.num_features for _, bn in bn_layers(build("vgg_digits_bn", "meta"))]
    biases = [[0.0] * n for n in sizes]
    biases[2][5] = float("nan")
    with pytest.raises(InputError, match="features.8"):
        bn_audit.audit(_with_bn("vgg_digits_bn", biases), "vgg_digits_bn")
    with pytest.raises(InputError, match="--tol"):
        bn_audit.audit(build("vgg_digits_bn"), "vgg_digits_bn", near_zero_tol=-1.0)
    with pytest.raises(InputError, match="no BatchNorm"):
        bn_audit.audit(torch.nn.Linear(3, 2), "linear")


def test_sign_split_edges_have_zero_and_cover_values():
    for values in (np.array([-0.3, 0.01, 0.2]), np.array([0.0, 0.0]), np.array([0.5, 2.0])):
        edges = bn_figures.sign_split_edges(values)
        assert 0.0 in edges
        assert edges[0] <= values.min() and edges[-1] > values.max()


def test_figures_are_written(tmp_path):
    ds = bn_audit.audit(_with_bn("resnet18", _published_biases("resnet18")), "resnet18")
    paths = bn_figures.plot(ds, tmp_path)
    assert [p.name for p in paths] == ["bn_bias_hist_resnet18.png", "bn_negative_fraction_resnet18.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    assert bn_figures.KINDS == ("bn_audit",)


@pytest.fixture(scope="module")
def digits_weights(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits") / "w.pt"
    assert cli.main(["audit", "train-digits", "--epochs", "1", "--seed", "0", "--out", str(out)]) == 0
    return out


def test_cli_train_audit_and_plot_roundtrip(digits_weights, tmp_path, capsys):
    out = tmp_path / "audit.nc"
    assert cli.main(["audit", "bn", "--arch", "vgg_digits_bn", "--weights", str(digits_weights),
                     "--out", str(out)]) == 0
    assert "BN biases < 0" in capsys.readouterr().out
    ds = read_dataset(out)
    assert ds.attrs["result_kind"] == "bn_audit" and ds.attrs["arch"] == "vgg_digits_bn"
    assert int(ds["n_channels"].sum()) == 448
    assert stored_config(ds)["weights"] == str(digits_weights)
    state = torch.load(digits_weights, weights_only=True)
    np.testing.assert_array_equal(ds["bias"].values[0, :32], state["features.1.bias"].numpy())
    assert np.isnan(ds["bias"].values[0, 32:]).all()
    assert len(bn_figures.plot(ds, tmp_path / "fig")) == 2


def _error_line(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_cli_errors_exit_2_with_one_line(digits_weights, tmp_path, capsys):
    out = str(tmp_path / "a.nc")
    assert cli.main(["audit", "bn", "--arch", "vgg12_bn", "--weights", str(digits_weights), "--out", out]) == 2
    assert "vgg12_bn" in _error_line(capsys)
    assert cli.main(["audit", "bn", "--arch", "resnet18", "--weights", str(digits_weights), "--out", out]) == 2
    assert "missing" in _error_line(capsys)
    assert cli.main(["audit", "bn", "--arch", "vgg_digits_bn", "--weights", str(tmp_path / "no.pt"), "--out", out]) == 2
    assert "not found" in _error_line(capsys)
    assert cli.main(["audit", "bn", "--arch", "vgg_digits_bn", "--weights", str(digits_weights),
                     "--sha256", "0" * 64, "--out", out]) == 2
    assert "mismatch" in _error_line(capsys)
    assert cli.main(["audit", "train-digits", "--epochs", "0", "--out", str(tmp_path / "w.pt")]) == 2
    assert "--epochs" in _error_line(capsys)
    assert cli.main(["audit", "bn", "--arch", "vgg_digits_bn", "--weights", "a.pt", "--url", "file:///a.pt",
                     "--out", out]) == 2
    assert "not allowed with" in _error_line(capsys)
    assert not (tmp_path / "a.nc").exists()


def _open_payload(marker) -> bytes:
    """A protocol-2 pickle whose loading calls open(marker, "w")."""
    name = str(marker).encode()
    return (b"\x80\x02cbuiltins\nopen\nX" + len(name).to_bytes(4, "little") + name
            + b"X\x01\x00\x00\x00w\x86R.")


def test_cli_refuses_code_carrying_file_in_a_fresh_process(tmp_path):
    live = tmp_path / "live"
    pickle.loads(_open_payload(live)).close()
    assert live.exists()  # the payload does run under plain pickle
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(_open_payload(marker))
    proc = subprocess.run([sys.executable, "-m", "luckbench.cli", "audit", "bn", "--arch", "vgg_digits_bn",
                           "--weights", str(evil), "--out", str(tmp_path / "a.nc")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("luckbench audit: error:") and proc.stderr.count("\n") == 1
    assert "refused" in proc.stderr and not marker.exists()


def test_training_is_seeded_and_learns(digits_weights):
    """The CLI's file (1 epoch, seed 0) is reproduced bit for bit, and it learned (chance is 0.1)."""
    model, metrics = train_digits(DigitsTrainConfig(epochs=1, seed=0))
    saved = torch.load(digits_weights, weights_only=True)
    state = model.state_dict()
    assert set(saved) == set(state) and all(torch.equal(saved[k], state[k]) for k in state)
    assert metrics["test_accuracy"] > 0.7
