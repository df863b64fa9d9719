"""``luckbench reproduce``: the paper's experiment specs, the list with estimates, resumable runs, bad names."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from luckbench import reproduce
from luckbench.cli import main

TINY = """
command = "sim thm4"
seeds = [0, 1, 2, 3, 4, 5]

[about]
title = "tiny Thm 4 sweep"
source = "test"
ledger = ["T4"]

[fixed]
teachers = 1
t-end = 1.0
n-times = 3
"""


@pytest.fixture()
def tiny(tmp_path):
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "tiny.toml").write_text(TINY)
    return folder


def test_every_shipped_spec_is_listed_and_follows_the_paper(capsys):
    found = reproduce.experiments()
    assert reproduce.SPEC_DIR == Path(__file__).resolve().parents[1] / "experiments"
    assert set(found) == {p.stem for p in reproduce.SPEC_DIR.glob("*.toml")}
    assert {"fig7-fc", "fig7-small-fc", "fig7-cnn", "fig9a", "fig9b", "overparam-v4", "protocol42"} <= set(found)
    assert main(["reproduce", "--list"]) == 0
    listing = capsys.readouterr().out
    for name, exp in found.items():
        assert name in listing
        assert reproduce.estimate_seconds(exp) > 0
    # the paper's protocol: 5 seeds for Figs. 7/9, 32 for the v4 experiments, 20,000 Thm 5 iterations
    assert all(len(found[n].spec.seeds) == 5 for n in ("fig7-fc", "fig7-small-fc", "fig7-cnn", "fig9a", "fig9b"))
    assert found["overparam-v4"].spec.seeds == tuple(range(32))
    assert found["protocol42"].spec.fixed["seeds"] == 32 and found["protocol42"].spec.fixed["iters"] == 20000
    assert found["fig9b"].spec.grid["finite"] == [0, 100000] and found["fig9b"].device == "gpu"
    # the estimate orders the experiments sensibly: the CNN is the GPU-sized one
    assert reproduce.estimate_seconds(found["fig7-cnn"]) > 100 * reproduce.estimate_seconds(found["fig7-small-fc"])


def test_unknown_name_is_one_line_and_exit_2(capsys, tiny):
    assert main(["reproduce", "nope", "--out", "x", "--experiments", str(tiny)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "unknown experiment 'nope'" in err and "tiny" in err


def test_a_spec_with_a_bad_about_table_is_named(tmp_path):
    (tmp_path / "bad.toml").write_text(TINY.replace('source = "test"', 'device = "tpu"'))
    with pytest.raises(Exception, match="bad.toml: about.device"):
        reproduce.experiments(tmp_path)


def _reproduce(tiny: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "luckbench.cli", "reproduce", "tiny", "--experiments", str(tiny),
            "--out", str(out), "--jobs", "1"]


@pytest.mark.slow
def test_a_killed_reproduce_resumes_and_writes_its_report(tiny, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(_reproduce(tiny, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(list(out.glob("*.nc"))) < 2:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list(out.glob("*.nc")))
    assert 2 <= finished < 6, "the kill should land mid-sweep"
    done = subprocess.run(_reproduce(tiny, out), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"6 runs, {finished} already finished, {6 - finished} ran, 0 failed" in done.stdout
    assert len(list(out.glob("*.nc"))) == 6
    assert (out / "report" / "index.md").is_file()
    manifest = json.loads((out / "sweep.json").read_text())
    assert len(manifest["runs"]) == 6
