"""luckbench report: synthetic and real results -> figures, ledger rows (printed / corrected verdicts, rules,
seed statistics), ledger.json, sweep figures, unusable files named and skipped."""
import json
import re
import subprocess
import sys
import numpy as np
import pytest
from hypothesis import given, strategies as st
import xarray as xr

from luckbench import cli, store
from luckbench.reports import ledger, report, stats
from luckbench.reports.judgement import VERDICTS


def _write(path, ds, kind, config=None, seed=0, command=None, **attrs):
    ds.attrs.update({"result_kind": kind, **attrs})
    return store.write_dataset(ds, path, config=config or {}, seed=seed,
                               command=command or f"luckbench synthetic {kind}")


def _checks(holds=(1, 1, 1, 0, -1, 1, 1, 1, 1, 1, 1, 1)):
    names = ["assumption1", "assumption2", "assumption3", "lemma1", "lemma2", "lemma3", "lemma4",
             "theorem1", "theorem2", "theorem3", "theorem4", "theorem5"]
    n = len(names)
    return xr.Dataset({
        "holds": ("check", np.array(holds, dtype=np.int8)),
        "value": ("check", np.linspace(1e-12, 0.5, n)),
        "bound": ("check", np.full(n, 0.25)),
        "tolerance": ("check", np.full(n, 1e-9)),
        "kind": ("check", np.array(["assumption"] * 3 + ["exact"] + ["bound"] * 3 + ["exact"] * 3 + ["bound"] * 2)),
        "statement": ("check", np.array([f"statement of {c}" for c in names])),
        "details": ("check", np.array([json.dumps({"gamma": -0.5, "eps_d": 0.75}) for _ in names])),
    }, coords={"check": names})


def _feasibility(theorem, a, b, da, db):
    ga, gb = np.meshgrid(np.asarray(da, float), np.asarray(db, float), indexing="ij")
    gamma = 0.3 - 0.01 * ga - 0.1 * gb
    return xr.Dataset({"gamma": ((a, b), gamma), "feasible": ((a, b), (gamma > 0).astype(np.int8))},
                      coords={a: da, b: db}), theorem


def _thm4(bound_factor=2.0):
    t = np.linspace(0, 10, 21)
    theta = np.radians(30) * np.exp(-0.3 * t)[:, None] * np.array([1.0, 0.9, 0.8])[None]
    s = np.sin(theta).max(axis=1)
    return xr.Dataset({"theta": (("time", "node"), theta), "sin_theta_max": ("time", s),
                       "sin_theta_bound": ("time", bound_factor * s[0] * np.exp(-0.1 * t))},
                      coords={"time": t, "node": np.arange(3)})


def _thm5(r_final=0.05, seeds=3):
    times, nodes = 5, 8
    v = np.ones((seeds, times, nodes))
    v[:, :, 4:] = np.linspace(0.5, r_final, times)[None, :, None] * (1 + 0.01 * np.arange(seeds))[:, None, None]
    drift = np.where(np.arange(nodes) < 4, np.nan, 0.1)[None, None, :] * np.linspace(0, 1, times)[None, :, None]
    return xr.Dataset({"v_row_norm": (("seed", "time", "node"), v), "is_u": ("node", np.arange(nodes) < 4),
                       "w_drift_r": (("seed", "time", "node"), drift.repeat(seeds, axis=0))},
                      coords={"seed": np.arange(seeds), "time": np.arange(times), "node": np.arange(nodes)})


