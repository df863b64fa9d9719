"""Stored trajectories are honest at late times: values below the solver's resolution limit are flagged
(CF flag variable), fits use only resolved values; the projected Thm 4 flow keeps students on the sphere."""
import numpy as np
import pytest

from luckbench.sim import integrate, resolution, thm4, thm5
from luckbench.sim.dynamics import thm4_dynamics
from luckbench.sim.kernel import GaussianKernel

TIGHT = dict(rtol=1e-12, atol=1e-14)


@pytest.fixture(scope="module")
def runs():
    return {m: (thm4.run(thm4.Thm4Config(teachers=m)), thm4.run(thm4.Thm4Config(teachers=m, **TIGHT)))
            for m in (1, 3)}


def test_values_below_the_limit_are_flagged_not_reported(runs):
    ds, tight = runs[1]
    limit = ds["theta"].attrs["resolution_limit"]
    assert limit == resolution.resolution_limit(1e-8, 1e-10)
    status = ds["theta_status"]
    assert status.attrs["flag_meanings"] == "resolved below_resolution_limit"
    assert list(status.attrs["flag_values"]) == [0, 1] and ds["theta"].attrs["ancillary_variables"] == "theta_status"
    # m = 1 decays to ~1e-22; the default run plateaus at solver noise (~1e-12): flagged, not data
    late = dict(time=100.0)
    assert float(tight["theta"].sel(late).max()) < 1e-14 < float(ds["theta"].sel(late).max())
    np.testing.assert_array_equal(status.values == 1, ds["theta"].values < limit)
    kept = resolution.resolved(ds, "theta").values
    assert np.all(np.isnan(kept[ds["theta"].values < limit])) and np.all(kept[np.isfinite(kept)] >= limit)
    assert np.isnan(resolution.resolved_rate(ds, "theta", 150.0, 200.0))  # nothing resolved there: no rate


@pytest.mark.parametrize("m", [1, 3])
def test_resolved_values_agree_with_a_tight_integration(m, runs):
    ds, tight = runs[m]
    kept = resolution.resolved(ds, "theta").values
    ok = np.isfinite(kept)
    rel = np.abs(kept[ok] - tight["theta"].values[ok]) / tight["theta"].values[ok]
    assert rel.max() < 0.1


def test_rate_fitted_on_resolved_values_matches_the_independent_rate(runs):
    ds, tight = runs[3]
    t = ds["time"].values
    resolved_times = t[(t >= 150) & np.isfinite(resolution.resolved(ds, "theta").max("node").values)]
    t_hi = float(resolved_times.max())
    reference = resolution.resolved_rate(tight, "theta", 150.0, t_hi)
    rate = resolution.resolved_rate(ds, "theta", 150.0, 200.0)
    assert abs(rate - reference) < 0.02 * reference  # values near the limit carry up to ~2% error
    # the naive fit over the whole window, noise included, is what the limit prevents
    window = (t >= 150) & (t <= 200)
    naive = -np.polyfit(t[window], np.log(ds["theta"].values[window].max(axis=1)), 1)[0]
    assert abs(naive - resolution.resolved_rate(tight, "theta", 150.0, 200.0)) > 0.025 * reference


def test_thm5_flow_flags_its_decaying_quantities():
    cfg = thm5.Thm5Config(teacher=(4, 2, 2), node_multi=2, seeds=1, t_end=2.0, n_times=3, constants_points=0,
                          method="RK45")
    ds = thm5.run(cfg)
    for name in ("v_row_norm", "theta_u", "v_err_u"):
        assert ds[name].attrs["resolution_limit"] == resolution.resolution_limit(cfg.rtol, cfg.atol)
        assert ds[f"{name}_status"].dims == ds[name].dims
    discrete = thm5.run(thm5.Thm5Config(teacher=(4, 2, 2), node_multi=2, iters=4, snapshot_every=2,
                                        constants_points=0))
    assert "resolution_limit" not in discrete["v_row_norm"].attrs  # no solver: no limit


def test_run_attaches_its_config_and_seed(runs):
    ds, _ = runs[3]
    assert ds.attrs["seed"] == 0 and '"teachers": 3' in ds.attrs["config"]


def test_thm4_flow_keeps_students_on_the_unit_sphere(runs):
    """The projected flow conserves ||w_j|| (its right-hand side is tangent to the sphere) to solver tolerance;
    without the projection the same flow leaves the sphere by ~1e-2 (control: the test can fail)."""
    for ds, _ in runs.values():
        assert float(ds["norm_drift"].max()) < 1e-7
    cfg = thm4.Thm4Config(teachers=3)
    w_star, w0 = thm4.initial_state(cfg)
    dyn = thm4_dynamics(w_star, GaussianKernel(False))
    projected = dyn.w_velocity
    dyn.w_velocity = lambda w, v, kernel=None, project=True, **kw: projected(w, v, kernel, project=False, **kw)
    traj = integrate.solve(dyn, w0, None, np.linspace(0.0, 200.0, 11), rtol=cfg.rtol, atol=cfg.atol)
    assert np.abs(np.linalg.norm(traj.w, axis=2) - 1).max() > 1e-3
