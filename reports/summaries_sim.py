"""Rows from the simulations of ``luckbench sim``: Theorem 4 (``thm4``), Theorem 5 (``thm5``), the v4
Sec. 4.2 grid (``thm5_protocol``) and the over-parameterisation sweep (``overparam``).

Trajectories may carry a resolution limit (attribute ``resolution_limit`` of the variable, as
``luckbench.sim.resolution`` stores it, or of the dataset: values below it are solver noise, not
dynamics); rates use only the resolved values, and with no such attribute :data:`DEFAULT_FLOOR`.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from luckbench.reports import stats
from luckbench.reports.judgement import (FAILS, HOLDS, INCONCLUSIVE, NOT_RUN, UNMET, Judgement, combine, conjunction, fmt,
                                         join, var)
from luckbench.reports.summaries_checks import feasibility_texts, holds_word, judge_check

DEFAULT_FLOOR = 1e-12
ACCELERATION = 1.1  # T4b: the late contraction rate must exceed the early one by this factor (or fall below 1/it)
DRIFT_NEAR = 0.5    # T5b: "W_r stays near its initial value": ||w_j^T - w_j^0|| below this for unit rows


def floor(ds: xr.Dataset, name: str) -> float:
    """The resolution limit of ``ds[name]`` (its attribute, else the dataset's, else DEFAULT_FLOOR)."""
    own = ds[name].attrs.get("resolution_limit") if name in ds.variables else None
    return float(own if own is not None else ds.attrs.get("resolution_limit", DEFAULT_FLOOR))


# --- Theorem 4 ---------------------------------------------------------------------------------

def _max_sin(ds: xr.Dataset) -> np.ndarray | None:
    theta = var(ds, "theta")
    if theta is None:
        return None
    return np.sin(theta.transpose("time", ...).values.reshape(theta.sizes["time"], -1)).max(axis=1)


def thm4_envelope(ds: xr.Dataset) -> tuple[str, str]:
    """(text, verdict): S(t) = max_j sin theta_j(t) against the stored envelope at every resolved time."""
    s = _max_sin(ds)
    if s is None:
        return "no theta(time, node) stored", NOT_RUN
    theta0 = ds.attrs.get("cond_theta0")
    head = f"m = {ds.sizes.get('node', '?')}" + (f", theta0 = {fmt(np.degrees(float(theta0)))} deg"
                                                  if theta0 is not None else "")
    text = f"{head}: max sin theta {fmt(s[0])} at t = 0 -> {fmt(s[-1])} at t = {fmt(ds['time'].values[-1])}"
    bound = var(ds, "sin_theta_bound")
    if bound is None or not np.isfinite(bound.values).any():
        return text + "; envelope undefined (preconditions unmet)", UNMET
    b = bound.values
    ok = np.isfinite(b) & (s > floor(ds, "theta"))
    excess = float(np.max(s[ok] - b[ok])) if ok.any() else 0.0
    verdict = holds_word(ds.attrs["envelope_holds"]) if "envelope_holds" in ds.attrs else (
        HOLDS if excess <= 1e-7 * max(1.0, float(np.nanmax(b))) else FAILS)
    return text + f"; max(S - envelope) over resolved times = {fmt(excess)}", verdict


def _theorem_row(by_kind: dict, check: str, rule: str, sim_kind: str, simulated) -> Judgement:
    """A theorem's row: the stored check (printed and corrected), then every simulation of ``sim_kind``
    (``simulated(ds) -> (text, verdict)`` or None when it stores too little) and the feasibility map."""
    j = judge_check(by_kind, check, rule)
    feas, paths = feasibility_texts(by_kind, sim_kind)
    texts, verdicts = [], []
    for res in by_kind.get(sim_kind, []):
        out = simulated(res.ds)
        if out is None:
            continue
        texts.append(f"sim {res.path.name}: {out[0]} [{out[1]}]")
        verdicts.append(out[1])
        j.evidence.append(res.path)
    if j.verdict_corrected == NOT_RUN and not texts:
        return j
    j.verdict_corrected = combine([j.verdict_corrected, *verdicts])
    j.measured = join([j.measured, *texts, *feas])
    j.theory = "; ".join([j.theory, *feas]) if j.theory else "; ".join(feas)
    j.evidence += paths
    return j


def judge_thm4(by_kind: dict) -> Judgement:
    rule = ("Thm 4: holds where the check's preconditions (gamma > 0, d_bar > 0) hold and every simulated "
            "max_j sin theta_j(t) above the resolution limit stays below sin theta0 (1 - eta d_bar gamma)^t "
            "(printed form: the plus-sign d_bar and exponent t - 1); preconditions unmet where gamma <= 0.")
    return _theorem_row(by_kind, "theorem4", rule, "thm4", thm4_envelope)


def contraction_rates(ds: xr.Dataset) -> tuple[float, float] | None:
    """(early, late): -d ln S / dt fitted over the first and the last third of the resolved trajectory."""
    s = _max_sin(ds)
    if s is None:
        return None
    t = ds["time"].values.astype(float)
    keep = np.isfinite(s) & (s > floor(ds, "theta"))
    t, s = t[keep], np.log(s[keep])
    if t.size < 6:
        return None
    third = t.size // 3
    early, late = (-np.polyfit(t[sl], s[sl], 1)[0] for sl in (slice(0, third + 1), slice(-third - 1, None)))
    return float(early), float(late)


def judge_superlinear(by_kind: dict) -> Judgement:
    rule = (f"T4b (Thm 4 remark, 'faster convergence near w*'): per Thm 4 simulation, the contraction rate "
            f"-d ln(max_j sin theta_j)/dt fitted over the last third of the resolved trajectory (values above "
            f"the resolution limit) must exceed the rate over the first third by a factor {ACCELERATION} "
            f"(holds), fall below it by that factor (fails), else inconclusive; any fail fails.")
    texts, verdicts, paths = [], [], []
    for res in by_kind.get("thm4", []):
        rates = contraction_rates(res.ds)
        if rates is None:
            continue
        early, late = rates
        ratio = late / early if early > 0 else np.inf
        verdict = HOLDS if ratio >= ACCELERATION else FAILS if ratio <= 1 / ACCELERATION else INCONCLUSIVE
        texts.append(f"{res.path.name}: rate {fmt(early)} early -> {fmt(late)} late (x{fmt(ratio)}) [{verdict}]")
        verdicts.append(verdict)
        paths.append(res.path)
    if not verdicts:
        return Judgement(NOT_RUN, rule, measured="needs a `luckbench sim thm4` trajectory with >= 6 resolved times")
    return Judgement(combine(verdicts), rule, measured=join(texts), evidence=paths)


# --- Theorem 5 ---------------------------------------------------------------------------------

def _u_r(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray] | None:
    """Per seed and time, the mean ||v_j|| over the u-set and over the r-set: two (seed, time) arrays."""
    v, is_u = var(ds, "v_row_norm"), var(ds, "is_u")
    if v is None or is_u is None:
        return None
    u = np.asarray(is_u.values).astype(bool)
    if u.all() or not u.any():
        return None
    arr = v.transpose(..., "time", "node").values.astype(float)
    arr = arr.reshape(-1, arr.shape[-2], arr.shape[-1])
    return np.nanmean(arr[:, :, u], axis=2), np.nanmean(arr[:, :, ~u], axis=2)


def _feasible_at_start(ds: xr.Dataset) -> np.ndarray | None:
    feas = var(ds, "feasible")
    if feas is None or "time" not in feas.dims:
        return None
    return np.asarray(feas.isel(time=0).values, dtype=float).reshape(-1) == 1


def thm5_conclusion(ds: xr.Dataset) -> tuple[str, str] | None:
    """Thm 5's conclusion where it applies: V_r ends below its start in every seed that began inside
    the hypotheses (stored ``feasible(seed, time)``); preconditions unmet when no seed did."""
    ur, start = _u_r(ds), _feasible_at_start(ds)
    if ur is None:
        return None
    met = 0 if start is None else int(start.sum())
    verdict = UNMET if not met else HOLDS if (ur[1][start, -1] < ur[1][start, 0]).all() else FAILS
    return f"hypotheses hold at t = 0 in {met} of {ur[0].shape[0]} seeds", verdict


def judge_thm5(by_kind: dict) -> Judgement:
    rule = ("Thm 5 (a theorem): holds where the check finds its hypotheses satisfiable (0 < gamma <= min(R41, "
            "R42), lambda_bar > 0) and simulations started inside them end with V_r smaller than at t = 0; "
            "preconditions unmet where no seed starts inside them.")
    return _theorem_row(by_kind, "theorem5", rule, "thm5", thm5_conclusion)


def _r_drift(ds: xr.Dataset) -> np.ndarray | None:
    drift = var(ds, "w_drift_r")
    if drift is None:
        return None
    arr = drift.transpose(..., "time", "node").values.astype(float)
    arr = arr.reshape(-1, arr.shape[-2], arr.shape[-1])[:, -1, :]
    return np.nanmax(arr, axis=1)  # per seed, the r-node that moved most


def _decay_rate(vr: np.ndarray, t: np.ndarray, lim: float) -> float:
    keep = np.isfinite(vr) & (vr > lim)
    return float(-np.polyfit(t[keep], np.log(vr[keep]), 1)[0]) if keep.sum() >= 3 else np.nan


def judge_thm5_rate(by_kind: dict) -> Judgement:
    rule = stats.rule(f"T5b: {DRIFT_NEAR} minus the largest final drift ||w_j^T - w_j^0|| over the r-set (unit "
                      f"rows); where Thm 5's hypotheses hold at t = 0, also the fitted decay rate of mean ||v_r|| "
                      f"(resolved values) minus the theorem's rate lambda_bar gamma",
                      "Thm 5 simulations (`luckbench sim thm5`)")
    texts, verdicts, ns, paths = [], [], [], []
    for res in by_kind.get("thm5", []):
        drift = _r_drift(res.ds)
        if drift is None:
            continue
        verdict, text, n = stats.judge(DRIFT_NEAR - drift, "r-set drift margin")
        parts, vs = [text], [verdict]
        start, ur = _feasible_at_start(res.ds), _u_r(res.ds)
        if start is not None and ur is not None and start.any() and "lambda_bar" in res.ds and "gamma" in res.ds:
            t = res.ds["time"].values.astype(float)
            predicted = (res.ds["lambda_bar"].isel(time=0) * res.ds["gamma"].isel(time=0)).values.reshape(-1)
            lim = floor(res.ds, "v_row_norm")
            margin = [_decay_rate(ur[1][i], t, lim) - predicted[i] for i in np.nonzero(start)[0]]
            v2, t2, _ = stats.judge(margin, "decay rate minus lambda_bar gamma")
            parts.append(t2)
            vs.append(v2)
        else:
            parts.append("rate: hypotheses unmet at t = 0, the theorem gives no rate")
        texts.append(f"{res.path.name}: " + "; ".join(parts) + f" [{conjunction(vs)}]")
        verdicts.append(conjunction(vs))
        ns.append(n)
        paths.append(res.path)
    if not verdicts:
        return Judgement(NOT_RUN, rule, measured="needs a Thm 5 simulation storing w_drift_r")
    return Judgement(combine(verdicts), rule, measured=join(texts), n_seeds=min(ns), evidence=paths)


def _protocol_u_r(ds: xr.Dataset):
    """Per (node_multi, pair): (alpha_W, alpha_V, vu(seed, time), vr(seed, time)) of a thm5_protocol result."""
    vu, vr = var(ds, "vu_norm"), var(ds, "vr_norm")
    if vu is None or vr is None:
        return []
    out = []
    for k in ds["node_multi"].values:
        for p in range(ds.sizes["pair"]):
            sel = {"node_multi": k, "pair": ds["pair"].values[p]}
            out.append((int(k), float(ds["alpha_w"].values[p]), float(ds["alpha_v"].values[p]),
                        vu.sel(sel).transpose("seed", "time").values, vr.sel(sel).transpose("seed", "time").values))
    return out


def judge_gap_growth(by_kind: dict) -> Judgement:
    rule = stats.rule("E8: the growth of the u/r row-norm gap from t = 0, (mean ||v_u|| - mean ||v_r||)(end) "
                      "minus the same at t = 0 (not the gap itself, which the initialisation creates)",
                      "Thm 5 simulations and, in the v4 grid, the runs at the largest alpha_W")
    texts, verdicts, ns, paths = [], [], [], []

    def add(label, vu, vr, path):
        gap = vu - vr
        verdict, text, n = stats.judge(gap[:, -1] - gap[:, 0], "gap growth")
        texts.append(f"{label}: {text} [{verdict}]")
        verdicts.append(verdict)
        ns.append(n)
        paths.append(path)

    for res in by_kind.get("thm5", []):
        ur = _u_r(res.ds)
        if ur is not None:
            add(res.path.name, *ur, res.path)
    for res in by_kind.get("thm5_protocol", []):
        runs = _protocol_u_r(res.ds)
        top = max((aw for _, aw, *_ in runs), default=None)
        for k, aw, av, vu, vr in runs:
            if aw == top:
                add(f"{res.path.name} x{k} (alpha_W, alpha_V) = ({fmt(aw)}, {fmt(av)})", vu, vr, res.path)
    if not verdicts:
        return Judgement(NOT_RUN, rule, measured="needs `luckbench sim thm5` or `sim protocol42` results")
    return Judgement(combine(verdicts), rule, measured=join(texts), n_seeds=min(ns), evidence=list(dict.fromkeys(paths)))


def judge_alpha(by_kind: dict) -> Judgement:
    rule = stats.rule("E10 (v4 Sec. 4.2; holds only if every comparison holds): per width, (a) the gap growth at the largest alpha_W minus that at the "
                      "smallest alpha_W, same alpha_V and seed (alpha_W makes the gap expand), and (b) the initial gap "
                      "at the largest alpha_V minus that at the smallest, same alpha_W (alpha_V makes it start larger)",
                      "the protocol42 grid (`luckbench sim protocol42`)")
    texts, verdicts, ns, paths = [], [], [], []
    for res in by_kind.get("thm5_protocol", []):
        runs = _protocol_u_r(res.ds)
        for k in sorted({r[0] for r in runs}):
            mine = [r for r in runs if r[0] == k]
            gap = {(aw, av): vu - vr for _, aw, av, vu, vr in mine}
            comparisons = []
            for av in {av for _, av in gap}:
                aws = sorted(aw for aw, v in gap if v == av)
                if len(aws) >= 2:
                    hi, lo = gap[(aws[-1], av)], gap[(aws[0], av)]
                    comparisons.append((f"alpha_W {fmt(aws[-1])} vs {fmt(aws[0])} at alpha_V {fmt(av)}: growth",
                                        (hi[:, -1] - hi[:, 0]) - (lo[:, -1] - lo[:, 0])))
            for aw in {aw for aw, _ in gap}:
                avs = sorted(av for w, av in gap if w == aw)
                if len(avs) >= 2:
                    comparisons.append((f"alpha_V {fmt(avs[-1])} vs {fmt(avs[0])} at alpha_W {fmt(aw)}: initial gap",
                                        gap[(aw, avs[-1])][:, 0] - gap[(aw, avs[0])][:, 0]))
            for label, diffs in comparisons:
                verdict, text, n = stats.judge(diffs, label)
                texts.append(f"x{k} {text} [{verdict}]")
                verdicts.append(verdict)
                ns.append(n)
        paths.append(res.path)
    if not verdicts:
        return Judgement(NOT_RUN, rule, measured="needs a `luckbench sim protocol42` result with >= 2 alpha values")
    return Judgement(conjunction(verdicts), rule, measured=join(texts), n_seeds=min(ns), evidence=paths)


def overparam_luck(ds: xr.Dataset) -> str:
    """The luck signal of an ``overparam`` sweep: rho-bar of random students at t = 0 by width."""
    rho = var(ds, "rho_bar")
    if rho is None or "node_multi" not in rho.dims:
        return ""
    start = rho.isel({d: 0 for d in ("time", "iteration") if d in rho.dims})
    parts = []
    for k in ds["node_multi"].values:
        s = stats.SeedStatistic.of(start.sel(node_multi=k).values)
        parts.append(f"x{int(k)} {fmt(s.mean)} ({fmt(s.low)}-{fmt(s.high)})")
    return "rho-bar at initialisation (mean, min-max over seeds) by width: " + ", ".join(parts)
