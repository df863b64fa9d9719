"""luckbench report: synthetic results of every kind -> figures, ledger rows with verdicts, bad files skipped."""
import json
import re
import numpy as np
import pytest
import xarray as xr

from luckbench import cli, store
from luckbench.reports import ledger, report


def _write(path, ds, kind, config=None, seed=0, **attrs):
    ds.attrs.update({"result_kind": kind, **attrs})
    return store.write_dataset(ds, path, config=config or {}, seed=seed, command=f"luckbench synthetic {kind}")


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


def _thm5(r_final=0.05):
    seeds, times, nodes = 3, 5, 8
    v = np.ones((seeds, times, nodes))
    v[:, :, 4:] = np.linspace(0.5, r_final, times)[None, :, None]
    return xr.Dataset({"v_row_norm": (("seed", "time", "node"), v), "is_u": ("node", np.arange(nodes) < 4)},
                      coords={"seed": np.arange(seeds), "time": np.arange(times), "node": np.arange(nodes)})


def _protocol(gap_end=0.5):
    """The v4 Sec. 4.2 grid as luckbench.sim.protocol stores it: 1 width x 2 alpha pairs x 2 seeds."""
    multis, pairs, seeds, times, nodes = [2], [0, 1], 2, 4, 8
    is_u = np.arange(nodes) < 4
    base = np.where(is_u, 1.0, 0.5)[None, None, None, :].repeat(times, axis=2).repeat(2, axis=1)
    decay = np.linspace(1, 0.2, times)[None, None, :, None]
    mean = np.where(is_u, base, base * decay)
    vu = np.ones((1, 2, seeds, times))
    vr = 0.5 * np.linspace(1, 0.2, times)[None, None, None, :].repeat(seeds, axis=2).repeat(2, axis=1)
    gap = (vu - vr).mean(axis=2)
    gap[..., -1] = gap_end
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


def _train(final=(0.9, 0.7, 0.6), rank_epoch1=0.1, epochs=4):
    layers = len(final)
    start = np.full(layers, 0.3)
    rho = start[None] + (np.asarray(final) - start)[None] * np.linspace(0, 1, epochs + 1)[:, None]
    rank = np.full((epochs + 1, layers), rank_epoch1)
    rank[0] = 0.4
    return xr.Dataset({"rho_bar": (("epoch", "layer"), rho), "mean_rank": (("epoch", "layer"), rank),
                       "loss": ("epoch", np.linspace(1, 0.1, epochs + 1))},
                      coords={"epoch": np.arange(epochs + 1), "layer": np.arange(layers)})


def _bn_audit_of_small_vgg():
    """A real audit (H6's producer) of the small VGG-BN with BN biases set to N(0,1) - 0.3 * layer."""
    import torch

    from luckbench.empirical import bn_audit
    from luckbench.empirical.architectures import build

    model = build("vgg_digits_bn")
    gen = torch.Generator().manual_seed(0)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for i, bn in enumerate(bns):
            bn.bias.copy_(torch.randn(bn.num_features, generator=gen) - 0.3 * i)
    return bn_audit.audit(model, "vgg_digits_bn")


def _bn_audit(fracs=(0.4, 0.6, 0.9, 0.99)):
    n = np.array([64, 64, 128, 128])
    neg = np.round(np.asarray(fracs) * n).astype(int)
    return xr.Dataset({"n_channels": ("layer", n), "n_negative": ("layer", neg), "n_zero": ("layer", 0 * n),
                       "n_positive": ("layer", n - neg), "frac_negative": ("layer", neg / n)},
                      coords={"layer": [f"features.{i}" for i in (1, 4, 8, 11)]})


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("results")
    _write(d / "checks.nc", _checks(), "checks")
    for theorem, a, b, da, db in (("thm4", "theta0", "m", [1, 5, 10, 20], [2, 3, 4]),
                                  ("thm5", "eps", "n", [1e-4, 1e-3, 1e-2], [8, 12, 16])):
        ds, th = _feasibility(theorem, a, b, da, db)
        _write(d / f"feasibility_{th}.nc", ds, "feasibility", map=th)
    _write(d / "thm4.nc", _thm4(), "thm4")
    _write(d / "thm5.nc", _thm5(), "thm5")
    _write(d / "thm5_protocol.nc", _protocol(), "thm5_protocol")
    _write(d / "overparam.nc", _overparam(), "overparam")
    base = {"preset": "paper-small-fc", "teacher": [20, 10, 15, 20, 25, 100], "bn": "none", "finite": 0,
            "width_mult": 10, "epochs": 4}
    _write(d / "train" / "base.nc", _train(), "train", config=base)
    _write(d / "train" / "bn.nc", _train(final=(0.8, 0.6, 0.5)), "train", config={**base, "bn": "after"})
    _write(d / "train" / "finite.nc", _train(final=(0.5, 0.45, 0.4)), "train", config={**base, "finite": 1000})
    _write(d / "train" / "wide.nc", _train(final=(0.95, 0.8, 0.7)), "train", config={**base, "width_mult": 20})
    _write(d / "bn_audit.nc", _bn_audit_of_small_vgg(), "bn_audit")
    (d / "corrupt.nc").write_bytes(b"CDF\x01 this is not really netCDF")
    xr.Dataset({"x": ("t", np.arange(3.0))}).to_netcdf(d / "foreign.nc")
    return d


