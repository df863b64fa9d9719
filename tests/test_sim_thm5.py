"""Theorem 5 in the sim: r-rows of V decay with small overlaps; cancelling pairs are detected; the
protocol and over-parameterisation runners produce their documented datasets."""
import numpy as np

from luckbench.sim import integrate, overparam, protocol, teachers
from luckbench.sim.diagnostics import cancelling_pairs
from luckbench.sim.dynamics import Dynamics
from luckbench.sim.kernel import GaussianKernel
from luckbench.sim.thm5 import Thm5Config, run
from luckbench.theory.geometry import normalize_rows


def test_r_rows_of_v_decay_when_teachers_overlap_little():
    """Orthogonal teachers with standardised bias -2 (eps_d = Phi(-2) = 0.023), u-set started near them."""
    cfg = Thm5Config(teacher=(6, 2, 2), node_multi=3, alpha_w=3.0, alpha_v=3.0, scheme="orthogonal", bias=-2.0,
                     top_bias=None, t_end=100.0, n_times=3, method="RK45", constants_points=0)
    ds = run(cfg)
    vr = ds["v_row_norm"].where(~ds["is_u"], drop=True).isel(seed=0)
    assert float(vr.isel(time=-1).max()) < 0.1 * float(vr.isel(time=0).max())
    assert int(ds["cancelling_pairs"].max()) == 0
    assert ds.attrs["result_kind"] == "thm5"
    assert ds["v_row_norm"].dims == ("seed", "time", "node")
    assert ds["is_u"].values.tolist() == [True, True, False, False, False, False]
    assert np.all(np.isnan(ds["theta_u"].sel(node=[2, 3, 4, 5]))) and np.all(np.isnan(ds["w_drift_r"].sel(node=[0, 1])))
    assert float(ds["loss"].isel(seed=0, time=-1)) < float(ds["loss"].isel(seed=0, time=0))


def _cancelling_equilibrium():
    """u-set = teacher exactly; r-nodes 3 and 4 merged (same w) with v_3 = -v_4 (docs/math.md sec 4): y = y*."""
    rng = np.random.default_rng(0)
    w_star = teachers.teacher("orthogonal", 3, 6, None, rng)
    v_star = teachers.top_teacher(3, 2, None, rng)
    w_r = normalize_rows(rng.standard_normal((1, 6)))
    w = np.concatenate([w_star, w_r, w_r])
    v = np.concatenate([v_star, [[0.1, -0.12]], [[-0.1, 0.12]]])
    return Dynamics(w_star, v_star, GaussianKernel(False), n=5, mode="paper"), w, v


def test_cancelling_pair_is_a_stationary_point_that_the_diagnostic_detects():
    dyn, w, v = _cancelling_equilibrium()
    dw, dv = dyn.velocity(w, v)
    assert np.max(np.abs(dw)) < 1e-12 and np.max(np.abs(dv)) < 1e-12  # zero gradient, yet ||v_r|| = 0.156
    assert cancelling_pairs(w, v, [3, 4]) == [(3, 4)]
    traj = integrate.solve(dyn, w, v, [0.0, 10.0])
    assert cancelling_pairs(traj.w[-1], traj.v[-1], [3, 4]) == [(3, 4)]
    assert np.linalg.norm(traj.v[-1, 3]) > 0.15  # V_r -> 0 fails here
    # controls: same-sign fan-outs, or separated fan-ins, are not cancelling pairs
    assert cancelling_pairs(w, np.concatenate([v[:4], v[3:4]]), [3, 4]) == []
    w_apart = w.copy()
    w_apart[4] = normalize_rows(w[4:5] + 0.1 * np.random.default_rng(1).standard_normal((1, 6)))
    assert cancelling_pairs(w_apart, v, [3, 4]) == []


def test_cancelling_pairs_unwind_without_cancellation():
    """Starting beside the equilibrium with v_3 = +v_4 instead, both r-rows decay (the diagnostic stays 0)."""
    dyn, w, v = _cancelling_equilibrium()
    v[4] = v[3]
    traj = integrate.solve(dyn, w, v, [0.0, 200.0], method="RK45", rtol=1e-8, atol=1e-10)
    assert np.linalg.norm(traj.v[-1, 3:], axis=1).max() < 0.3 * np.linalg.norm(v[3])
    assert cancelling_pairs(traj.w[-1], traj.v[-1], [3, 4]) == []


def test_protocol_grid_is_deterministic_and_documented():
    cfg = protocol.ProtocolConfig(teacher=(4, 3, 2), node_multis=(1, 2), alpha_ws=(1.0, 0.3), alpha_vs=(1.0, 1.0),
                                  seeds=2, iters=40, snapshot_every=20, batch=16)
    serial, parallel = protocol.run(cfg, workers=1), protocol.run(cfg, workers=2)
    np.testing.assert_array_equal(serial["v_row_norm_mean"].values, parallel["v_row_norm_mean"].values)
    ds = serial
    assert ds.attrs["result_kind"] == "thm5_protocol"
    assert ds["v_row_norm_mean"].dims == ("node_multi", "pair", "time", "node")
    assert ds["iteration"].values.tolist() == [0, 20, 40]
    assert np.all(np.isnan(ds["v_row_norm_mean"].sel(node_multi=1, node=[3, 4, 5])))
    assert np.all(np.isfinite(ds["v_row_norm_mean"].sel(node_multi=2)))
    gap = ds["vu_norm"] - ds["vr_norm"]
    np.testing.assert_allclose(ds["row_norm_gap"].sel(node_multi=2).values, gap.sel(node_multi=2).mean("seed").values)


def test_overparam_sweep_records_rho_bar_in_range():
    cfg = overparam.OverparamConfig(teacher=(4, 3, 2), node_multis=(1, 3), seeds=2, iters=40, snapshot_every=20, batch=16)
    ds = overparam.run(cfg, workers=1)
    assert ds.attrs["result_kind"] == "overparam"
    assert ds["rho_bar"].dims == ("node_multi", "seed", "time")
    assert np.all((ds["rho_bar"] > -1) & (ds["rho_bar"] <= 1 + 1e-12))
    # with three times the random students the best correlation at initialisation is higher (these seeds)
    assert float(ds["rho_bar"].sel(node_multi=3).isel(time=0).mean()) > float(ds["rho_bar"].sel(node_multi=1).isel(time=0).mean())
