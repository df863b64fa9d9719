"""Figures of the sim results (``luckbench sim``), keyed by ``ds.attrs["result_kind"]``.

* ``thm4``: sin theta_j(t) per student (log scale) with S(t) = max_j sin theta_j and the theorem's
  envelope (continuous and, when present, discrete);
* ``thm5``: the paper's Fig. 7 style - row norm ||v_j|| against student index j at several times,
  mean +- std over seeds (u-set left of the dashed line) - and the u/r mean row norms over time;
* ``thm5_protocol``: the same row-norm profiles for every (node_multi, alpha_W, alpha_V) of the
  v4 Sec. 4.2 grid at iterations 0, 2000, 4000, 6000, 8000, 19900 (nearest snapshots), and the u/r gap;
* ``overparam``: rho-bar and loss over training, mean +- std over seeds, one curve per width.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from luckbench.reports.plotting import plt, save_figure
import numpy as np
import xarray as xr

from luckbench.errors import InputError

KINDS = ("thm4", "thm5", "thm5_protocol", "overparam")
PAPER_ITERATIONS = (0, 2000, 4000, 6000, 8000, 19900)


def _tag(ds: xr.Dataset) -> str:
    """Short stable name part from the stored configuration (distinct runs, distinct files)."""
    return hashlib.sha256(str(ds.attrs.get("config", "")).encode()).hexdigest()[:8]


def _band(ax, x, mean, std, label, color=None):
    line = ax.plot(x, mean, label=label, color=color, lw=1.2)[0]
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0)


def plot_thm4(ds: xr.Dataset, out_dir: Path) -> list[Path]:
    fig, ax = plt.subplots(figsize=(6, 4))
    t = ds["time"].values
    floor = 1e-17
    for j in ds["node"].values:
        ax.semilogy(t, np.maximum(np.sin(ds["theta"].sel(node=j).values), floor), color="0.6", lw=0.7)
    ax.semilogy(t, np.maximum(ds["sin_theta_max"].values, floor), color="C0", lw=2, label="max_j sin theta_j (flow)")
    if np.isfinite(ds["sin_theta_bound"].values).any():
        ax.semilogy(t, ds["sin_theta_bound"].values, "k--", label="Thm 4 envelope")
    else:
        ax.text(0.02, 0.03, "Thm 4 preconditions fail: no envelope", transform=ax.transAxes, fontsize=8)
    if "theta_discrete" in ds:
        ax.semilogy(t, np.maximum(np.sin(ds["theta_discrete"]).max("node").values, floor), color="C1",
                    label="max_j sin theta_j (discrete)")
        if np.isfinite(ds["sin_theta_bound_discrete"].values).any():
            ax.semilogy(t, ds["sin_theta_bound_discrete"].values, "k:", label="discrete rate")
    ax.set_xlabel("t = eta x iterations")
    ax.set_ylabel("sin theta_j")
    ax.set_title(f"Theorem 4: m = {ds.sizes['node']}, gamma = {float(ds.attrs.get('cond_gamma', np.nan)):.3g}")
    ax.legend(fontsize=8)
    return [save_figure(fig, out_dir / f"thm4_{_tag(ds)}.png")]


def _nearest(values: np.ndarray, targets) -> list[int]:
    idx = [int(np.argmin(np.abs(values - t))) for t in targets]
    return sorted(set(idx))


def _profile(ax, mean: np.ndarray, std: np.ndarray, labels, u_nodes: int):
    """Row norm vs student index, one band per snapshot (Fig. 7 of v4)."""
    nodes = np.arange(mean.shape[1])
    keep = np.isfinite(mean[0])
    for k, label in enumerate(labels):
        _band(ax, nodes[keep], mean[k][keep], std[k][keep], label, color=plt.cm.viridis(k / max(len(labels) - 1, 1)))
    ax.axvline(u_nodes - 0.5, color="k", ls="--", lw=0.8)
    ax.set_xlabel("student index j")
    ax.set_ylabel("||v_j||")


def plot_thm5(ds: xr.Dataset, out_dir: Path) -> list[Path]:
    norms = ds["v_row_norm"]
    picks = _nearest(ds["time"].values, np.linspace(0, float(ds["time"][-1]), 6))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    labels = [f"t = {float(ds['time'][i]):g}" for i in picks]
    _profile(ax1, norms.isel(time=picks).mean("seed").values, norms.isel(time=picks).std("seed").values, labels,
             int(ds["is_u"].sum()))
    ax1.set_title(f"Theorem 5 ({ds.attrs.get('mode', '')}): row norms of V")
    ax1.legend(fontsize=7)
    t = ds["time"].values
    for name, mask in (("u-set", ds["is_u"]), ("r-set", ~ds["is_u"])):
        if bool(mask.any()):
            per_seed = norms.where(mask).mean("node")
            _band(ax2, t, per_seed.mean("seed").values, per_seed.std("seed").values, f"mean ||v_j||, {name}")
    ax2.set_yscale("log")
    ax2.set_xlabel("t")
    ax2.legend(fontsize=8)
    return [save_figure(fig, out_dir / f"thm5_{_tag(ds)}.png")]


def plot_thm5_protocol(ds: xr.Dataset, out_dir: Path) -> list[Path]:
    multis, pairs = ds["node_multi"].values, ds["pair"].values
    picks = _nearest(ds["iteration"].values, PAPER_ITERATIONS)
    fig, axes = plt.subplots(len(multis), len(pairs), figsize=(3.2 * len(pairs), 2.6 * len(multis)),
                             squeeze=False, sharey=True)
    u_nodes = int(ds["is_u"].sum())
    for a, k in enumerate(multis):
        for b, p in enumerate(pairs):
            labels = [f"iter {int(ds['iteration'][i])}" for i in picks]
            _profile(axes[a, b], ds["v_row_norm_mean"].isel(time=picks).sel(node_multi=k, pair=p).values,
                     ds["v_row_norm_std"].isel(time=picks).sel(node_multi=k, pair=p).values, labels, u_nodes)
            axes[a, b].set_title(f"x{int(k)}, alpha_W={float(ds['alpha_w'][b]):g}, alpha_V={float(ds['alpha_v'][b]):g}",
                                 fontsize=8)
    axes[0, 0].legend(fontsize=6)
    paths = [save_figure(fig, out_dir / f"thm5_protocol_rows_{_tag(ds)}.png")]
    fig, axes = plt.subplots(1, len(multis), figsize=(4 * len(multis), 3.2), squeeze=False, sharey=True)
    for a, k in enumerate(multis):
        for b, p in enumerate(pairs):
            axes[0, a].plot(ds["iteration"].values, ds["row_norm_gap"].sel(node_multi=k, pair=p).values,
                            label=f"alpha_W={float(ds['alpha_w'][b]):g}, alpha_V={float(ds['alpha_v'][b]):g}")
        axes[0, a].set_title(f"node_multi = {int(k)}")
        axes[0, a].set_xlabel("iteration")
    axes[0, 0].set_ylabel("mean ||v_u|| - mean ||v_r||")
    axes[0, 0].legend(fontsize=7)
    paths.append(save_figure(fig, out_dir / f"thm5_protocol_gap_{_tag(ds)}.png"))
    return paths


def plot_overparam(ds: xr.Dataset, out_dir: Path) -> list[Path]:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    it = ds["iteration"].values
    for k in ds["node_multi"].values:
        for ax, name in ((ax1, "rho_bar"), (ax2, "loss")):
            v = ds[name].sel(node_multi=k)
            _band(ax, it, v.mean("seed").values, v.std("seed").values, f"x{int(k)}")
    ax1.set_ylabel("rho-bar")
    ax2.set_ylabel("population loss")
    ax2.set_yscale("log")
    for ax in (ax1, ax2):
        ax.set_xlabel("iteration")
        ax.legend(fontsize=8)
    ax1.set_title("Over-parameterisation: random students")
    return [save_figure(fig, out_dir / f"overparam_{_tag(ds)}.png")]


_PLOTTERS = {"thm4": plot_thm4, "thm5": plot_thm5, "thm5_protocol": plot_thm5_protocol, "overparam": plot_overparam}


def plot(ds: xr.Dataset, out_dir: Path) -> list[Path]:
    """PNG figures for a sim result (dispatch on ``result_kind``); returns the files written."""
    kind = ds.attrs.get("result_kind")
    if kind not in _PLOTTERS:
        raise InputError(f"sim_figures: result_kind {kind!r} is not one of {KINDS}")
    return _PLOTTERS[kind](ds, Path(out_dir))
