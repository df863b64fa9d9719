"""Figures of the sim results (``luckbench sim``), keyed by ``ds.attrs["result_kind"]``.

Each figure has a ``draw_*(ds, ax=None)`` that returns its axes (an array for multi-panel figures);
titles and file names carry the run's command (:func:`luckbench.reports.plotting.run_label`).

* ``thm4`` (:func:`draw_thm4`): sin theta_j(t) per student (log scale) with S(t) = max_j sin theta_j
  and the theorem's envelope (continuous and, when present, discrete); theta0 in degrees;
* ``thm5`` (:func:`draw_thm5`): the paper's Fig. 7 style - row norm ||v_j|| against student index j
  at several times, mean with the min-max range over seeds (u-set left of the dashed line) - and
  the u/r mean row norms over time;
* ``thm5_protocol`` (:func:`draw_protocol_rows`, :func:`draw_protocol_gap`): the same row-norm
  profiles for every (node_multi, alpha_W, alpha_V) of the v4 Sec. 4.2 grid at iterations 0, 2000,
  4000, 6000, 8000, 19900 (nearest snapshots; mean +- std over seeds, the stored summary), and the
  u/r gap with its min-max over seeds;
* ``overparam`` (:func:`draw_overparam`): rho-bar and loss over training, mean with min-max over
  seeds, one curve per width.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import xarray as xr

from luckbench.errors import InputError
from luckbench.reports.plotting import file_stem, figure_of, mean_band, run_label, save_figure, style, subplots

KINDS = ("thm4", "thm5", "thm5_protocol", "overparam")
PAPER_ITERATIONS = (0, 2000, 4000, 6000, 8000, 19900)
FLOOR = 1e-17  # log-scale floor for angles that reached round-off


def _axes(ax, n=1, **kw):
    if ax is not None:
        return ax
    return subplots(1, n, **kw)[1]


def draw_thm4(ds: xr.Dataset, ax=None):
    ax = _axes(ax, figsize=(6.5, 4.5))
    t = ds["time"].values
    for j in ds["node"].values:
        ax.semilogy(t, np.maximum(np.sin(ds["theta"].sel(node=j).values), FLOOR), color="0.6", lw=0.7)
    ax.semilogy(t, np.maximum(ds["sin_theta_max"].values, FLOOR), color="C0", lw=2, label="max_j sin theta_j (flow)")
    limit = ds["theta"].attrs.get("resolution_limit", ds.attrs.get("resolution_limit"))
    if limit is not None:
        ax.axhline(float(limit), color="0.4", ls=":", lw=0.8, label="resolution limit")
    if np.isfinite(ds["sin_theta_bound"].values).any():
        ax.semilogy(t, ds["sin_theta_bound"].values, "k--", label="Thm 4 envelope")
    else:
        ax.text(0.02, 0.03, "Thm 4 preconditions fail: no envelope", transform=ax.transAxes)
    if "theta_discrete" in ds:
        ax.semilogy(t, np.maximum(np.sin(ds["theta_discrete"]).max("node").values, FLOOR), color="C1",
                    label="max_j sin theta_j (discrete)")
        if np.isfinite(ds["sin_theta_bound_discrete"].values).any():
            ax.semilogy(t, ds["sin_theta_bound_discrete"].values, "k:", label="discrete rate")
    ax.set_xlabel("t = eta x iterations (1)")
    ax.set_ylabel("sin theta_j (1)")
    theta0 = ds.attrs.get("cond_theta0")
    head = f"m = {ds.sizes['node']}" + (f", theta0 = {np.degrees(float(theta0)):.3g} deg" if theta0 is not None else "")
    ax.set_title(f"Theorem 4: {head}, gamma = {float(ds.attrs.get('cond_gamma', np.nan)):.3g}\n{run_label(ds)}",
                 fontsize=9)
    ax.legend()
    return ax


def _nearest(values: np.ndarray, targets) -> list[int]:
    return sorted({int(np.argmin(np.abs(values - t))) for t in targets})


def _profile(ax, mean: np.ndarray, spread: tuple[np.ndarray, np.ndarray], labels, u_nodes: int):
    """Row norm vs student index, one band per snapshot (Fig. 7 of v4)."""
    nodes = np.arange(mean.shape[1])
    keep = np.isfinite(mean[0])
    cmap = matplotlib.colormaps["viridis"]
    for k, label in enumerate(labels):
        colour = cmap(k / max(len(labels) - 1, 1))
        ax.plot(nodes[keep], mean[k][keep], label=label, color=colour, lw=1.2)
        ax.fill_between(nodes[keep], spread[0][k][keep], spread[1][k][keep], color=colour, alpha=0.2, lw=0)
    ax.axvline(u_nodes - 0.5, color="k", ls="--", lw=0.8)
    ax.set_xlabel("student index j (u-set left of the dashed line)")
    ax.set_ylabel("||v_j|| (1)")


def draw_thm5(ds: xr.Dataset, ax=None):
    axes = _axes(ax, 2, figsize=(12, 4.5))
    ax1, ax2 = axes
    norms = ds["v_row_norm"].transpose("seed", "time", "node")
    picks = _nearest(ds["time"].values, np.linspace(0, float(ds["time"][-1]), 6))
    snap = norms.isel(time=picks)
    _profile(ax1, snap.mean("seed").values, (snap.min("seed").values, snap.max("seed").values),
             [f"t = {float(ds['time'][i]):g}" for i in picks], int(ds["is_u"].sum()))
    ax1.set_title(f"Theorem 5 ({ds.attrs.get('mode', '')}): row norms of V, mean and min-max over "
                  f"{ds.sizes['seed']} seeds", fontsize=9)
    ax1.legend()
    t = ds["time"].values
    for name, mask in (("u-set", ds["is_u"]), ("r-set", ~ds["is_u"])):
        if bool(mask.any()):
            mean_band(ax2, t, norms.where(mask).mean("node").values, label=f"mean ||v_j||, {name}")
    ax2.set_yscale("log")
    ax2.set_xlabel("t = eta x iterations (1)")
    ax2.set_ylabel("mean ||v_j|| (1)")
    ax2.set_title(run_label(ds), fontsize=8)
    ax2.legend()
    return axes


def draw_protocol_rows(ds: xr.Dataset, ax=None):
    multis, pairs = ds["node_multi"].values, ds["pair"].values
    axes = ax if ax is not None else subplots(len(multis), len(pairs), figsize=(3.4 * len(pairs), 2.8 * len(multis)),
                                              squeeze=False, sharey=True)[1]
    picks = _nearest(ds["iteration"].values, PAPER_ITERATIONS)
    u_nodes = int(ds["is_u"].sum())
    for a, k in enumerate(multis):
        for b, p in enumerate(pairs):
            mean = ds["v_row_norm_mean"].isel(time=picks).sel(node_multi=k, pair=p).values
            std = ds["v_row_norm_std"].isel(time=picks).sel(node_multi=k, pair=p).values
            _profile(axes[a, b], mean, (mean - std, mean + std), [f"iter {int(ds['iteration'][i])}" for i in picks],
                     u_nodes)
            axes[a, b].set_title(f"x{int(k)}, alpha_W = {float(ds['alpha_w'][b]):g}, "
                                 f"alpha_V = {float(ds['alpha_v'][b]):g}", fontsize=9)
    axes[0, 0].legend(fontsize=7)
    figure_of(axes).suptitle(f"v4 Sec. 4.2 grid: ||v_j||, mean +- std over {ds.sizes.get('seed', '?')} seeds; "
                             f"{run_label(ds)}", fontsize=9)
    return axes


def draw_protocol_gap(ds: xr.Dataset, ax=None):
    multis = ds["node_multi"].values
    axes = ax if ax is not None else subplots(1, len(multis), figsize=(4.5 * len(multis), 3.8), squeeze=False,
                                              sharey=True)[1]
    axes = np.atleast_2d(axes)
    gap = (ds["vu_norm"] - ds["vr_norm"]).transpose("node_multi", "pair", "seed", "time")
    for a, k in enumerate(multis):
        for b, p in enumerate(ds["pair"].values):
            mean_band(axes[0, a], ds["iteration"].values, gap.sel(node_multi=k, pair=p).values,
                      label=f"alpha_W = {float(ds['alpha_w'][b]):g}, alpha_V = {float(ds['alpha_v'][b]):g}")
        axes[0, a].set_title(f"node_multi = {int(k)}")
        axes[0, a].set_xlabel("iteration")
    axes[0, 0].set_ylabel("mean ||v_u|| - mean ||v_r|| (1)")
    axes[0, 0].legend(fontsize=7)
    figure_of(axes).suptitle(f"u/r gap, mean and min-max over seeds; {run_label(ds)}", fontsize=9)
    return axes


def draw_overparam(ds: xr.Dataset, ax=None):
    axes = _axes(ax, 2, figsize=(11, 4.2))
    ax1, ax2 = axes
    it = ds["iteration"].values
    for k in ds["node_multi"].values:
        for a, name in ((ax1, "rho_bar"), (ax2, "loss")):
            mean_band(a, it, ds[name].sel(node_multi=k).transpose("seed", ...).values, label=f"x{int(k)}")
    ax1.set_ylabel("rho-bar (1)")
    ax2.set_ylabel("population loss (1)")
    ax2.set_yscale("log")
    for a in (ax1, ax2):
        a.set_xlabel("iteration")
        a.legend(fontsize=7)
    ax1.set_title(f"Over-parameterisation, random students: {run_label(ds)}", fontsize=9)
    return axes


_DRAW = {"thm4": (("thm4", draw_thm4),), "thm5": (("thm5", draw_thm5),),
         "thm5_protocol": (("thm5_protocol_rows", draw_protocol_rows), ("thm5_protocol_gap", draw_protocol_gap)),
         "overparam": (("overparam", draw_overparam),)}


def plot(ds: xr.Dataset, out_dir: Path) -> list[Path]:
    """PNG figures for a sim result (dispatch on ``result_kind``); returns the files written."""
    kind = ds.attrs.get("result_kind")
    if kind not in _DRAW:
        raise InputError(f"sim_figures: result_kind {kind!r} is not one of {KINDS}")
    with style():
        return [save_figure(figure_of(draw(ds)), Path(out_dir) / f"{file_stem(ds, name)}.png")
                for name, draw in _DRAW[kind]]