@pytest.fixture(scope="module")
def built(results_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    index = report.write_report([results_dir], out)
    return out, index


def _ledger_row(md: str, cid: str) -> list[str]:
    line = next(ln for ln in md.splitlines() if ln.startswith(f"| {cid} |"))
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]


def test_report_writes_markdown_html_and_figures(built):
    out, index = built
    assert index == out / "index.html"
    md, page = (out / "index.md").read_text(), index.read_text()
    pngs = sorted(out.rglob("*.png"))
    assert {p.name for p in pngs} >= {"checks.png", "feasibility_thm4.png", "feasibility_thm5.png"}
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        rel = png.relative_to(out).as_posix()
        assert f"]({rel})" in md and f'src="{rel}"' in page
    # self-contained: inline style, no script, no external resource
    assert "<style>" in page and "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<link" not in page


def test_every_registered_kind_gets_figures(built, results_dir):
    out, _ = built
    modules, problems = report.figure_modules()
    assert not problems
    for name in ("checks", "feasibility_thm4", "feasibility_thm5", "thm4", "thm5", "thm5_protocol", "overparam",
                 "bn_audit"):
        kind = "feasibility" if name.startswith("feasibility") else name
        if kind in modules:
            assert list((out / "figures" / name).glob("*.png")), f"no figure for {name}"


def test_ledger_rows_and_verdicts(built):
    out, _ = built
    md = (out / "index.md").read_text()
    expected = {"A1": "holds", "L1": "fails", "L2": "preconditions unmet", "T1": "holds",
                "T4": "holds", "T5": "holds", "E1": "holds", "E2": "holds", "E3": "holds",
                "E5": "holds", "E6": "holds", "E7": "holds", "E8": "holds", "E9": "not run"}
    for cid, verdict in expected.items():
        row = _ledger_row(md, cid)
        assert row[6] == verdict, (cid, row)
    # BN: the small-teacher preset gets worse with BN, as the paper says for small teachers
    assert _ledger_row(md, "E4")[6] == "holds"
    # published numbers beside ours
    e7 = _ledger_row(md, "E7")
    assert "81.25" in e7[5] and "92.9" in e7[5] and "vgg_digits_bn" in e7[4]
    assert "54.95" in _ledger_row(md, "E9")[5] and "86.4" in _ledger_row(md, "E9")[5]
    # links to the stored results
    assert "](bn_audit.nc)" not in md and "../" in _ledger_row(md, "E7")[7]
    assert "feasible on" in _ledger_row(md, "T4")[3]


def test_ledger_failures_are_detected(tmp_path):
    _write(tmp_path / "thm4.nc", _thm4(bound_factor=0.5), "thm4")
    _write(tmp_path / "thm5.nc", _thm5(r_final=2.0), "thm5")
    _write(tmp_path / "train.nc", _train(final=(0.2, 0.7, 0.6), rank_epoch1=0.6), "train")
    _write(tmp_path / "bn.nc", _bn_audit(fracs=(0.9, 0.8, 0.3, 0.2)), "bn_audit")
    _write(tmp_path / "protocol.nc", _protocol(gap_end=-0.1), "thm5_protocol")
    _write(tmp_path / "overparam.nc", _overparam(finals=(0.9, 0.8, 0.95)), "overparam")
    results, _ = report.collect([tmp_path])
    rows = {r.claim_id: r for r in ledger.build(results)}
    assert "gap -0.1" in rows["E8"].measured
    for cid in ("T4", "E1", "E2", "E3", "E6", "E7", "E8"):
        assert rows[cid].verdict == "fails", (cid, rows[cid])
    assert rows["A1"].verdict == "not run"


def test_overparam_dip_within_seed_noise_is_not_a_failure(tmp_path):
    ds = _overparam(finals=(0.9, 0.99, 0.985))
    ds["rho_bar"] = ds["rho_bar"] * (1 + 0.05 * np.array([-1.0, 0.0, 1.0]))[None, :, None]  # spread over seeds
    _write(tmp_path / "overparam.nc", ds, "overparam")
    rows = {r.claim_id: r for r in ledger.build(report.collect([tmp_path])[0])}
    assert rows["E6"].verdict == "holds", rows["E6"]
    assert "over 3 seed" in rows["E6"].measured


