"""Monte Carlo twins (theory/montecarlo.py) against the closed forms and against exact finite sums."""
import itertools

import numpy as np
import pytest

from luckbench.datasets.samplers import SAMPLERS, gaussian_sampler
from luckbench.errors import InputError
from luckbench.theory import kernels as K
from luckbench.theory.montecarlo import KERNELS, MCEstimate, mc_kernels

Z_MAX = 4.5


def _closed(w1, w2, b1, b2, sigma):
    return {
        "psi_d": K.psi_d(w1, w2, b1, b2, sigma),
        "psi_l": K.psi_l(w1, w2, b1, b2, sigma),
        "gate_relu": K.gate_relu(w1, w2, b1, b2, sigma),
        "gate_relu_x": K.gate_relu_x(w1, w2, b1, b2, sigma),
        "gate_mean": K.gate_mean(w1, b1, sigma),
        "relu_mean": K.relu_mean(w1, b1, sigma),
    }


@pytest.mark.parametrize(
    "d,sigma,bias_scale,seed",
    [(20, 10.0, None, 0), (10, 1.0, 1.0, 1), (10, 1.0, -1.5, 2), (5, 3.0, 0.5, 3)],
)
def test_closed_forms_match_monte_carlo(d, sigma, bias_scale, seed):
    """Every kernel, including the Stein companion, within |z| < 4.5 of a 300k-sample estimate."""
    rng = np.random.default_rng(100 + seed)
    w1, w2 = rng.standard_normal((3, d)), rng.standard_normal((2, d))
    w2[0] = -0.9 * w1[0] + 0.3 * rng.standard_normal(d)  # one near-antipodal pair
    if bias_scale is None:
        b1 = b2 = None
    else:
        b1 = bias_scale * sigma * np.linalg.norm(w1, axis=1) * rng.uniform(0.5, 1.5, 3)
        b2 = bias_scale * sigma * np.linalg.norm(w2, axis=1) * rng.uniform(0.5, 1.5, 2)
    est = mc_kernels(w1, w2, b1, b2, sampler=gaussian_sampler(d, sigma), n_samples=300_000, seed=seed, names=KERNELS)
    closed = _closed(w1, w2, b1, b2, sigma)
    for name in KERNELS:
        # no sample hit the event (stderr 0): then P(no hit) = (1 - p)^n >= 1e-6 requires p < 14 / n
        silent = est[name].stderr == 0
        assert np.all(np.abs(closed[name][silent]) < 14 / 300_000 * max(1.0, sigma**2 * 10)), name
        z = est[name].zscore(closed[name])[~silent]
        assert np.all(np.abs(z) < Z_MAX), (name, z)
        assert est[name].mean.shape == closed[name].shape


def test_monte_carlo_is_unbiased_on_a_finite_input_law():
    """Rademacher inputs in d = 4: the exact expectations are averages over the 16 corners."""
    rng = np.random.default_rng(5)
    w1, w2 = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    b1, b2 = rng.normal(size=3), rng.normal(size=2)
    corners = np.array(list(itertools.product([-1.0, 1.0], repeat=4)))

    def rademacher(n, g):
        return corners[g.integers(0, 16, n)]

    u1, u2 = corners @ w1.T + b1, corners @ w2.T + b2
    g1, r1, r2 = (u1 > 0).astype(float), np.maximum(u1, 0), np.maximum(u2, 0)
    exact = {
        "psi_d": g1.T @ (u2 > 0) / 16,
        "psi_l": r1.T @ r2 / 16,
        "gate_relu": g1.T @ r2 / 16,
        "gate_relu_x": np.einsum("si,sj,sk->ijk", g1, r2, corners) / 16,
        "gate_mean": g1.mean(axis=0),
        "relu_mean": r1.mean(axis=0),
    }
    est = mc_kernels(w1, w2, b1, b2, sampler=rademacher, n_samples=50_000, seed=1, chunk=7_001, names=KERNELS)
    for name in KERNELS:
        z = est[name].zscore(exact[name])
        assert np.all(np.abs(z) < Z_MAX), (name, z)