def _protocol(gap_end=1.5, seeds=3):
    """The v4 Sec. 4.2 grid as luckbench.sim.protocol stores it: 1 width x 2 alpha pairs x ``seeds`` seeds;
    pair 0 (alpha_W 1) separates, pair 1 (alpha_W 0.3) only shifts; ``gap_end`` is pair 0's final u-row norm."""
    multis, pairs, times, nodes = [2], [0, 1], 4, 8
    is_u = np.arange(nodes) < 4
    base = np.where(is_u, 1.0, 0.5)[None, None, None, :].repeat(times, axis=2).repeat(2, axis=1)
    decay = np.linspace(1, 0.2, times)[None, None, :, None]
    mean = np.where(is_u, base, base * decay)
    jitter = 1 + 0.02 * np.arange(seeds)[None, None, :, None]
    vu = np.ones((1, 2, seeds, times)) * jitter
    vu[0, 0, :, -1] = gap_end
    vr = 0.5 * np.ones((1, 2, seeds, times)) * jitter
    vr[0, 0] *= np.linspace(1, 0.2, times)[None, :]
    gap = (vu - vr).mean(axis=2)
    return xr.Dataset({"v_row_norm_mean": (("node_multi", "pair", "time", "node"), mean),
                       "v_row_norm_std": (("node_multi", "pair", "time", "node"), 0.1 * mean),
                       "vu_norm": (("node_multi", "pair", "seed", "time"), vu),
                       "vr_norm": (("node_multi", "pair", "seed", "time"), vr),
                       "row_norm_gap": (("node_multi", "pair", "time"), gap),
                       "is_u": ("node", is_u), "n_students": ("node_multi", [nodes])},
                      coords={"node_multi": multis, "pair": pairs, "alpha_w": ("pair", [1.0, 0.3]),
                              "alpha_v": ("pair", [1.0, 1.0]), "time": np.arange(times) * 5.0,
                              "iteration": ("time", np.arange(times) * 100), "node": np.arange(nodes),
                              "seed": np.arange(seeds)})


def _overparam(finals=(0.8, 0.9, 0.95)):
    """luckbench.sim.overparam's layout: rho_bar(node_multi, seed, time), loss(...), iteration(time)."""
    t = np.linspace(0, 1, 5)
    rho = np.asarray(finals)[:, None, None] * (0.5 + 0.5 * t)[None, None, :] * np.ones((1, 3, 1))
    return xr.Dataset({"rho_bar": (("node_multi", "seed", "time"), rho),
                       "loss": (("node_multi", "seed", "time"), 1.1 - rho)},
                      coords={"node_multi": [1, 2, 5], "seed": np.arange(3), "time": t * 10,
                              "iteration": ("time", (t * 200).astype(int))})


def _train(final=(0.9, 0.7, 0.6), rank_epoch1=0.1, epochs=4, seed=0):
    layers = len(final)
    start = np.full(layers, 0.3)
    final = np.asarray(final) + 0.005 * seed  # seeds differ a little
    rho = start[None] + (np.asarray(final) - start)[None] * np.linspace(0, 1, epochs + 1)[:, None]
    rank = np.full((epochs + 1, layers), rank_epoch1)
    rank[0] = 0.4
    return xr.Dataset({"rho_bar": (("epoch", "layer"), rho), "mean_rank": (("epoch", "layer"), rank),
                       "loss": ("epoch", np.linspace(1, 0.1, epochs + 1))},
                      coords={"epoch": np.arange(epochs + 1), "layer": np.arange(layers)})


def _bn_audit_of_small_vgg(seed=0):
    """A real audit (H6's producer) of the small VGG-BN with BN biases set to N(0,1) - 0.3 * layer."""
    import torch

    from luckbench.empirical import bn_audit
    from luckbench.empirical.architectures import build

    model = build("vgg_digits_bn")
    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for i, bn in enumerate(bns):
            bn.bias.copy_(torch.randn(bn.num_features, generator=gen) - 0.3 * i)
    return bn_audit.audit(model, "vgg_digits_bn")


def _bn_audit(fracs=(0.4, 0.6, 0.9, 0.99), p_pass=(0.5, 0.4, 0.2, 0.1)):
    n = np.array([64, 64, 128, 128])
    neg = np.round(np.asarray(fracs) * n).astype(int)
    return xr.Dataset({"n_channels": ("layer", n), "n_negative": ("layer", neg), "n_zero": ("layer", 0 * n),
                       "n_positive": ("layer", n - neg), "frac_negative": ("layer", neg / n),
                       "p_pass_mean": ("layer", np.asarray(p_pass, float)), "feeds_relu": ("layer", np.ones(4, np.int8))},
                      coords={"layer": [f"features.{i}" for i in (1, 4, 8, 11)]})




SEEDS = (0, 1, 2)
BASE = {"preset": "paper-small-fc", "teacher": [20, 10, 15, 20, 25, 100], "bn": "none", "finite": 0,
        "width_mult": 10, "epochs": 4}
CHANGES = {"base": ({}, (0.9, 0.7, 0.6)), "bn": ({"bn": "after"}, (0.8, 0.6, 0.5)),
           "finite": ({"finite": 1000}, (0.5, 0.45, 0.4)), "wide": ({"width_mult": 20}, (0.95, 0.8, 0.7))}


