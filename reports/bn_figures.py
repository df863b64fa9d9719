"""Figures of a BN-bias audit (``result_kind = "bn_audit"``), in the style of the paper's Fig. 6 / 16.

* ``bn_bias_hist_<arch>[_<sha8>].png``: one histogram of BN biases per BN layer (module order,
  lowest layer first), negative biases blue, positive orange (the paper's colours), exact zeros
  grey. Bins have an edge at 0, so no bin mixes signs.
* ``bn_negative_fraction_<arch>[_<sha8>].png``: per layer, the fraction of biases < 0 (and <= 0,
  the authors' convention, when zeros occur or published numbers exist), the published fraction
  beside ours where it exists; below, the mean Gaussian pass probability Phi(beta/|gamma|)
  (hatched where the BN output is added to a shortcut before the ReLU).

Everything is drawn from the stored dataset alone (variables of ``luckbench.empirical.bn_audit``).
"""
from __future__ import annotations

import math
from pathlib import Path

from luckbench.reports.plotting import save_figure, subplots
import numpy as np
import xarray as xr

KINDS = ("bn_audit",)
NEGATIVE, POSITIVE, ZERO = "tab:blue", "tab:orange", "0.5"
N_BINS = 30


def _stem(ds: xr.Dataset) -> str:
    sha = str(ds.attrs.get("weights_sha256", ""))[:8]
    return f"{ds.attrs.get('arch', 'model')}" + (f"_{sha}" if sha else "")


def sign_split_edges(values: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Equal-width histogram edges covering ``values`` with 0 as one of the edges."""
    lo, hi = float(min(values.min(), 0.0)), float(max(values.max(), 0.0))
    width = (hi - lo) / n_bins if hi > lo else 1e-3
    return np.arange(math.floor(lo / width), math.ceil(hi / width) + 2) * width


def plot_histograms(ds: xr.Dataset, out_dir: Path) -> Path:
    names = [str(n) for n in ds["layer"].values]
    ncols = 4 if len(names) <= 24 else 8
    nrows = math.ceil(len(names) / ncols)
    fig, axes = subplots(nrows, ncols, figsize=(2.6 * ncols, 2.0 * nrows), squeeze=False)
    for i, name in enumerate(names):
        ax = axes.flat[i]
        values = ds["bias"].values[i, : int(ds["n_channels"].values[i])].astype(np.float64)
        edges = sign_split_edges(values)
        for part, colour in ((values[values < 0], NEGATIVE), (values[values > 0], POSITIVE),
                             (values[values == 0], ZERO)):
            if part.size:
                ax.hist(part, bins=edges, color=colour)
        ax.axvline(0.0, color="k", lw=0.5)
        ax.set_title(f"BN{i} {name}: {int(ds['n_negative'].values[i])}/{values.size} < 0", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    fig.suptitle(f"BatchNorm bias per layer, {ds.attrs.get('arch', '')} "
                 f"(blue negative, orange positive; lowest layer first)", fontsize=9)
    return save_figure(fig, out_dir / f"bn_bias_hist_{_stem(ds)}.png")


def plot_fractions(ds: xr.Dataset, out_dir: Path) -> Path:
    names = [str(n) for n in ds["layer"].values]
    x = np.arange(len(names))
    series = [("ours: bias < 0", ds["frac_negative"].values, NEGATIVE)]
    published = "published_frac_nonpositive" in ds
    if published or int(ds["total_zero"]) > 0:
        series.append(("ours: bias <= 0", ds["frac_nonpositive"].values, "tab:cyan"))
    if published:
        series.append(("published: bias <= 0", ds["published_frac_nonpositive"].values, "k"))
    width = 0.8 / len(series)
    fig, (top, bottom) = subplots(2, 1, figsize=(max(6.0, 0.18 * len(names) + 3), 6.0), sharex=True)
    for k, (label, values, colour) in enumerate(series):
        top.bar(x + (k - (len(series) - 1) / 2) * width, values, width, label=label, color=colour)
    top.set_ylim(0, 1.3)
    top.set_ylabel("fraction of BN biases")
    top.legend(fontsize=7, loc="upper center", ncol=len(series))
    top.set_title(f"{ds.attrs.get('arch', '')}: negative BN biases per layer "
                  f"({float(ds['total_frac_negative']):.1%} of {int(ds['total_channels'])} channels < 0)", fontsize=9)
    residual = ds["feeds_relu"].values == 0
    bars = bottom.bar(x, ds["p_pass_mean"].values, 0.8, color="tab:green")
    for bar, is_residual in zip(bars, residual):
        if is_residual:
            bar.set_hatch("//")
            bar.set_facecolor("white")
            bar.set_edgecolor("tab:green")
    bottom.axhline(0.5, color="k", lw=0.5, ls="--")
    bottom.set_ylim(0, 1.0)
    bottom.set_ylabel("mean Phi(beta/|gamma|)")
    bottom.set_xticks(x, names, rotation=90, fontsize=6 if len(names) <= 40 else 4)
    return save_figure(fig, out_dir / f"bn_negative_fraction_{_stem(ds)}.png")


def plot(ds: xr.Dataset, out_dir: Path) -> list[Path]:
    """Write the per-layer bias histograms and the negative-fraction bar chart; return their paths."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return [plot_histograms(ds, Path(out_dir)), plot_fractions(ds, Path(out_dir))]
