"""Theorem 4 in the sim: the envelope where the (corrected) preconditions hold, and the paper's settings."""
import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from luckbench.sim.thm4 import Thm4Config, below_envelope, run


@settings(max_examples=12)
@given(m=st.sampled_from([1, 2]), frac=st.floats(0.05, 0.95), seed=st.integers(0, 10 ** 6),
       dim=st.integers(2, 5))
def test_trajectory_stays_under_the_envelope_whenever_the_preconditions_hold(m, frac, seed, dim):
    theta0 = frac * (80.0 if m == 1 else 5.0)  # m = 2 is feasible only below ~6.9 deg (docs/math.md 3(iii))
    ds = run(Thm4Config(teachers=m, dim=max(dim, m), theta0=theta0, t_end=40.0, n_times=41, seed=seed))
    assume(ds.attrs["cond_holds"])
    bound = ds["sin_theta_bound"].values
    assert np.all(np.isfinite(bound))
    assert np.all(below_envelope(ds["sin_theta_max"].values, bound, ds["sin_theta_max"].attrs["resolution_limit"]))
    assert ds.attrs["envelope_holds"] == 1


def test_envelope_check_can_fail():
    assert not below_envelope(np.array([0.5, 0.2]), np.array([0.5, 0.1]), 1e-9).all()


def test_paper_settings_violate_the_preconditions_and_still_converge():
    """docs/math.md 3(iii): orthogonal zero-bias teachers with m = 5, theta0 = 45 deg have gamma < 0 (no
    guarantee), yet max sin theta falls from 0.71 to ~1e-8 by t = 200; the paper's own teacher scheme
    (m = 10, d = 20) is infeasible too and converges as well."""
    for cfg in (Thm4Config(teachers=5, theta0=45.0, t_end=200.0, n_times=11),
                Thm4Config(teachers=10, dim=20, scheme="paper", theta0=30.0, t_end=200.0, n_times=11)):
        ds = run(cfg)
        assert not ds.attrs["cond_holds"]
        assert ds.attrs["cond_gamma"] < 0
        assert np.all(np.isnan(ds["sin_theta_bound"].values))
        assert ds.attrs["envelope_holds"] == -1
        s = ds["sin_theta_max"].values
        assert s[0] > 0.49 and s[-1] < 1e-6


def test_thm4_dataset_layout_and_discrete_rate():
    ds = run(Thm4Config(teachers=2, dim=3, theta0=3.0, t_end=20.0, n_times=11, eta=0.5))
    assert ds.attrs["result_kind"] == "thm4"
    assert ds["theta"].dims == ("time", "node") and ds["theta"].attrs["units"] == "rad"
    np.testing.assert_allclose(ds["theta"].isel(time=0).values, np.deg2rad(3.0), rtol=1e-10)
    assert ds["sin_theta_bound"].dims == ("time",)
    assert list(ds["iteration"].values) == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40]
    disc = np.sin(ds["theta_discrete"]).max("node").values
    assert np.all(disc <= ds["sin_theta_bound_discrete"].values * (1 + 1e-9))
    assert disc[-1] < disc[0] / 10