def _train_runs(d, seeds=SEEDS, changes=CHANGES):
    for name, (change, final) in changes.items():
        for s in seeds:
            _write(d / "train" / f"{name}_s{s}.nc", _train(final=final, seed=s), "train",
                   config={**BASE, **change, "seed": s}, seed=s, command=f"luckbench train {name} --seed {s}")


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("results")
    _write(d / "checks.nc", _checks(), "checks", config={"setup": {"paper_mode": False}})
    for theorem, a, b, da, db in (("thm4", "theta0", "m", [1, 5, 10, 20], [2, 3, 4]),
                                  ("thm5", "eps", "n", [1e-4, 1e-3, 1e-2], [8, 12, 16])):
        ds, th = _feasibility(theorem, a, b, da, db)
        ds[a].attrs["units"] = "degree" if a == "theta0" else "1"
        _write(d / f"feasibility_{th}.nc", ds, "feasibility", config={"theorem": th}, map=th)
    _write(d / "thm4.nc", _thm4(), "thm4")
    _write(d / "thm5.nc", _thm5(), "thm5")
    _write(d / "thm5_protocol.nc", _protocol(), "thm5_protocol")
    _write(d / "overparam.nc", _overparam(), "overparam")
    _train_runs(d)
    for s in SEEDS:
        _write(d / f"bn_audit_s{s}.nc", _bn_audit_of_small_vgg(s), "bn_audit", seed=s, command=f"luckbench audit bn {s}")
    (d / "corrupt.nc").write_bytes(b"CDF\x01 this is not really netCDF")
    xr.Dataset({"x": ("t", np.arange(3.0))}).to_netcdf(d / "foreign.nc")
    return d


@pytest.fixture(scope="module")
def built(results_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    index = report.write_report([results_dir], out)
    rows = {r["id"]: r for r in json.loads((out / "ledger.json").read_text())}
    return out, index, rows


def _rows(paths):
    return {r.id: r for r in ledger.build(report.collect(paths)[0])}


def _ledger_row(md: str, cid: str) -> list[str]:
    line = next(ln for ln in md.splitlines() if ln.startswith(f"| {cid} |"))
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]


def test_report_writes_markdown_html_ledger_json_and_figures(built):
    out, index, _ = built
    assert index == out / "index.html"
    md, page = (out / "index.md").read_text(), index.read_text()
    pngs = sorted(out.rglob("*.png"))
    names = " ".join(p.name for p in pngs)
    assert "checks_" in names and "feasibility_thm4_" in names and "feasibility_thm5_" in names
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        rel = png.relative_to(out).as_posix()
        assert f"]({rel})" in md and f'<a href="{rel}"><img src="{rel}"' in page  # click for full size
    # self-contained: inline style, no script, no external resource
    assert "<style>" in page and "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<link" not in page
    assert "ledger.json" in md


def test_ledger_json_schema(built):
    out, _, rows = built
    keys = {"id", "claim", "source", "verdict_printed", "verdict_corrected", "rule", "n_seeds", "measured",
            "published", "evidence"}
    assert list(rows) == [c.id for c in ledger.CLAIMS]
    assert set(rows) >= {"T4b", "T5b", "E10", "E11", "E12", "E13", "E14", "B1", "B2", "B3"}
    for cid, row in rows.items():
        assert keys <= set(row), cid
        assert row["verdict_printed"] in VERDICTS and row["verdict_corrected"] in VERDICTS, cid
        assert len(row["rule"]) > 40 and row["rule"].endswith("."), cid
        assert ("v2" in row["source"]) or ("v4" in row["source"]), cid
        if cid[0] in "ALT":
            assert row["n_seeds"] is None, cid
        for path in row["evidence"]:
            assert (out / path).resolve().is_file(), (cid, path)


def test_rule_text_shown_for_every_row(built):
    out, _, rows = built
    md = (out / "index.md").read_text()
    for cid, row in rows.items():
        cells = _ledger_row(md, cid)
        assert cells[5] == row["rule"].replace("|", "\\|"), cid


