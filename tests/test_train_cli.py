"""`luckbench train`: divergence, sizes refused before allocating, preset-aware help, stored metadata."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from luckbench import cli
from luckbench.commands.train import EXIT_DIVERGED
from luckbench.empirical import presets, train, train_data, train_memory
from luckbench.errors import InputError
from luckbench.store import read_dataset, to_json

BASE = ["train", "--preset", "smoke", "--steps-per-epoch", "10", "--valid-samples", "128", "--beta-samples", "16",
        "--no-progress"]
TINY = dataclasses.replace(presets.preset("smoke"), epochs=2, steps_per_epoch=10, valid_samples=128, beta_samples=16,
                           progress=False)


def test_divergence_stops_stores_the_good_epochs_and_exits_3(tmp_path, capsys):
    out = tmp_path / "r.nc"
    # epoch 1 at lr 0.01, then lr 1e4 from epoch 2 on: the loss overflows in epoch 2
    argv = [*BASE, "--epochs", "4", "--lr-schedule", "step", "--lr-step", "1", "--lr-gamma", "1e6", "--out", str(out)]
    assert cli.main(argv) == EXIT_DIVERGED == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "diverged at epoch 2" in err and "Traceback" not in err
    ds = read_dataset(out)
    assert ds.attrs["diverged"] == 1 and ds.attrs["diverged_epoch"] == 2
    assert list(ds.epoch.values) == [0, 1] and np.isfinite(ds.loss.values).all()
    assert not (tmp_path / "r.nc.ckpt").exists()


def test_a_converging_run_is_not_marked_diverged():
    ds = train.run(TINY)
    assert ds.attrs["diverged"] == 0 and ds.attrs["diverged_epoch"] == -1


def test_help_mentions_the_divergence_status(capsys):
    assert cli.main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    assert "3 training diverged" in text
    for name in presets.PRESETS:
        assert f"  {name} " in text


@pytest.mark.parametrize("order", ["preset-first", "help-first"])
def test_help_shows_the_chosen_presets_defaults(capsys, order):
    argv = ["--preset", "paper-small-fc", "--help"] if order == "preset-first" else ["--help", "--preset", "paper-small-fc"]
    assert cli.main(["train", *argv]) == 0
    text = " ".join(capsys.readouterr().out.split())
    small = presets.preset("paper-small-fc")
    assert f"training epochs (default: {small.epochs})" in text
    assert f"learning rate (default: {small.lr})" in text
    assert "(default: 20,10,15,20,25,100)" in text
    assert small.epochs != presets.preset("paper-fc").epochs  # the check above would not tell them apart otherwise


@pytest.mark.parametrize(("flags", "needle"), [
    (["--width-mult", "100000000"], "--teacher/--width-mult"),
    (["--teacher", "20,5,100000000000"], "--teacher"),
    (["--teacher", "20,5,100000000000,3"], "--teacher"),
    (["--batch", "10000000000"], "--batch-size"),
    (["--finite", "10000000000"], "--finite"),
    (["--valid-samples", "10000000000"], "--valid-samples"),
    (["--kind", "conv", "--teacher", "1,4,4,3", "--image-size", "1000000"], "--image-size"),
    (["--epochs", "1000000000000", "--width-mult", "1000"], "--epochs"),
])
def test_huge_sizes_are_refused_before_allocating(tmp_path, capsys, flags, needle):
    assert cli.main([*BASE, *flags, "--out", str(tmp_path / "r.nc")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "more than the" in err and "available" in err


@pytest.mark.parametrize("cfg", [
    TINY,
    dataclasses.replace(TINY, bias=False, width_mult=3),
    dataclasses.replace(TINY, bn="after", teacher_bn="before"),
    dataclasses.replace(TINY, kind="conv", teacher=(2, 3, 4, 5), image_size=9, beta_samples=0),
])
def test_network_memory_estimate_counts_the_real_parameters(cfg):
    teacher, student = train_data.build_networks(cfg, torch.device("cpu"))
    numel = lambda net: sum(p.numel() for p in net.parameters()) + sum(  # noqa: E731
        b.numel() for b in net.buffers() if b.dim())  # BN running statistics (not the 0-d batch counter)
    flags, size = train_memory.estimate(cfg)["networks"]
    assert size == 4 * (4 * numel(student) + numel(teacher))
    assert train_memory.check_memory(cfg) < train_memory.available_bytes()


def test_memory_limit_is_enforced(tmp_path):
    with pytest.raises(InputError, match="more than the"):
        train_memory.check_memory(TINY, limit=1000)


@pytest.mark.parametrize(("flags", "needle"), [
    (["--threads", "5000"], "--threads: must be <="),
    (["--preset", "digits-fc", "--teacher", "64,8,5", "--epochs", "1"], "labels run from 0 to 9, the teacher has 5"),
])
def test_threads_and_label_range(tmp_path, capsys, flags, needle):
    assert cli.main([*BASE, *flags, "--out", str(tmp_path / "r.nc")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err


def test_run_attaches_config_and_seed_and_every_name_is_described(tmp_path):
    cfg = dataclasses.replace(TINY, seed=3)
    ds = train.run(cfg)
    assert json.loads(ds.attrs["config"]) == json.loads(to_json(cfg)) and ds.attrs["seed"] == 3
    assert int(ds.seed) == 3
    out = tmp_path / "r.nc"
    assert cli.main([*BASE, "--epochs", "1", "--out", str(out)]) == 0
    stored = read_dataset(out)
    names = list(stored.data_vars) + list(stored.coords)
    assert len(names) >= 20
    for name in names:
        attrs = stored[name].attrs
        assert attrs.get("long_name") and attrs.get("units"), name
    assert stored.epoch_seconds.attrs["units"] == "s" and stored.rho_bar.attrs["units"] == "1"


def _gpu_check():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_skips_without_cuda_and_its_agreement_check_runs(capsys, monkeypatch):
    gpu_check = _gpu_check()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("sys.argv", ["gpu_check.py"])
    assert gpu_check.main() == 0
    assert "no CUDA device" in capsys.readouterr().out
    # the agreement code path, CPU against CPU: identical runs must agree exactly
    assert gpu_check.check_agreement("smoke", device="cpu", steps=5, n_valid=128)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("ok" in line and "rel 0.0e+00" in line for line in lines)
    assert gpu_check.check_sim(device="cpu", iters=4, seeds=2)  # the sim timing and agreement lines, CPU vs CPU
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7 and "ok" in lines[-1] and "0.00e+00" in lines[-1]


def test_cuda_without_a_gpu_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.main([*BASE, "--device", "cuda", "--out", str(tmp_path / "r.nc")]) == 2
    assert "--device cuda: no CUDA device" in capsys.readouterr().err
