"""luckbench sweep: planning, resume after SIGKILL, the submitit path, opening the results together."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from luckbench import store, sweep
from luckbench.errors import InputError

# A stand-in for a luckbench command: y = N(0,1) draws from `seed` plus `a`, written atomically.
# Before sleeping it leaves a file named like store.write_dataset's temporary file, as a run
# killed mid-write would; after writing it appends its name to executions.log.
FAKE = textwrap.dedent("""
    import argparse, pathlib, time
    import numpy as np, xarray as xr
    from luckbench import store
    p = argparse.ArgumentParser()
    p.add_argument("--a", type=float); p.add_argument("--b"); p.add_argument("--seed", type=int)
    p.add_argument("--sleep", type=float, default=0.0); p.add_argument("--flag", action="store_true")
    p.add_argument("--widths"); p.add_argument("--out")
    a = p.parse_args()
    out = pathlib.Path(a.out)
    fake_tmp = out.with_name(out.name + ".killed.tmp")
    fake_tmp.write_text("half")
    time.sleep(a.sleep)
    y = np.random.default_rng(a.seed).normal(size=4) + a.a
    ds = xr.Dataset({"y": ("time", y)}, coords={"time": np.arange(4)}, attrs={"result_kind": "fake"})
    store.write_dataset(ds, out, config=vars(a), seed=a.seed)
    fake_tmp.unlink()
    with open(out.parent / "executions.log", "a") as f:
        f.write(out.stem + "\\n")
