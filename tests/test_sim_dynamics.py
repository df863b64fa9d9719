"""The sim layer's right-hand sides and integrators against independent references."""
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from luckbench.sim import integrate, teachers
from luckbench.sim.diagnostics import paired_angles, population_loss
from luckbench.sim.dynamics import Dynamics, a1_residual, thm4_dynamics
from luckbench.sim.kernel import GaussianKernel, SampleKernel, augment
from luckbench.sim.thm4 import Thm4Config, run as run_thm4
from luckbench.theory.geometry import normalize_rows


def _angle_rate(theta):
    """d theta / dt for m = 1, zero bias (docs/math.md sec 4): -(pi - theta) sin(theta) / (2 pi)."""
    return -(np.pi - theta) * np.sin(theta) / (2 * np.pi)


@pytest.mark.parametrize("theta", [0.05, 0.7, 1.6, 2.5, 3.1])
def test_single_student_vector_field_is_the_scalar_angle_ode(theta):
    rng = np.random.default_rng(1)
    w_star = teachers.teacher("orthogonal", 1, 4, None, rng)
    w = teachers.students_at_angle(w_star, theta, rng)
    dw = thm4_dynamics(w_star, GaussianKernel(False)).w_velocity(w, np.ones((1, 1)))
    # unit rows: d cos(theta)/dt = dw . w*, so d theta/dt = -(dw . w*) / sin(theta)
    assert -(dw @ w_star.T).item() / np.sin(theta) == pytest.approx(_angle_rate(theta), rel=1e-9, abs=1e-15)


def test_integrated_angle_matches_an_independent_scalar_solution():
    cfg = Thm4Config(teachers=1, dim=3, theta0=120.0, t_end=60.0, n_times=61, method="DOP853", rtol=1e-11, atol=1e-13)
    ds = run_thm4(cfg)
    ref = solve_ivp(lambda t, y: _angle_rate(y), (0, cfg.t_end), [np.deg2rad(cfg.theta0)], t_eval=ds.time.values,
                    rtol=1e-12, atol=1e-14, method="LSODA")
    np.testing.assert_allclose(ds["theta"].sel(node=0).values, ref.y[0], rtol=0, atol=1e-6)
    assert ds["theta"].values[-1, 0] < 1e-4  # it did move: the comparison is not between two constants


def test_norms_stay_one_without_renormalisation():
    rng = np.random.default_rng(2)
    w_star = teachers.teacher("orthogonal", 4, 6, None, rng)
    w0 = teachers.students_at_angle(w_star, np.deg2rad(45), rng)
    traj = integrate.solve(thm4_dynamics(w_star, GaussianKernel(False)), w0, None, np.linspace(0, 300, 31))
    assert np.max(np.abs(np.linalg.norm(traj.w, axis=2) - 1)) < 1e-8
    assert np.max(paired_angles(traj.w[-1], w_star)) < 1e-5  # converged meanwhile


def _thm5_problem(bias, top_bias, mode="paper", seed=3, dims=(4, 3, 2), n=5):
    rng = np.random.default_rng(seed)
    d, m, c = dims
    w_star = teachers.teacher("code", m, d, bias, rng)
    v_star = teachers.top_teacher(m, c, top_bias, rng)
    w0, v0 = teachers.perturbed_students(w_star, v_star, n, 1.0, 1.0, top_bias is not None, rng)
    dyn = Dynamics(w_star, v_star, GaussianKernel(bias is not None), n=n, top_bias=top_bias is not None, mode=mode)
    return dyn, w0, v0


def _numeric_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        g[idx] = (f(x + e) - f(x - e)) / (2 * h)
    return g


@pytest.mark.parametrize("bias,top_bias", [(None, None), (-0.3, -0.2)])
def test_exact_velocities_are_minus_the_population_gradient(bias, top_bias):
    """Eq. 15 / Thm 5's V equation: dW_exact = -dJ/dW and dV = -dJ/dV, J = 1/2 E||y - y*||^2 (finite differences)."""
    dyn, w, v = _thm5_problem(bias, top_bias, dims=(3, 2, 2), n=3)

    def loss(w_, v_):
        return population_loss(dyn.kernel, w_, v_, dyn.w_star, dyn.v_star, dyn.top_bias)

    dw = dyn.w_velocity(w, v, project=False, gradient="exact")
    dv = dyn.v_velocity(w, v)
    np.testing.assert_allclose(dw, -_numeric_grad(lambda x: loss(x, v), w), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dv, -_numeric_grad(lambda x: loss(w, x), v), rtol=1e-6, atol=1e-8)