def test_ledger_rows_and_verdicts(built):
    _, _, rows = built
    corrected = {"A1": "holds", "L1": "fails", "L2": "preconditions unmet", "T1": "holds", "T4": "holds",
                 "T5": "holds", "E1": "holds", "E2": "holds", "E3": "holds", "E4": "holds", "E5": "holds",
                 "E6": "holds", "E7": "holds", "E8": "holds", "E10": "holds", "E9": "not run", "E14": "not run",
                 "B1": "not run"}
    for cid, verdict in corrected.items():
        assert rows[cid]["verdict_corrected"] == verdict, (cid, rows[cid])
    # no paper-mode checks stored: corrected rows say their printed form was not run; uncorrected ones agree
    assert rows["L3"]["verdict_printed"] == "not run" and rows["T1"]["verdict_printed"] == "holds"
    for cid in ("E1", "E4", "E7", "E8"):
        assert rows[cid]["n_seeds"] == 3 and "95 % CI" in rows[cid]["measured"], cid
    assert "min" in rows["E1"]["measured"] and "max" in rows["E1"]["measured"]
    assert "81.25" in rows["E7"]["published"] or "81.25" in rows["E7"]["published"] + ledger.CLAIMS[20].published
    assert "Phi(beta/|gamma|)" in rows["E7"]["measured"]
    assert "54.95" in rows["E9"]["published"] and "86.4" in rows["E9"]["published"]
    assert "feasible on" in rows["T4"]["measured"]


def test_l3_and_t3_printed_fails_corrected_holds_from_real_checks(tmp_path, capsys):
    for flags, name in (([], "fixed.nc"), (["--paper-mode"], "printed.nc")):
        assert cli.main(["check", "lemma3", "theorem3", *flags, "--out", str(tmp_path / name)]) == 0
    capsys.readouterr()
    rows = _rows([tmp_path])
    for cid in ("L3", "T3"):
        assert (rows[cid].verdict_printed, rows[cid].verdict_corrected) == ("fails", "holds"), rows[cid]
        assert rows[cid].formula_printed != rows[cid].formula_corrected
    assert "printed" in rows["L3"].formula_printed and "corrected" in rows["L3"].formula_corrected


def test_single_seed_never_holds_or_fails_but_three_do(tmp_path):
    one, three = tmp_path / "one", tmp_path / "three"
    for d, seeds in ((one, (0,)), (three, SEEDS)):
        _train_runs(d, seeds)
        _write(d / "thm5.nc", _thm5(seeds=len(seeds)), "thm5")
        _write(d / "protocol.nc", _protocol(seeds=len(seeds)), "thm5_protocol")
        for s in seeds:
            _write(d / f"bn_s{s}.nc", _bn_audit(), "bn_audit", seed=s, command=f"luckbench audit bn {s}")
    single, triple = _rows([one]), _rows([three])
    empirical = [c.id for c in ledger.CLAIMS if c.empirical]
    for cid in empirical:
        assert single[cid].verdict_corrected not in ("holds", "fails"), (cid, single[cid])
        assert single[cid].verdict_printed not in ("holds", "fails"), cid
    judged = {cid for cid in empirical if single[cid].verdict_corrected == "inconclusive"}
    assert judged >= {"E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E10"}
    for cid in judged:  # the same effects over three seeds are decided
        assert triple[cid].verdict_corrected in ("holds", "fails"), (cid, triple[cid])


def test_failures_over_seeds_are_detected(tmp_path):
    _write(tmp_path / "thm4.nc", _thm4(bound_factor=0.5), "thm4")
    _write(tmp_path / "thm5.nc", _thm5(r_final=2.0), "thm5")
    worse = {"base": ({}, (0.2, 0.7, 0.6)), "wide": ({"width_mult": 20}, (0.1, 0.6, 0.5))}
    for name, (change, final) in worse.items():
        for s in SEEDS:
            ds = _train(final=final, rank_epoch1=0.6, seed=s)
            _write(tmp_path / f"{name}_{s}.nc", ds, "train", config={**BASE, **change, "seed": s}, seed=s,
                   command=f"luckbench train {name} {s}")
    for s in SEEDS:
        _write(tmp_path / f"bn_{s}.nc", _bn_audit(fracs=(0.9, 0.8, 0.3, 0.2), p_pass=(0.3, 0.4, 0.7, 0.8)),
               "bn_audit", seed=s, command=f"audit {s}")
    _write(tmp_path / "protocol.nc", _protocol(gap_end=-0.1), "thm5_protocol")
    rows = _rows([tmp_path])
    assert "gap growth" in rows["E8"].measured
    for cid in ("T4", "E2", "E3", "E6", "E7", "E8"):
        assert rows[cid].verdict_corrected == "fails", (cid, rows[cid])
    assert rows["A1"].verdict_corrected == "not run"


