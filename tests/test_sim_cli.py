"""``luckbench sim``: stored results, figures and one-line errors for bad input."""
import numpy as np
import pytest

from luckbench import cli, store
from luckbench.reports import sim_figures


@pytest.mark.parametrize("argv,needle", [
    (["thm4", "--teachers", "2", "--theta0", "0", "--t-end", "1"], "--theta0"),
    (["thm4", "--teachers", "2", "--theta0", "180", "--t-end", "1"], "--theta0"),
    (["thm4", "--teachers", "2", "--theta0", "30", "--t-end", "-5"], "--t-end"),
    (["thm4", "--teachers", "11", "--dim", "10", "--theta0", "30", "--t-end", "1"], "--teachers"),
    (["thm4", "--teachers", "2", "--theta0", "30", "--t-end", "1", "--method", "Euler"], "--method"),
    (["thm5", "--teacher", "10,20"], "--teacher"),
    (["thm5", "--iters", "10", "--t-end", "1"], "--iters"),
    (["thm5", "--node-multi", "0"], "--node-multi"),
    (["thm5", "--bias", "abc"], "--bias"),
    (["protocol42", "--alpha-ws", "1,1", "--alpha-vs", "1"], "--alpha-ws"),
    (["thm5", "--inputs", "laplace", "--t-end", "1"], "--mc-samples"),
    (["thm4", "--teachers", "2", "--theta0", "30", "--t-end", "1", "--seed", "-1"], "--seed"),
    (["thm5", "--seed", "-1"], "--seed"),
    (["thm5", "--teacher", "a,b"], "argument --teacher: expected an integer"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, argv, needle):
    assert _exit_code(["sim", *argv, "--out", str(tmp_path / "x.nc")]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "x.nc").exists()


def test_out_folder_is_refused_before_running(tmp_path, capsys):
    argv = ["sim", "thm4", "--teachers", "2", "--theta0", "30", "--t-end", "1", "--out", str(tmp_path)]
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and err.count("\n") == 1


def _exit_code(argv):
    try:
        return cli.main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        return exc.code


def test_thm4_command_stores_angles_and_envelope(tmp_path):
    out = tmp_path / "t4.nc"
    assert cli.main(["sim", "thm4", "--teachers", "2", "--theta0", "3", "--t-end", "10", "--dim", "3",
                     "--n-times", "6", "--out", str(out)]) == 0
    ds = store.read_dataset(out)
    assert ds.attrs["result_kind"] == "thm4" and store.stored_config(ds)["teachers"] == 2
    assert ds["theta"].shape == (6, 2) and np.all(np.isfinite(ds["sin_theta_bound"].values))
    paths = sim_figures.plot(ds, tmp_path / "figs")
    assert paths and all(p.suffix == ".png" and p.stat().st_size > 0 for p in paths)


def test_thm5_command_with_none_biases(tmp_path):
    out = tmp_path / "t5.nc"
    code = cli.main(["sim", "thm5", "--teacher", "4,2,2", "--node-multi", "2", "--seeds", "2", "--iters", "20",
                     "--snapshot-every", "10", "--bias", "none", "--top-bias", "none", "--constants-points", "2",
                     "--workers", "1", "--out", str(out)])
    assert code == 0
    ds = store.read_dataset(out)
    assert store.stored_config(ds)["bias"] is None
    assert ds["v_row_norm"].shape == (2, 3, 4) and ds["iteration"].values.tolist() == [0, 10, 20]
    assert ds["is_u"].values.tolist() == [True, True, False, False]
    assert np.isfinite(ds["gamma"].isel(time=0)).all() or (ds["feasible"].isel(time=0) == 0).all()
    assert sim_figures.plot(ds, tmp_path / "figs")


def test_figures_for_protocol_and_overparam(tmp_path):
    from luckbench.sim import overparam, protocol

    small = dict(teacher=(4, 2, 2), seeds=2, iters=20, snapshot_every=10, batch=8)
    for ds in (protocol.run(protocol.ProtocolConfig(node_multis=(1, 2), **small), workers=1),
               overparam.run(overparam.OverparamConfig(node_multis=(1, 2), **small), workers=1)):
        store.write_dataset(ds, tmp_path / "r.nc", config={"kind": ds.attrs["result_kind"]}, seed=0, overwrite=True)
        paths = sim_figures.plot(store.read_dataset(tmp_path / "r.nc"), tmp_path / "figs")
        assert paths and all(p.exists() for p in paths)
    assert set(sim_figures.KINDS) == {"thm4", "thm5", "thm5_protocol", "overparam"}


def test_thm5_flow_with_non_gaussian_inputs(tmp_path):
    out = tmp_path / "u.nc"
    assert cli.main(["sim", "thm5", "--teacher", "4,2,2", "--node-multi", "2", "--t-end", "5", "--n-times", "3",
                     "--inputs", "uniform", "--mc-samples", "4000", "--workers", "1", "--out", str(out)]) == 0
    ds = store.read_dataset(out)
    assert np.all(np.isfinite(ds["v_row_norm"].values)) and np.all(ds["feasible"].fillna(0).values == 0)
    assert float(ds["loss"].isel(seed=0, time=-1)) < float(ds["loss"].isel(seed=0, time=0))