def test_assumption1_projected_residual_vanishes_for_zero_bias_only():
    """docs/math.md sec 2 (A1): zero bias, P_W(exact) = P_W(factorised) exactly (Stein); with biases it does not."""
    dyn, w, v = _thm5_problem(None, None)
    assert a1_residual(dyn, w, v) < 1e-12
    assert a1_residual(dyn, w, v, project=False) > 1e-2
    dyn_b, w_b, v_b = _thm5_problem(-0.5, None)
    assert a1_residual(dyn_b, w_b, v_b) > 1e-3


def test_sample_kernel_moments_agree_with_closed_forms():
    rng = np.random.default_rng(4)
    w = normalize_rows(rng.standard_normal((4, 6)))
    x = augment(rng.standard_normal((40000, 5)), True)
    mc = SampleKernel(x).moments(w, w[:2])
    exact = GaussianKernel(True).moments(w, w[:2])
    g = (x @ w.T > 0).astype(float)
    f = np.maximum(x @ w.T, 0)
    for est, ref, per_sample in ((mc.d, exact.d, g[:, :, None] * g[:, None, :]),
                                 (mc.l_star, exact.l_star, f[:, :, None] * f[:, None, :2])):
        se = per_sample.std(axis=0) / np.sqrt(len(x))
        z = (est - ref) / np.where(se > 0, se, 1.0)
        assert np.max(np.abs(z)) < 4.5
    assert np.max(np.abs(mc.d - exact.d)) < 0.02  # and the comparison is not vacuous


def test_code_mode_conserves_the_total_fan_out_norm():
    dyn, w0, v0 = _thm5_problem(None, -0.1, mode="code")
    traj = integrate.solve(dyn, w0, v0, [0.0, 5.0, 10.0], method="RK45", rtol=1e-10, atol=1e-12)
    totals = np.sum(traj.v ** 2, axis=(1, 2))
    np.testing.assert_allclose(totals, v0.shape[1], rtol=1e-8)
    assert np.max(np.abs(traj.v[-1] - v0)) > 1e-2


def test_discrete_iteration_converges_to_the_flow_at_first_order():
    rng = np.random.default_rng(5)
    w_star = teachers.teacher("orthogonal", 2, 4, None, rng)
    w0 = teachers.students_at_angle(w_star, 0.6, rng)
    dyn = thm4_dynamics(w_star, GaussianKernel(False))
    flow = integrate.solve(dyn, w0, None, [0.0, 2.0], rtol=1e-11, atol=1e-13).w[-1]
    errors = [np.linalg.norm(integrate.iterate(dyn, w0, None, eta=eta, iters=int(round(2.0 / eta)),
                                               snapshot_every=int(round(2.0 / eta))).w[-1] - flow)
              for eta in (0.02, 0.01)]
    assert 1.7 < errors[0] / errors[1] < 2.3


def test_minibatch_iteration_is_reproducible_and_moves():
    dyn, w0, v0 = _thm5_problem(-0.1, -0.1, mode="code")
    runs = [integrate.iterate(dyn, w0, v0, eta=0.05, iters=50, snapshot_every=25, project=False,
                              kernels=integrate.batch_kernels(np.random.default_rng(7), 16, 4, True)) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].v, runs[1].v)
    assert runs[0].w.shape == (3, 5, 5)
    np.testing.assert_allclose(np.linalg.norm(runs[0].v[-1], axis=0), 1.0, rtol=1e-12)  # columns renormalised
    assert np.max(np.abs(runs[0].v[-1] - v0)) > 1e-3


def test_kron_bdf_matches_bdf_with_the_assembled_sparse_jacobian():
    """The structured linear algebra of KronBDF changes nothing but the cost: same steps, same answer."""
    dyn, w0, v0 = _thm5_problem(-0.1, -0.1, mode="code")
    kron = integrate.solve(dyn, w0, v0, [0.0, 10.0], method="KronBDF", rtol=1e-6, atol=1e-9)
    plain = integrate.solve(dyn, w0, v0, [0.0, 10.0], method="BDF", rtol=1e-6, atol=1e-9)
    assert kron.nfev == plain.nfev
    np.testing.assert_allclose(kron.v, plain.v, rtol=0, atol=1e-11)
    explicit = integrate.solve(dyn, w0, v0, [0.0, 10.0], method="RK45", rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(kron.v[-1], explicit.v[-1], atol=1e-4)
    assert np.max(np.abs(kron.v[-1] - v0)) > 1e-2
