"""Teacher-student training: determinism, resume, the stored result, the CLI's errors."""
import dataclasses

import numpy as np
import pytest
import torch

from luckbench import cli
from luckbench.empirical import presets, sgd, train
from luckbench.empirical.history import History
from luckbench.errors import InputError
from luckbench.store import read_dataset, stored_config

TINY = dataclasses.replace(presets.preset("smoke"), epochs=3, steps_per_epoch=20, valid_samples=256,
                           beta_samples=32, progress=False)
# momentum buffers, BN running statistics, a finite set and an epoch-dependent lr all have to survive a resume
HARD = dataclasses.replace(TINY, momentum=0.9, bn="after", finite=300, lr_schedule="cosine", weight_decay=1e-4)


def _same_history(a: History, b: History) -> None:
    for name in ("loss", "train_loss", "lr", "agreement"):
        assert np.array_equal(np.array(getattr(a, name)), np.array(getattr(b, name)), equal_nan=True), name
    for row_a, row_b in zip(a.corr, b.corr, strict=True):
        for ca, cb in zip(row_a, row_b, strict=True):
            assert torch.equal(ca.nan_to_num(7.0), cb.nan_to_num(7.0))
    assert sorted(a.beta) == sorted(b.beta)
    for k in a.beta:
        for (ba, da), (bb, db) in zip(a.beta[k], b.beta[k]):
            assert torch.equal(ba, bb) and torch.equal(da, db)


def _same_weights(a, b) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_same_seed_same_result_and_another_seed_differs():
    a, b = train.train(TINY), train.train(TINY)
    _same_history(a.history, b.history)
    _same_weights(a.student, b.student)
    c = train.train(dataclasses.replace(TINY, seed=1))
    assert c.history.loss != a.history.loss


def test_resume_after_interruption_is_bitwise_identical(tmp_path):
    full = train.train(HARD, checkpoint=tmp_path / "a.ckpt")

    def crash(epoch):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train.train(HARD, checkpoint=tmp_path / "b.ckpt", on_epoch_end=crash, checkpoint_seconds=0)
    state = torch.load(tmp_path / "b.ckpt", weights_only=True)
    assert state["epoch"] == 1
    resumed = train.train(HARD, checkpoint=tmp_path / "b.ckpt", resume=True)
    _same_history(full.history, resumed.history)
    _same_weights(full.student, resumed.student)
    with pytest.raises(InputError, match="different configuration"):
        train.train(dataclasses.replace(HARD, lr=0.5), checkpoint=tmp_path / "b.ckpt", resume=True)


@pytest.mark.parametrize("bias", [True, False])
def test_fused_sgd_step_equals_autograd_and_torch_sgd(bias):
    cfg = dataclasses.replace(TINY, dtype="float64", epochs=2, bias=bias, beta_samples=0)
    assert sgd.fused_sgd_applies(cfg)
    fused = train.train(cfg)
    plain = train.train(dataclasses.replace(cfg, fused_sgd=False))
    for name, value in fused.student.state_dict().items():
        assert torch.allclose(value, plain.student.state_dict()[name], rtol=1e-10, atol=1e-12), name
    assert np.allclose(fused.history.train_loss[1:], plain.history.train_loss[1:], rtol=1e-10)
    assert not sgd.fused_sgd_applies(dataclasses.replace(cfg, fused_sgd=False))


def test_training_raises_rho_bar_and_records_epoch_zero():
    res = train.train(dataclasses.replace(TINY, epochs=2, steps_per_epoch=100))
    ds = train.result_dataset(res)
    assert list(ds.epoch.values) == [0, 1, 2]
    assert np.isnan(ds.train_loss.values[0]) and np.isfinite(ds.train_loss.values[1:]).all()
    assert ds.loss.values[-1] < ds.loss.values[0]
    assert ds.rho_bar.values[-1, 0] > ds.rho_bar.values[0, 0]
    rank = ds.mean_rank.values
    assert np.all((rank >= 0) & (rank <= 1)) and np.all(rank[-1] == 0)  # argmax winners rank first at the end
    assert list(ds.snapshot.values) == [0, 2]
    m = ds.n_teacher.values
    diag = np.diagonal(ds.beta_star.values, axis1=2, axis2=3)  # (snapshot, layer, teacher)
    assert np.isfinite(diag[:, 0, : m[0]]).all() and np.isnan(diag[:, 0, m[0]:]).all()