@given(st.lists(st.floats(-3, 3, allow_nan=False), min_size=2, max_size=12))
def test_seed_statistic_matches_the_one_sample_t_test(values):
    s = stats.SeedStatistic.of(values)
    v = np.asarray(values)
    assert s.n == v.size and s.low == v.min() and s.high == v.max()
    assert s.mean == pytest.approx(v.mean(), abs=1e-12)
    from scipy.stats import ttest_1samp

    if v.size < 3:
        assert s.verdict() == "inconclusive"
        return
    if np.ptp(v) < 1e-9 * max(1.0, np.abs(v).max()):
        return  # the t statistic is undefined for constant samples
    p = ttest_1samp(v, 0.0).pvalue
    if abs(p - 0.05) < 1e-6:
        return
    expected = "inconclusive" if p > 0.05 else ("holds" if v.mean() > 0 else "fails")
    assert s.verdict() == expected


def test_sweep_folder_gives_one_figure_per_swept_parameter(tmp_path):
    sweep = tmp_path / "sweep"
    runs = {}
    for theta0 in (10, 20, 40):
        for teachers in (3, 5):
            for seed in (0, 1):
                name = f"h{theta0}_{teachers}_{seed}"
                ds = _thm4()
                ds["sin_theta_max"] = ds["sin_theta_max"] * theta0 / 40 * (1 + 0.1 * seed) / teachers
                _write(sweep / f"{name}.nc", ds, "thm4", config={"theta0": theta0, "teachers": teachers}, seed=seed,
                       command=f"luckbench sim thm4 --theta0 {theta0} --teachers {teachers} --seed {seed}")
                runs[name] = {"params": {"theta0": theta0, "teachers": teachers}, "seed": seed}
    (sweep / "sweep.json").write_text(json.dumps({"command": "sim thm4", "runs": runs}))
    _write(tmp_path / "alone.nc", _thm4(), "thm4", command="luckbench sim thm4 alone")
    out = tmp_path / "report"
    report.write_report([tmp_path], out)
    sweep_pngs = sorted(p.name for p in out.rglob("sweep_*.png"))
    assert sweep_pngs == ["sweep_sweep_teachers.png", "sweep_sweep_theta0.png"]
    thm4_pngs = [p for p in out.rglob("thm4_*.png")]
    assert len(thm4_pngs) == 1 and "alone" in thm4_pngs[0].name  # no per-run copies for the sweep's 12 runs
    md = (out / "index.md").read_text()
    assert "sweep sweep (12 runs)" in md


