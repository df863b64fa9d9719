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
    assert lines[0].split()[:3] == ["check", "kind", "holds"]
    assert lines[2].split()[:3] == ["theorem3", "exact", "yes"]


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
    try:
        code = cli.main(["check", *argv])
    except SystemExit as exc:  # argparse's own usage errors (flag values checked at parse time)
        code = exc.code
    assert code == 2
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