def test_same_seed_same_result_and_chunking():
    rng = np.random.default_rng(0)
    w1, w2 = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    sampler = gaussian_sampler(3)
    a = mc_kernels(w1, w2, sampler=sampler, n_samples=10_000, seed=3, chunk=1_000)
    b = mc_kernels(w1, w2, sampler=sampler, n_samples=10_000, seed=3, chunk=1_000)
    c = mc_kernels(w1, w2, sampler=sampler, n_samples=10_000, seed=3, chunk=10_000)
    d = mc_kernels(w1, w2, sampler=sampler, n_samples=10_000, seed=4, chunk=1_000)
    assert np.array_equal(a["psi_l"].mean, b["psi_l"].mean)
    np.testing.assert_allclose(a["psi_l"].mean, c["psi_l"].mean, rtol=1e-12)  # same stream, other sum order
    assert not np.array_equal(a["psi_l"].mean, d["psi_l"].mean)
    assert set(a) == {"psi_d", "psi_l", "gate_relu", "gate_mean", "relu_mean"}


def test_stderr_is_the_standard_error_of_the_mean():
    """psi_d of a unit with itself is a Bernoulli(Phi(a)) mean: stderr = sqrt(p (1 - p) / n)."""
    w = np.array([[1.0, 0.0]])
    est = mc_kernels(w, w, np.array([0.0]), np.array([0.0]), sampler=gaussian_sampler(2), n_samples=40_000)
    p = est["psi_d"].mean[0, 0]
    assert est["psi_d"].stderr[0, 0] == pytest.approx(np.sqrt(p * (1 - p) / 40_000), rel=1e-3)
    assert est["psi_d"].n_samples == 40_000


def test_zscore_edge_cases():
    e = MCEstimate(mean=np.array([1.0, 1.0, 2.0]), stderr=np.array([0.0, 0.0, 0.5]), n_samples=10)
    z = e.zscore([1.0, 2.0, 1.0])
    assert z[0] == 0.0 and np.isinf(z[1]) and z[2] == 2.0


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"n_samples": 1}, "n_samples"),
        ({"n_samples": 2.5}, "n_samples"),
        ({"n_samples": 10, "chunk": 0}, "chunk"),
        ({"n_samples": 10, "names": ("psi_x",)}, "names"),
        ({"n_samples": 10, "sampler": lambda n, g: np.zeros((n, 2))}, "sampler"),
    ],
)
def test_bad_input(kwargs, name):
    args = {"sampler": gaussian_sampler(3), **kwargs}
    with pytest.raises(InputError, match=name):
        mc_kernels(np.ones((1, 3)), np.ones((1, 3)), **args)
    with pytest.raises(InputError, match="w2"):
        mc_kernels(np.ones((1, 3)), np.ones((1, 2)), sampler=gaussian_sampler(3), n_samples=10)


@pytest.mark.parametrize("law", sorted(SAMPLERS))
@pytest.mark.parametrize("d,sigma,name", [(0, 1.0, "d"), (2.5, 1.0, "d"), (3, -1.0, "sigma"), (3, float("nan"), "sigma")])
def test_sampler_bad_input(law, d, sigma, name):
    with pytest.raises(InputError, match=name):
        SAMPLERS[law](d, sigma)


# E[x^4] / sigma^4 of one coordinate: 3 (Gaussian), 9/5 (uniform), 6 (Laplace)
@pytest.mark.parametrize("law,kurtosis", [("gaussian", 3.0), ("uniform", 1.8), ("laplace", 6.0)])
def test_sampler_moments(law, kurtosis):
    x = SAMPLERS[law](4, 3.0)(200_000, np.random.default_rng(0))
    assert x.shape == (200_000, 4)
    n = len(x)
    cov = x.T @ x / n
    # z-scores: Var(x_i^2) = (kurtosis - 1) sigma^4 on the diagonal, Var(x_i x_j) = sigma^4 off it
    assert np.all(np.abs(np.diag(cov) - 9.0) < 4.5 * 9 * np.sqrt((kurtosis - 1) / n))
    off = cov[~np.eye(4, dtype=bool)]
    assert np.all(np.abs(off) < 4.5 * 9 / np.sqrt(n))
    fourth = (x ** 4).mean(axis=0) / 81.0
    fourth_se = np.sqrt(((x ** 8).mean(axis=0) / 81.0 ** 2 - fourth ** 2) / n)
    assert np.all(np.abs(fourth - kurtosis) < 4.5 * fourth_se)
