"""luckbench demo: the whole pipeline at tiny sizes, and a failed step that does not stop the others."""
import re

from luckbench import cli
from luckbench.commands import demo


def _verdicts(md: str) -> dict[str, str]:
    rows = {}
    for line in md.splitlines():
        m = re.match(r"\| ([ALTE]\d) \|", line)
        if m:
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            rows[m.group(1)] = cells[6]
    return rows


def test_quick_demo_runs_every_step_and_writes_the_report(tmp_path, capsys):
    code = cli.main(["demo", "--out", str(tmp_path), "--quick"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.strip().splitlines()[-1] == f"report: {tmp_path / 'index.html'}"
    names = {p.name for p in (tmp_path / "results").glob("*.nc")}
    assert names == {"checks.nc", "feasibility_thm4.nc", "feasibility_thm5.nc", "thm4.nc", "thm5.nc",
                     "overparam.nc", "train.nc", "train_bn.nc", "train_finite.nc", "train_narrow.nc",
                     "bn_audit_vgg_digits_bn.nc", "beyond_lottery.nc", "beyond_hessian.nc", "beyond_prune.nc"}
    verdicts = _verdicts((tmp_path / "index.md").read_text())
    assert len(verdicts) == 21
    for cid in ("A1", "A2", "A3", "L1", "L2", "L3", "L4", "T1", "T2", "T3", "T4", "T5", "E1", "E2", "E3",
                "E4", "E5", "E6", "E7", "E8"):
        assert verdicts[cid] != "not run", cid
    from luckbench.store import read_dataset

    thm4 = read_dataset(tmp_path / "results" / "thm4.nc")
    assert thm4.attrs["command"].startswith("luckbench sim thm4 --teachers 3")  # repeatable provenance
    for name in names:  # every stored result was drawn by its figure module
        assert list((tmp_path / "figures" / name[:-3]).glob("*.png")), name


def test_failed_step_is_reported_and_the_rest_still_runs(tmp_path, capsys, monkeypatch):
    def steps(results, quick):
        return [("thm4", [["sim", "thm4", "--theta0", "500", "--out", str(results / "t.nc")]]),
                ("feasibility", [lambda: demo._feasibility(results, True)])]

    monkeypatch.setattr(demo, "_steps", steps)
    code = cli.main(["demo", "--out", str(tmp_path), "--quick"])
    captured = capsys.readouterr()
    assert code == 1
    assert re.search(r"\[demo\] thm4: FAILED: .*theta0.*\(log: .*thm4\.log\)", captured.out)
    assert "[demo] feasibility: ok" in captured.out
    assert "1 step(s) failed: thm4" in captured.err
    assert (tmp_path / "results" / "feasibility_thm4.nc").is_file() and (tmp_path / "index.html").is_file()