def test_thm4_envelope_nan_means_preconditions_unmet(tmp_path):
    ds = _thm4()
    ds["sin_theta_bound"][:] = np.nan
    _write(tmp_path / "thm4.nc", ds, "thm4")
    rows = {r.claim_id: r for r in ledger.build(report.collect([tmp_path])[0])}
    assert rows["T4"].verdict == "preconditions unmet"


def test_corrupt_and_foreign_files_are_named_and_skipped(built, results_dir, tmp_path, capsys):
    out, _ = built
    md = (out / "index.md").read_text()
    assert "corrupt.nc" in md and "foreign.nc" in md and "Skipped inputs" in md
    code = cli.main(["report", str(results_dir / "corrupt.nc"), str(results_dir / "foreign.nc"),
                     str(results_dir / "thm4.nc"), "--out", str(tmp_path / "cli")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "skipped" in captured.err and "corrupt.nc" in captured.err and "foreign.nc" in captured.err
    assert "Traceback" not in captured.err
    assert captured.out.strip() == str(tmp_path / "cli" / "index.html")
    assert "thm4.nc" in (tmp_path / "cli" / "index.md").read_text()


def test_missing_input_is_a_one_line_error(tmp_path, capsys, results_dir):
    code = cli.main(["report", str(tmp_path / "nope.nc"), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "nope.nc" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "a_file").write_text("")
    code = cli.main(["report", str(results_dir / "thm4.nc"), "--out", str(tmp_path / "a_file")])
    err = capsys.readouterr().err
    assert code == 2 and "a_file" in err and len(err.strip().splitlines()) == 1


def test_bn_numbers_beside_the_published_ones():
    ds = _bn_audit(fracs=(0.4, 0.6, 0.9, 0.99))
    ds.attrs["arch"] = "vgg19_bn"
    measured, verdict, published = ledger.bn_summary(ds)
    assert verdict == "holds"
    # (0.4*64 + 0.6*64 + 0.9*128 + 0.99*128) / 384 rounded per layer: (26+38+115+127)/384 = 79.7 %
    assert measured.startswith("vgg19_bn: 79.7 % of 384 BN biases <= 0")
    assert published.startswith("vgg19_bn (torchvision ImageNet weights): 81.25, 54.69")


def test_feasibility_summary_counts_points():
    ds, _ = _feasibility("thm4", "theta0", "m", [1, 5, 10, 20], [2, 3, 4])
    # gamma = 0.3 - 0.01 theta0 - 0.1 m > 0 at (theta0, m) = (1, 2) and (5, 2) only
    assert ledger.feasibility_summary(ds) == ("feasible on 2 of 12 grid points over (theta0, m); "
                                              "largest feasible m = 2 (at theta0 = 1)")


def test_many_runs_are_counted_not_listed():
    from pathlib import Path

    results = []
    for i in range(8):
        ds = _train(final=(0.9, 0.7, 0.6) if i else (0.2, 0.7, 0.6))
        ds.attrs["result_kind"] = "train"
        results.append(ledger.Result(Path(f"run{i}.nc"), ds))
    row = next(r for r in ledger.build(results) if r.claim_id == "E1")
    assert row.verdict == "fails" and row.measured.startswith("holds in 7 of 8 runs.")
    assert "... and 3 more" in row.measured and "run7.nc" not in row.measured


def test_a_second_report_replaces_the_first_ones_figures(results_dir, tmp_path):
    report.write_report([results_dir / "thm4.nc", results_dir / "checks.nc"], tmp_path)
    assert (tmp_path / "figures" / "checks" / "checks.png").is_file()
    mine = tmp_path / "figures_of_mine"
    mine.mkdir()
    report.write_report([results_dir / "thm4.nc"], tmp_path)
    assert not (tmp_path / "figures" / "checks").exists() and mine.is_dir()


def test_bn_effect_judges_conv_runs_as_large_teachers(tmp_path):
    """Fig. 9a: BN should help the CNN; TrainConfig stores the CNN as kind "conv"."""
    base = {"preset": "paper-cnn", "kind": "conv", "teacher": [1, 64, 64, 64, 64, 100], "seed": 0}
    _write(tmp_path / "none.nc", _train(final=(0.5, 0.5, 0.5)), "train", config={**base, "bn": "none"})
    _write(tmp_path / "after.nc", _train(final=(0.8, 0.8, 0.8)), "train", config={**base, "bn": "after"})
    text, verdict, _ = ledger.bn_effect(report.collect([tmp_path])[0])
    assert "paper: helps" in text and verdict == "holds"
