"""Stored results are CF-annotated (luckbench/metadata.py): long_name + units everywhere, Conventions,
numeric flags, booleans, fill values, and run parameters as 0-d coordinates that survive
open_mfdataset(combine="nested", concat_dim="run")."""
import numpy as np
import pytest
import xarray as xr

from luckbench import cli, metadata, store, sweep
from luckbench.commands import demo

# every producer at a tiny size: file name -> luckbench command line
COMMANDS = {
    "checks": ["check", "theorem1", "lemma1", "--teacher", "5,3,4,2", "--seed", "4"],
    "thm4": ["sim", "thm4", "--teachers", "2", "--theta0", "30", "--t-end", "1", "--n-times", "3", "--seed", "4"],
    "thm5": ["sim", "thm5", "--teacher", "5,4,3", "--node-multi", "2", "--seeds", "2", "--iters", "20",
             "--snapshot-every", "10", "--seed", "4"],
    "overparam": ["sim", "overparam", "--teacher", "5,4,3", "--node-multis", "1,2", "--seeds", "2", "--iters", "20",
                  "--snapshot-every", "10", "--seed", "4"],
    "protocol42": ["sim", "protocol42", "--teacher", "4,3,2", "--node-multis", "2", "--alpha-ws", "1", "--alpha-vs",
                   "1", "--seeds", "2", "--iters", "20", "--snapshot-every", "10", "--workers", "1", "--seed", "4"],
    "train": ["train", "--preset", "smoke", "--epochs", "1", "--steps-per-epoch", "5", "--seed", "4"],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    for name, argv in COMMANDS.items():
        assert cli.main([*argv, "--out", str(out / f"{name}.nc")]) == 0, name
    demo._feasibility(out, True)  # feasibility_thm4.nc, feasibility_thm5.nc (seed None)
    from luckbench.empirical import bn_audit
    from luckbench.empirical.architectures import build

    model = build("vgg11_bn", "meta").to_empty(device="cpu")
    for module in model.modules():
        if hasattr(module, "running_mean"):
            module.weight.data.normal_(generator=__import__("torch").Generator().manual_seed(0))
            module.bias.data.uniform_(-1, 1)
    store.write_dataset(bn_audit.audit(model, "vgg11_bn"), out / "bn_audit.nc", config={"arch": "vgg11_bn"}, seed=None)
    return sorted(out.glob("*.nc"))


def test_every_result_is_cf_annotated(results):
    names = {p.stem for p in results}
    assert names == {*COMMANDS, "feasibility_thm4", "feasibility_thm5", "bn_audit"}
    for path in results:
        ds = store.read_dataset(path)
        assert ds.attrs["Conventions"] == metadata.CONVENTIONS, path.name
        for name, var in ds.variables.items():
            assert var.attrs.get("long_name"), (path.name, name)
            assert var.attrs.get("units"), (path.name, name)
            if "flag_values" in var.attrs:
                flags = np.atleast_1d(var.attrs["flag_values"])
                assert flags.dtype.kind in "iu", (path.name, name)
                assert len(var.attrs["flag_meanings"].split()) == flags.size
                assert set(np.unique(var.values)) <= set(flags.tolist())
        for name in ds.variables:
            entry = metadata.entry(name, ds.attrs["result_kind"])
            if entry and entry.get("bool"):
                assert ds[name].dtype == bool, (path.name, name)
        # the run's seed is a 0-d coordinate; where seed is a dimension, the base seed is run_seed
        seed = "run_seed" if "seed" in ds.dims else "seed"
        assert seed in ds.coords and ds[seed].ndim == 0, path.name
        assert int(ds[seed]) == (-1 if path.stem.startswith(("feasibility", "bn_audit")) else 4), path.name


def test_angles_name_their_unit_and_radians_are_not_degrees(results):
    by_name = {p.stem: store.read_dataset(p) for p in results}
    thm4 = by_name["thm4"]
    assert thm4["theta"].attrs["units"] == "rad" and float(thm4["theta"].max()) < np.pi
    assert thm4["theta0"].ndim == 0 and thm4["theta0"].attrs["units"] == "degree" and float(thm4["theta0"]) == 30
    assert by_name["thm5"]["theta_u"].attrs["units"] == "rad"
    assert by_name["feasibility_thm4"]["theta0"].attrs["units"] == "degree"
    thm5_map = by_name["feasibility_thm5"]  # its fixed theta0 is 5 degrees (radians only in the API call)
    assert "theta0" not in thm5_map.variables and thm5_map["theta0_deg"].attrs["units"] == "degree"
    assert float(thm5_map["theta0_deg"]) == pytest.approx(5.0)
    checks = by_name["checks"]  # a nested dataclass configuration is flattened
    assert checks["setup_teacher"].item() == "5,3,4,2" and int(checks["setup_seed"]) == 4


def test_padded_integers_read_back_as_missing(results):
    path = [p for p in results if p.stem == "train"][0]
    train = store.read_dataset(path)
    with xr.open_dataset(path, engine="netcdf4", mask_and_scale=False) as raw:
        raw = raw.load()
    assert raw["winner"].attrs["_FillValue"] == -1
    padded = raw["winner"].values == -1
    assert padded.any()  # the smoke teacher's layers have different widths
    assert np.isnan(train["winner"].values[padded]).all() and not np.isnan(train["winner"].values[~padded]).any()


def test_booleans_round_trip_as_bool(tmp_path):
    ds = xr.Dataset({"feasible": ("x", np.array([1.0, 0.0, 1.0])), "holds": ("x", np.array([1, -1, 0], np.int8))},
                    attrs={"result_kind": "thm5"})
    store.write_dataset(ds, tmp_path / "b.nc", config={}, seed=0)
    back = store.read_dataset(tmp_path / "b.nc")
    assert back["feasible"].dtype == bool and back["feasible"].values.tolist() == [True, False, True]
    assert back["holds"].dtype == np.int8  # a three-valued flag stays a flag


def test_producer_attributes_win_and_run_parameters_avoid_names_in_use(tmp_path):
    ds = xr.Dataset({"loss": ("epoch", np.ones(2), {"long_name": "mine"}), "lr": ("epoch", np.ones(2))},
                    coords={"epoch": [0, 1]}, attrs={"result_kind": "train"})
    store.write_dataset(ds, tmp_path / "p.nc", config={"loss": "mse", "lr": 0.1, "widths": [3, 4], "x": None},
                        seed=7)
    back = store.read_dataset(tmp_path / "p.nc")
    assert back["loss"].attrs["long_name"] == "mine" and back["lr"].attrs["units"] == "1"
    assert back["run_loss"].item() == "mse" and back["run_lr"].item() == 0.1
    assert back["widths"].item() == "3,4" and back["x"].item() == "none" and back["seed"].item() == 7


def test_open_mfdataset_keeps_each_runs_seed_and_parameters(tmp_path):
    spec = sweep.spec_from_dict({"command": "sim thm4", "seeds": [0, 1],
                                 "fixed": {"teachers": 2, "t_end": 1.0, "n_times": 3}, "grid": {"theta0": [20, 40]}})
    assert sweep.run_sweep(spec, tmp_path, jobs=2, progress=False).ok
    files = sorted(tmp_path.glob("*.nc"))
    assert len(files) == 4
    expected = sorted((store.stored_config(ds)["seed"], store.stored_config(ds)["theta0"])
                      for ds in map(store.read_dataset, files))
    with xr.open_mfdataset(files, engine="netcdf4", combine="nested", concat_dim="run",
                           data_vars="all", coords="different", compat="no_conflicts") as both:
        both = both.load()
    assert sorted(zip(both["seed"].values.tolist(), both["theta0"].values.tolist())) == expected
    assert sorted(both["seed"].values.tolist()) == [0, 0, 1, 1]
    assert both["teachers"].ndim == 0 and int(both["teachers"]) == 2  # equal in every run: stays 0-d
    grid = sweep.open_sweep(tmp_path, grid=True)
    assert dict(grid["theta"].sizes) == {"time": 3, "node": 2, "theta0": 2, "seed": 2}
    assert grid["theta0"].attrs["units"] == "degree"
