"""Checkpoints are validated on read: every kind of damage is one stderr line, exit 2, file kept."""
import math

import pytest
import torch

from luckbench import cli

BASE = ["train", "--preset", "smoke", "--steps-per-epoch", "10", "--valid-samples", "128", "--beta-samples", "16",
        "--no-progress"]


@pytest.fixture(scope="module")
def good_state(tmp_path_factory):
    """A valid checkpoint after 2 epochs of the BASE run."""
    out = tmp_path_factory.mktemp("ckpt") / "r.nc"
    assert cli.main([*BASE, "--epochs", "2", "--keep-checkpoint", "--out", str(out)]) == 0
    return torch.load(out.with_name("r.nc.ckpt"), weights_only=True)


class Evil:
    """Not a tensor or container: ``weights_only`` refuses to build it."""


def _set(path: tuple, value):
    def edit(state):
        target = state
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value(target[path[-1]]) if callable(value) else value
        return state
    return edit


CASES = {
    "no config": (_set(("config",), KeyError), "lacks config"),
    "no history": (_set(("history",), KeyError), "lacks history"),
    "config not json": (_set(("config",), "{not json"), "no readable config"),
    "other format": (_set(("format",), 99), "format 99"),
    "negative epoch": (_set(("epoch",), -1), "epoch -1 is not a non-negative integer"),
    "fractional epoch": (_set(("epoch",), 1.5), "epoch 1.5 is not a non-negative integer"),
    "epoch beyond history": (_set(("epoch",), 1), "history loss has 3 entries, epoch 1 needs 2"),
    "wrong weight shape": (_set(("student", "hidden.0.linear.weight"), lambda t: t[:-1]), "student hidden.0.linear.weight"),
    "wrong weight dtype": (_set(("teacher", "head.bias"), lambda t: t.double()), "teacher head.bias"),
    "missing weight": (_set(("student", "head.bias"), KeyError), "student state has other entries"),
    "short history": (_set(("history", "train_loss"), lambda v: v[:-1]), "history train_loss has 2 entries"),
    "history not numbers": (_set(("history", "lr"), lambda v: ["x"] * len(v)), "history lr holds non-numbers"),
    "wrong corr shape": (_set(("history", "corr"), lambda rows: [[c.T for c in r] for r in rows]), "history corr[0][0]"),
    "beta of a future epoch": (_set(("history", "beta"), lambda b: {"7": next(iter(b.values()))}), "snapshot '7'"),
    "optimizer for other params": (_set(("optimizer", "param_groups"), lambda g: [{**g[0], "params": [0]}]),
                                   "optimizer state covers other parameters"),
    "a pickled object": (_set(("history",), Evil()), "unreadable (UnpicklingError)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_damaged_checkpoint_is_refused_in_one_line(good_state, tmp_path, capsys, case):
    edit, needle = CASES[case]
    state = {k: (dict(v) if isinstance(v, dict) else v) for k, v in good_state.items()}
    state["history"] = dict(good_state["history"])
    ckpt = tmp_path / "r.nc.ckpt"
    torch.save(edit(state), ckpt)
    before = ckpt.read_bytes()
    assert cli.main([*BASE, "--epochs", "3", "--resume", "--out", str(tmp_path / "r.nc")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert needle in err and str(ckpt) in err
    assert ckpt.read_bytes() == before and not (tmp_path / "r.nc").exists()


def test_garbage_and_non_dict_checkpoints_are_refused(tmp_path, capsys):
    ckpt = tmp_path / "r.nc.ckpt"
    for content, needle in ((b"\x00garbage" * 10, "unreadable"), (None, "not a luckbench training checkpoint")):
        if content is None:
            torch.save([1, 2, 3], ckpt)
        else:
            ckpt.write_bytes(content)
        assert cli.main([*BASE, "--resume", "--out", str(tmp_path / "r.nc")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err


def test_resume_with_fewer_epochs_than_the_checkpoint_is_refused(good_state, tmp_path, capsys):
    ckpt = tmp_path / "r.nc.ckpt"
    torch.save(good_state, ckpt)
    assert cli.main([*BASE, "--epochs", "1", "--resume", "--out", str(tmp_path / "r.nc")]) == 2
    err = capsys.readouterr().err
    assert "holds 2 epochs but --epochs is 1" in err and err.count("\n") == 1
    assert not (tmp_path / "r.nc").exists()
    # the same checkpoint extends to a longer run, and the result has exactly the epochs its config says
    assert cli.main([*BASE, "--epochs", "3", "--resume", "--out", str(tmp_path / "r.nc")]) == 0
    from luckbench.store import read_dataset, stored_config

    ds = read_dataset(tmp_path / "r.nc")
    assert len(ds.epoch) - 1 == stored_config(ds)["epochs"] == 3


@pytest.mark.parametrize(("extra", "needle"), [
    ([], "add --resume to continue it"),
    (["--lr", "0.02"], "belongs to another configuration or is unreadable; it is kept"),
])
def test_run_without_resume_keeps_an_existing_checkpoint(good_state, tmp_path, capsys, extra, needle):
    ckpt = tmp_path / "r.nc.ckpt"
    torch.save(good_state, ckpt)
    before = ckpt.read_bytes()
    assert cli.main([*BASE, "--epochs", "2", *extra, "--out", str(tmp_path / "r.nc")]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
    assert ckpt.read_bytes() == before


def test_resume_refuses_another_configuration_naming_the_field(good_state, tmp_path, capsys):
    torch.save(good_state, tmp_path / "r.nc.ckpt")
    assert cli.main([*BASE, "--epochs", "3", "--lr", "0.5", "--resume", "--out", str(tmp_path / "r.nc")]) == 2
    err = capsys.readouterr().err
    assert "different configuration (lr 0.01 -> 0.5)" in err


def test_good_checkpoint_has_finite_history(good_state):
    assert good_state["epoch"] == 2 and len(good_state["history"]["loss"]) == 3
    assert all(math.isfinite(v) for v in good_state["history"]["loss"])