def test_real_data_preset_records_both_accuracies():
    cfg = dataclasses.replace(presets.preset("digits-fc"), teacher=(64, 8, 10), width_mult=2, teacher_epochs=4,
                              epochs=1, progress=False)
    ds = train.result_dataset(train.train(cfg))
    assert 0.6 < ds.teacher_acc.values[-1] <= 1.0  # a small net learns the digits in four epochs
    assert 0.0 <= ds.student_acc.values[-1] <= 1.0 and 0.0 <= ds.agreement.values[-1] <= 1.0
    assert 0.6 < ds.attrs["teacher_train_acc"] <= 1.0


def _cli_error(capsys, argv):
    assert cli.main(["train", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize(("argv", "needle"), [
    (["--preset", "nope"], "unknown preset 'nope'"),
    (["--preset", "smoke", "--epochs", "-1"], "--epochs"),
    (["--preset", "smoke", "--width-mult", "0"], "--width-mult"),
    (["--preset", "smoke", "--lr", "nan"], "--lr"),
    (["--preset", "smoke", "--teacher", "20,0,3"], "--teacher"),
    (["--preset", "smoke", "--seed", "-1"], "--seed"),
    (["--preset", "cifar-fc"], "--data-dir"),
    (["--preset", "cifar-fc", "--data-dir", "/no/such/cifar"], "/no/such/cifar"),
    (["--preset", "digits-fc", "--teacher", "20,5,10"], "--teacher"),
])
def test_bad_presets_and_overrides_are_one_line_exit_2(tmp_path, capsys, argv, needle):
    err = _cli_error(capsys, [*argv, "--out", str(tmp_path / "r.nc")])
    assert needle in err
    assert not (tmp_path / "r.nc").exists()


def test_argparse_errors_are_one_line_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--preset", "smoke", "--bn", "sideways", "--out", str(tmp_path / "r.nc")])
    assert exc.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_cli_stores_the_result_and_resumes(tmp_path, capsys):
    out = tmp_path / "r.nc"
    base = ["train", "--preset", "smoke", "--steps-per-epoch", "20", "--valid-samples", "256", "--no-progress",
            "--out", str(out)]
    assert cli.main([*base, "--epochs", "1", "--keep-checkpoint"]) == 0
    assert (tmp_path / "r.nc.ckpt").exists()
    assert cli.main([*base, "--epochs", "2", "--resume"]) == 0  # continues from epoch 1
    assert not (tmp_path / "r.nc.ckpt").exists()
    assert str(out) in capsys.readouterr().out
    ds = read_dataset(out)
    assert ds.attrs["result_kind"] == "train" and ds.attrs["preset"] == "smoke"
    assert stored_config(ds)["epochs"] == 2 and stored_config(ds)["preset"] == "smoke"
    for name in ("rho_bar", "mean_rank", "loss", "beta_star", "h_star", "winner"):
        assert name in ds
    direct = train.result_dataset(train.train(dataclasses.replace(
        presets.preset("smoke"), epochs=2, steps_per_epoch=20, valid_samples=256, progress=False)))
    assert np.array_equal(ds.rho_bar.values, direct.rho_bar.values)


def test_train_figures(tmp_path):
    from luckbench.reports import train_figures

    ds = train.result_dataset(train.train(dataclasses.replace(TINY, epochs=1)))
    ds.attrs.update(preset="tiny", seed=0)
    paths = train_figures.plot(ds, tmp_path)
    assert [p.name for p in paths] == ["train_rho_rank_tiny_s0.png", "train_beta_h_tiny_s0.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
