"""`luckbench check`: output formats, stored verdicts, exit codes and one-line errors."""
import json
import subprocess
import sys

import numpy as np
import pytest

from luckbench import cli
from luckbench.errors import InputError
from luckbench.store import read_dataset
from luckbench.theory import checks
from luckbench.theory.verdict import Verdict

SMALL = ["--teacher", "5,3,4,2"]


def test_json_output_lists_verdicts(capsys):
    assert cli.main(["check", "theorem1", "lemma1", "--json", *SMALL]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in out] == ["theorem1", "lemma1"]
    assert all(d["holds"] is True and d["kind"] == "exact" for d in out)


def test_table_output(capsys):
    assert cli.main(["check", "theorem3", "--no-bias", "--dtype", "float32", *SMALL]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["check", "kind", "verdict"]
    assert lines[2].split()[:3] == ["theorem3", "exact", "holds"]


def test_paper_mode_changes_the_verdict(capsys):
    assert cli.main(["check", "theorem3", "--json", "--paper-mode", *SMALL]) == 0
    (paper,) = json.loads(capsys.readouterr().out)
    assert paper["holds"] is False and "printed" in paper["details"]["form"]


def test_out_stores_verdicts(tmp_path, capsys):
    path = tmp_path / "checks.nc"
    assert cli.main(["check", "theorem1", "lemma1", "--out", str(path), "--seed", "3", *SMALL]) == 0
    capsys.readouterr()
    ds = read_dataset(path)
    assert ds.attrs["result_kind"] == "checks" and int(ds.attrs["seed"]) == 3
    assert list(ds["check"].values) == ["theorem1", "lemma1"]
    assert ds["holds"].dtype == np.int8 and list(ds["holds"].values) == [1, 1]
    assert np.all(ds["value"].values <= ds["tolerance"].values)
    assert list(ds["kind"].values) == ["exact", "exact"]
    assert "form" in json.loads(str(ds["details"].values[0]))


@pytest.mark.parametrize("argv, words", [
    (["nosuchcheck"], "unknown check"),
    (["--teacher", "20,10,4", "--student", "20,10,10,4"], "depth"),
    (["--teacher", "20,10,4", "--student", "21,10,4"], "input and output"),
    (["--teacher", "20,0,4"], "--teacher"),
    (["--teacher", "20,-3,4"], "--teacher"),
    (["--teacher", ""], "--teacher"),
    (["--student", "x,y"], "--student"),
    (["--teacher", "20"], "--teacher"),
    (["--seed", "-1"], "--seed"),
    (["--teacher", "20,100000,4"], "--teacher"),
])
def test_bad_input_exit_2_one_line(argv, words, capsys):
    assert cli.main(["check", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("luckbench check: error:") and err.count("\n") == 1 and words in err


def test_narrow_or_shallow_setups_run_every_check(capsys):
    # no hidden layer (theorem3 has no BN layer) and a student narrower than the teacher (theorem5
    # needs n >= m): the checks report holds=None instead of crashing
    for argv in (["--teacher", "20,4"], ["--teacher", "20,10,4", "--student", "20,5,4"]):
        assert cli.main(["check", "theorem3", "theorem5", "--json", *argv]) == 0
        verdicts = {v["name"]: v for v in json.loads(capsys.readouterr().out)}
        assert verdicts["theorem5"]["holds"] is None
    assert verdicts["theorem3"]["holds"] is True
    assert cli.main(["check", "theorem3", "--json", "--teacher", "20,4"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["holds"] is None


def test_setup_widths_become_hashable_int_tuples():
    setup = checks.CheckSetup(teacher=[20, 6, 3], student=[20, 9, 3])
    assert setup.teacher == (20, 6, 3) and setup.student == (20, 9, 3) and hash(setup) is not None
    with pytest.raises(InputError, match="--teacher"):
        checks.CheckSetup(teacher=("a", 2))


def test_bad_choice_via_subprocess_has_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "luckbench.cli", "check", "--bn", "sideways"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "--bn" in proc.stderr and "Traceback" not in proc.stderr


def test_a_crashing_check_is_not_swallowed(monkeypatch):
    monkeypatch.setattr(checks, "resolve", lambda name: _boom)
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["check", "theorem1"])


def _boom(setup) -> Verdict:
    raise RuntimeError("boom")


@pytest.mark.parametrize("argv, words", [
    (["--theta0", "nan"], "--theta0"),
    (["--theta0", "0"], "--theta0"),
    (["--theta0", "180"], "--theta0"),
    (["--theta0", "-5"], "--theta0"),
    (["--sigma", "0"], "--sigma"),
    (["--sigma", "inf"], "--sigma"),
    (["--sigma", "-1"], "--sigma"),
    (["--eta", "nan"], "--eta"),
    (["--eta", "0"], "--eta"),
    (["--eta", "2"], "--eta"),
    (["--teacher-scheme", "nosuch"], "--teacher-scheme"),
    (["--teacher-scheme", "orthogonal", "--teacher", "4,8,2"], "--teacher-scheme"),
    (["--theta0", "abc"], "--theta0"),
])
def test_bad_numeric_flags_exit_2_one_line(argv, words, capsys):
    try:
        rc = cli.main(["check", "assumption3", "theorem4", *argv])
    except SystemExit as stop:  # argparse's own errors (unknown choice, not a number)
        rc = stop.code
    assert rc == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err


def test_theta0_sigma_eta_and_scheme_reach_the_checks(capsys):
    argv = ["check", "theorem4", "assumption3", "--json", "--teacher", "6,2,1", "--no-bias",
            "--theta0", "3", "--sigma", "2.5", "--eta", "0.2", "--teacher-scheme", "orthogonal"]
    assert cli.main(argv) == 0
    t4, a3 = json.loads(capsys.readouterr().out)
    assert t4["details"]["theta0_deg"] == 3.0 and t4["details"]["eta"] == 0.2
    # two orthonormal zero-bias teachers: eps_d = 1/2 exactly (docs/math.md 3(ii)), feasible at 3 deg
    # (docs/math.md 3(iii): m = 2 is feasible below 6.9 deg, gamma = 0.111 at 3 deg)
    assert a3["details"]["eps_d"] == pytest.approx(0.5, abs=1e-12) and a3["details"]["sigma"] == 2.5
    assert t4["details"]["gamma"] == pytest.approx(0.111, abs=5e-4)
    assert t4["holds"] is True
    assert cli.main([*argv[:-6], "--theta0", "10", "--teacher-scheme", "orthogonal"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["holds"] is None  # infeasible above 6.9 deg


def test_setup_defaults_match_the_paper():
    s = checks.CheckSetup()
    assert (s.theta0_deg, s.sigma, s.eta, s.teacher_scheme) == (5.0, 10.0, None, "paper")
    assert s.teacher_rows().shape == (10, 21)  # 10 teachers, 20 inputs + bias, unit rows
    assert np.allclose(np.linalg.norm(s.teacher_rows(), axis=1), 1.0)