def test_unusable_files_are_named_and_skipped(tmp_path, capsys):
    good = _write(tmp_path / "good.nc", _thm4(), "thm4")
    ds = _thm4()
    ds.attrs["result_kind"] = "thm4"
    store.write_dataset(ds, tmp_path / "badconfig.nc", config={}, seed=0, command="x")
    raw = xr.open_dataset(tmp_path / "badconfig.nc").load()
    raw.attrs["config"] = "{not json"
    raw.to_netcdf(tmp_path / "badconfig2.nc")
    (tmp_path / "badconfig.nc").unlink()
    _write(tmp_path / "novars.nc", xr.Dataset({"x": ("t", np.arange(3.0))}), "train")
    nan = _train()
    nan["rho_bar"][:] = np.nan
    _write(tmp_path / "allnan.nc", nan, "train", command="luckbench train nan")
    (tmp_path / "copy.nc").write_bytes(good.read_bytes())
    (tmp_path / "corrupt.nc").write_bytes(b"CDF\x01 broken")
    code = cli.main(["report", str(tmp_path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err
    md = (tmp_path / "out" / "index.md").read_text()
    for name, reason in (("badconfig2.nc", "not JSON"), ("novars.nc", "rho_bar"), ("allnan.nc", "only NaN"),
                         ("corrupt.nc", "not a"), ("good.nc", "second copy")):
        assert name in err and name in md, name
        line = next(ln for ln in md.splitlines() if name in ln and "|" in ln and reason in ln)
        assert line
    rows = json.loads((tmp_path / "out" / "ledger.json").read_text())
    assert {r["id"]: r for r in rows}["T4"]["evidence"] == ["../copy.nc"]  # one copy of the run is used


def test_report_files_are_replaced_atomically(results_dir, tmp_path, monkeypatch):
    report.write_report([results_dir / "thm4.nc"], tmp_path)
    before = (tmp_path / "index.html").read_text()

    def broken(blocks, title):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report, "to_html", broken)
    with pytest.raises(RuntimeError):
        report.write_report([results_dir / "thm4.nc"], tmp_path)
    assert (tmp_path / "index.html").read_text() == before
    assert not list(tmp_path.glob("*.tmp"))


def test_an_earlier_report_is_replaced_only_with_overwrite(results_dir, tmp_path):
    """Our own index.md / index.html / ledger.json are recognised and replaced under --overwrite."""
    args = ["report", str(results_dir / "thm4.nc"), "--out", str(tmp_path)]
    assert cli.main(args) == 0
    (tmp_path / "ledger.json").write_text(json.dumps(json.loads((tmp_path / "ledger.json").read_text())[:1]))
    assert cli.main(args) == 2
    assert len(json.loads((tmp_path / "ledger.json").read_text())) == 1
    assert cli.main(args + ["--overwrite"]) == 0
    assert len(json.loads((tmp_path / "ledger.json").read_text())) > 1


def test_importing_reports_keeps_the_matplotlib_backend(tmp_path):
    code = f"""
import matplotlib, sys
matplotlib.use("svg")
from luckbench.reports import report, check_figures, sim_figures, train_figures, sweep_figures, bn_figures
report.write_report([{str(tmp_path / 'r.nc')!r}], {str(tmp_path / 'out')!r})
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert "matplotlib.pyplot" not in sys.modules
"""
    _write(tmp_path / "r.nc", _thm4(), "thm4")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert list((tmp_path / "out").rglob("thm4_*.png"))


def test_draw_functions_use_the_axes_they_are_given(tmp_path):
    from matplotlib.figure import Figure

    from luckbench.reports import check_figures, sim_figures, train_figures

    cases = [(sim_figures.draw_thm4, _thm4(), 1), (sim_figures.draw_thm5, _thm5(), 2),
             (sim_figures.draw_overparam, _overparam(), 2), (check_figures.draw_checks, _checks(), 1),
             (train_figures.draw_curves, _train(), 3)]
    for draw, ds, n in cases:
        axes = Figure().subplots(1, n)
        got = draw(ds, ax=axes)
        assert got is axes
        assert all(a.has_data() for a in np.ravel(axes)), draw.__name__
        own = draw(ds)  # without axes: a new figure
        assert np.ravel(own)[0].figure is not np.ravel(axes)[0].figure


def test_beyond_rows_use_the_beyond_judges(tmp_path, monkeypatch):
    import types

    rows = _rows([])
    for cid in ("B1", "B2", "B3"):
        assert rows[cid].verdict_corrected == "not run" and rows[cid].rule
    for s in SEEDS:
        _write(tmp_path / f"lottery_{s}.nc", _thm4(), "beyond-lottery", seed=s, command=f"beyond lottery {s}")
    seen = []

    def judge_lottery(datasets):
        seen.append(len(datasets))
        return {"verdict": "holds", "rule": "B1 rule from the beyond module.", "measured": "ticket", "n_seeds": 3}

    fake = types.ModuleType("luckbench.reports.beyond_rows")
    fake.judge_lottery = judge_lottery
    monkeypatch.setitem(sys.modules, "luckbench.reports.beyond_rows", fake)
    row = _rows([tmp_path])["B1"]
    assert seen == [3] and row.verdict_corrected == "holds" and row.rule == "B1 rule from the beyond module."
    fake.judge_lottery = lambda datasets: {"verdict": "holds", "rule": "r.", "measured": "", "n_seeds": 1}
    assert _rows([tmp_path])["B1"].verdict_corrected == "inconclusive"


def test_bn_row_prefers_real_networks(tmp_path):
    _write(tmp_path / "digits.nc", _bn_audit(), "bn_audit", command="audit digits")
    for s, model in enumerate(("resnet_a", "resnet_b", "resnet_c")):
        _write(tmp_path / f"{model}.nc", _bn_audit(fracs=(0.7, 0.8, 0.9, 0.95)), "bn_audit", seed=s, model=model,
               source_package="somepkg", command=f"audit {model}")
    row = _rows([tmp_path])["E7"]
    assert sorted(p.name for p in row.evidence) == ["resnet_a.nc", "resnet_b.nc", "resnet_c.nc"]
    assert row.verdict_corrected == "holds" and "real pretrained" in row.measured and row.n_seeds == 3


def test_superlinear_uses_only_resolved_values(tmp_path):
    t = np.linspace(0, 10, 41)
    linear = np.maximum(np.exp(-2.0 * t), 1e-8)  # a constant rate until it hits the resolution limit
    quad = np.exp(-0.5 * t ** 2)                 # an accelerating rate
    for name, s, attrs in (("floor.nc", linear, {}), ("resolved.nc", linear, {"resolution_limit": 1e-8}),
                           ("quad.nc", quad, {})):
        ds = xr.Dataset({"theta": (("time", "node"), np.arcsin(s)[:, None]), "sin_theta_max": ("time", s),
                         "sin_theta_bound": ("time", np.full(t.size, np.nan))},
                        coords={"time": t, "node": [0]})
        d = tmp_path / name[:-3]
        _write(d / name, ds, "thm4", **attrs)
    # marked as luckbench.sim.resolution does: the limit is an attribute of the variable
    _write(tmp_path / "marked" / "marked.nc", ds.assign(theta=(("time", "node"), np.arcsin(linear)[:, None],
                                                               {"resolution_limit": 1e-8})), "thm4")
    names = ("floor", "resolved", "marked", "quad")
    verdict = {n: _rows([tmp_path / n])["T4b"].verdict_corrected for n in names}
    # without a limit the floor looks like a stall (fails); with it only resolved values count
    assert verdict == {"floor": "fails", "resolved": "inconclusive", "marked": "inconclusive", "quad": "holds"}


def test_missing_input_is_a_one_line_error(tmp_path, capsys, results_dir):
    code = cli.main(["report", str(tmp_path / "nope.nc"), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "nope.nc" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "a_file").write_text("")
    code = cli.main(["report", str(results_dir / "thm4.nc"), "--out", str(tmp_path / "a_file")])
    err = capsys.readouterr().err
    assert code == 2 and "a_file" in err and len(err.strip().splitlines()) == 1


def test_feasibility_summary_counts_points():
    from luckbench.reports.summaries_checks import feasibility_summary

    ds, _ = _feasibility("thm4", "theta0", "m", [1, 5, 10, 20], [2, 3, 4])
    # gamma = 0.3 - 0.01 theta0 - 0.1 m > 0 at (theta0, m) = (1, 2) and (5, 2) only
    assert feasibility_summary(ds) == ("feasible on 2 of 12 grid points over (theta0, m); "
                                       "largest feasible m = 2 (at theta0 = 1)")


def test_a_second_report_replaces_the_first_ones_figures(results_dir, tmp_path):
    report.write_report([results_dir / "thm4.nc", results_dir / "checks.nc"], tmp_path)
    assert list((tmp_path / "figures" / "checks").glob("checks_*.png"))
    mine = tmp_path / "figures_of_mine"
    mine.mkdir()
    report.write_report([results_dir / "thm4.nc"], tmp_path)
    assert not (tmp_path / "figures" / "checks").exists() and mine.is_dir()


def test_bn_effect_judges_conv_runs_as_large_teachers(tmp_path):
    """Fig. 9a (v2): BN should help the CNN; TrainConfig stores the CNN as kind "conv"."""
    base = {"preset": "paper-cnn", "kind": "conv", "teacher": [1, 64, 64, 64, 64, 100]}
    for s in SEEDS:
        for bn, final in (("none", (0.5, 0.5, 0.5)), ("after", (0.8, 0.8, 0.8))):
            _write(tmp_path / f"{bn}_{s}.nc", _train(final=final, seed=s), "train",
                   config={**base, "bn": bn, "seed": s}, seed=s, command=f"train {bn} {s}")
    row = _rows([tmp_path])["E4"]
    assert "large teacher" in row.measured and row.verdict_corrected == "holds"