""")


def _spec(tmp_path, *, sleep=0.0, a=(1.0, 2.0, 3.0), b=("u", "v"), seeds=(0, 1)):
    script = tmp_path / "fake.py"
    script.write_text(FAKE)
    text = textwrap.dedent(f"""
        program = ["{sys.executable}", "{script}"]
        seeds = {list(seeds)}
        [fixed]
        sleep = {sleep}
        [grid]
        a = {list(a)}
        b = {list(b)}
    """)
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def _expected_y(a, seed):
    return np.random.default_rng(seed).normal(size=4) + a


@pytest.mark.parametrize("text, what", [
    ('command = "sim thm4"\nbogus = 1', "unknown keys"),
    ('command = "sim thm4"\n[grid]\ntheta0 = 10', "non-empty list"),
    ('command = "sim thm4"\n[fixed]\ntheta0 = 10\n[grid]\ntheta0 = [10]', "both"),
    ('command = "sim thm4"\nseeds = [1, 1]', "repeated"),
    ('command = "sim thm4"\nseeds = "0"', "seeds"),
    ('command = ""', "command"),
    ('command = "sim thm4"\n[grid]\nx = [{a = 1}]', "flag value"),
    ('command = "sim thm4" [', "TOML"),
    ('command = "sim \'thm4"', "command line"),
    ('command = "sim thm4"\nout = 5', "'out' must be a string"),
])
def test_bad_specs_are_one_line_input_errors(tmp_path, text, what):
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=what):
        sweep.load_spec(path)


def test_plan_builds_flags_and_stable_names(tmp_path):
    spec = sweep.spec_from_dict({"command": "sim thm4", "seeds": [3, 4],
                                 "fixed": {"t_end": 5.0, "teacher": [10, 20, 30], "bias": False},
                                 "grid": {"theta0": [10, 20, 30]}})
    runs = sweep.plan(spec, tmp_path)
    assert len(runs) == 6 and len({r.name for r in runs}) == 6
    first = runs[0]
    words = list(first.argv[3:])
    assert words[:2] == ["sim", "thm4"]
    assert words[words.index("--t-end") + 1] == "5.0"
    assert words[words.index("--teacher") + 1] == "10,20,30"
    assert "--no-bias" in words
    assert words[words.index("--theta0") + 1] == "10" and words[words.index("--seed") + 1] == "3"
    assert words[-2:] == ["--out", str(tmp_path.resolve() / f"{first.name}.nc")]
    # the name depends on the configuration only: key order and dash/underscore spelling do not matter
    again = sweep.spec_from_dict({"command": "sim thm4", "seeds": [3, 4], "grid": {"theta0": [10, 20, 30]},
                                  "fixed": {"bias": False, "teacher": [10, 20, 30], "t-end": 5.0}})
    assert [r.name for r in sweep.plan(again, tmp_path / "other")] == [r.name for r in runs]
    changed = sweep.spec_from_dict({"command": "sim thm4", "seeds": [3, 4], "grid": {"theta0": [10, 20, 30]},
                                    "fixed": {"bias": False, "teacher": [10, 20, 30], "t-end": 6.0}})
    assert not {r.name for r in sweep.plan(changed, tmp_path)} & {r.name for r in runs}


def _sweep_cli(spec, out, *extra):
    return [sys.executable, "-m", "luckbench.cli", "sweep", str(spec), "--out", str(out), *extra]


def test_sigkill_mid_sweep_then_resume_finishes_every_run_exactly_once(tmp_path):
    spec_path = _spec(tmp_path, sleep=0.4, a=(1.0, 2.0))
    out = tmp_path / "out"
    planned = {r.name for r in sweep.plan(sweep.load_spec(spec_path), out)}
    assert len(planned) == 8
    proc = subprocess.Popen(_sweep_cli(spec_path, out, "--jobs", "2"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while (len(list(out.glob("*.nc"))) < 3 or not list(out.glob("*.killed.tmp"))) and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.3)  # the runs it started receive SIGKILL from the kernel (parent-death signal)
    finished_before = {p.stem for p in out.glob("*.nc")}
    assert 3 <= len(finished_before) < 8
    assert list(out.glob("*.killed.tmp")), "the killed runs should have left their temporary files"
    time.sleep(0.6)  # an orphan would finish its 0.4 s run in this time
    assert {p.stem for p in out.glob("*.nc")} == finished_before, "runs outlived the killed sweep"
    for name in finished_before:  # whatever exists is complete
        store.read_dataset(out / f"{name}.nc")

    done = subprocess.run(_sweep_cli(spec_path, out, "--jobs", "2"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"{len(finished_before)} already finished" in done.stdout
    results = sorted(out.glob("*.nc"))
    assert {p.stem for p in results} == planned and len(results) == 8
    assert not list(out.glob("*.tmp")) and not list(out.glob("*.tmp*"))
    executions = (out / "executions.log").read_text().split()
    assert all(executions.count(name) == 1 for name in finished_before)  # finished runs were not redone
    runs = {r.name: r for r in sweep.plan(sweep.load_spec(spec_path), out)}
    for path in results:
        run = runs[path.stem]
        np.testing.assert_array_equal(store.read_dataset(path)["y"].values, _expected_y(run.params["a"], run.seed))

    # the sweep's results open together, one coordinate per swept parameter
    ds = sweep.open_sweep(out)
    assert ds.sizes["run"] == 8
    grid = sweep.open_sweep(out, grid=True)
    assert dict(grid["y"].sizes) == {"time": 4, "a": 2, "b": 2, "seed": 2}
    for a in (1.0, 2.0):
        for seed in (0, 1):
            for b in ("u", "v"):
                np.testing.assert_array_equal(grid["y"].sel(a=a, b=b, seed=seed).values, _expected_y(a, seed))


def test_second_sweep_in_the_same_folder_is_refused(tmp_path):
    spec = sweep.load_spec(_spec(tmp_path, a=(1.0,), seeds=(0,)))
    out = tmp_path / "out"
    out.mkdir()
    with sweep._Lock(out):
        with pytest.raises(InputError, match="another sweep"):
            sweep.run_sweep(spec, out, progress=False)


def test_failed_run_is_reported_and_retried(tmp_path):
    spec = sweep.spec_from_dict({"program": [sys.executable, "-c", "import sys; sys.exit(3)"],
                                 "command": "", "grid": {"a": [1, 2]}})
    outcome = sweep.run_sweep(spec, tmp_path / "out", progress=False)
    assert not outcome.ok and len(outcome.failed) == 2 and not list((tmp_path / "out").glob("*.nc"))
    assert "exit code 3" in outcome.failed[0][1]


def test_slurm_path_through_submitit_local_executor(tmp_path):
    spec = sweep.load_spec(_spec(tmp_path, a=(1.0,), b=("u",), seeds=(0, 5)))
    out = tmp_path / "out"
    outcome = sweep.run_sweep(spec, out, executor="slurm", progress=False,
                              slurm=sweep.SlurmOptions(cluster="local", partition="gpu", gpus=0, time_min=5))
    assert outcome.ok and outcome.submitted == 2 and len(outcome.done) == 2
    assert list((out / "submitit").iterdir())  # submitit's job folders
    for run in outcome.runs:
        np.testing.assert_array_equal(store.read_dataset(run.result)["y"].values, _expected_y(1.0, run.seed))
    again = sweep.run_sweep(spec, out, executor="slurm", progress=False, slurm=sweep.SlurmOptions(cluster="local"))
    assert again.submitted == 0 and len(again.skipped) == 2


def test_real_command_same_seed_same_result(tmp_path):
    """Two sweeps of `luckbench sim thm4` into different folders: same run names, identical numbers."""
    spec = sweep.spec_from_dict({"command": "sim thm4", "seeds": [0, 1],
                                 "fixed": {"teachers": 2, "t_end": 2.0, "n_times": 5}, "grid": {"theta0": [20]}})
    first = sweep.run_sweep(spec, tmp_path / "a", jobs=2, progress=False)
    second = sweep.run_sweep(spec, tmp_path / "b", jobs=2, progress=False)
    assert first.ok and second.ok, (first.failed, second.failed)
    names = sorted(p.name for p in (tmp_path / "a").glob("*.nc"))
    assert names == sorted(p.name for p in (tmp_path / "b").glob("*.nc")) and len(names) == 2
    thetas = []
    for name in names:
        a, b = store.read_dataset(tmp_path / "a" / name), store.read_dataset(tmp_path / "b" / name)
        assert a.attrs["result_kind"] == "thm4" and "--theta0 20" in a.attrs["command"]
        np.testing.assert_array_equal(a["theta"].values, b["theta"].values)
        thetas.append(a["theta"].values)
    assert not np.array_equal(*thetas)  # the two seeds differ
    grid = sweep.open_sweep(tmp_path / "a", grid=True)
    assert dict(grid["theta"].sizes) == {"time": 5, "node": 2, "theta0": 1, "seed": 2}


def test_cli_dry_run_lists_the_planned_commands(tmp_path, capsys):
    from luckbench import cli

    spec = tmp_path / "s.toml"
    spec.write_text('command = "sim thm4"\nseeds = [0, 1]\n[fixed]\nt-end = 5.0\n[grid]\ntheta0 = [10, 20, 30]\n')
    assert cli.main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "6 runs" and all("[todo] luckbench sim thm4 --t-end 5.0 --theta0" in ln for ln in lines[:-1])
    assert not (tmp_path / "out").exists()
    assert cli.main(["sweep", str(spec)]) == 2  # no --out and no `out` in the spec
    assert "--out" in capsys.readouterr().err


@pytest.mark.parametrize("raw, words", [
    ({"command": "simx thm4", "grid": {"theta0": [10]}}, "invalid choice"),
    ({"command": "sim thm4", "grid": {"nosuch": [1, 2]}}, "--nosuch"),
    ({"command": "sim thm4", "grid": {"theta0": [10, 400]}}, "theta0=400: argument --theta0: must be < 180"),
    ({"command": "sim thm4", "grid": {"teachers": [2, 20000]}}, "teachers=20000: --teachers"),
    ({"command": "check", "grid": {"teacher": ["20,10,4", "20,5000,4"]}}, "--teacher"),
    ({"command": "", "program": ["/nonexistent/prog"], "grid": {"a": [1]}}, "program"),
])
def test_bad_plan_is_refused_before_any_run(tmp_path, raw, words):
    spec = sweep.spec_from_dict(raw)
    with pytest.raises(InputError, match=words.replace("(", r"\(")) as exc:
        sweep.run_sweep(spec, tmp_path / "out", progress=False)
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "out").exists()  # nothing started, not even the folder


def test_huge_grid_is_refused_before_it_is_enumerated():
    grid = {f"p{i}": list(range(1000)) for i in range(8)}  # 1e24 points
    with pytest.raises(InputError, match="1e\\+24 runs, above the limit"):
        sweep.spec_from_dict({"command": "sim thm4", "grid": grid})


def test_seeds_outside_0_2_63_are_refused():
    for seeds in ([-1], [2**64]):
        with pytest.raises(InputError, match="seeds"):
            sweep.spec_from_dict({"command": "sim thm4", "seeds": seeds})


def test_slurm_without_sbatch_is_refused_before_planning(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep.shutil, "which", lambda name: None)
    spec = sweep.spec_from_dict({"command": "sim thm4", "fixed": {"teachers": 2}})
    with pytest.raises(InputError, match="--executor slurm"):
        sweep.run_sweep(spec, tmp_path / "out", executor="slurm", progress=False)
    assert not (tmp_path / "out").exists()


def test_luckbench_runs_may_replace_their_own_result(tmp_path):
    spec = sweep.spec_from_dict({"command": "sim thm4", "seeds": [0], "grid": {"theta0": [10]}})
    (run,) = sweep.plan(spec, tmp_path)
    assert run.argv[-3:] == ("--overwrite", "--out", run.result)


def test_killed_train_run_continues_from_its_checkpoint(tmp_path):
    """A train run of a sweep passes --resume, so a re-run after a kill continues its checkpoint
    (train refuses an existing checkpoint without it); other commands get no such flag."""
    train = sweep.spec_from_dict({"command": "train", "seeds": [0], "fixed": {"preset": "smoke"}})
    (run,) = sweep.plan(train, tmp_path)
    assert "--resume" in run.argv
    (thm4,) = sweep.plan(sweep.spec_from_dict({"command": "sim thm4", "seeds": [0]}), tmp_path / "b")
    assert "--resume" not in thm4.argv
