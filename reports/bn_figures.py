"""Figures of a BN-bias audit (``result_kind = "bn_audit"``), in the style of the paper's Fig. 6 / 16.

* ``bn_bias_hist_<label>[_<sha8>].png``: one histogram of BN biases per BN layer (file order,
  lowest layer first), negative biases blue, positive orange (the paper's colours), exact zeros
  grey. Bins have an edge at 0, so no bin mixes signs.
* ``bn_negative_fraction_<label>[_<sha8>].png``: top, :func:`draw_fractions`: per layer, the
  fraction of biases <= 0 (the authors' convention) against relative depth within its ``group``
  (:func:`group_depth`), one line per group (CRAFT: backbone, head), over the published vgg19_bn
  ImageNet numbers (grey) so a real network can be set beside the paper's evidence; bottom,
  :func:`draw_pass_probability`: the mean Gaussian pass probability Phi(beta/|gamma|), filled where
  a ReLU consumes the BN output directly, hollow where it does not (residual add, hard-swish) or is
  unknown.

Everything is drawn from the stored dataset alone (variables of ``luckbench.empirical.bn_audit``;
files written before ``depth`` / ``group`` existed are drawn too). The ``draw_*(ds, ax=None)``
functions return their axes and can be used in any figure; importing this module neither
imports pyplot nor selects a matplotlib backend (``plot`` draws on Agg figures of ``reports.plotting``;
``draw_*`` without ``ax`` opens a pyplot figure, as notebooks expect).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import xarray as xr

from luckbench.empirical.bn_audit import PUBLISHED_PCT_NONPOSITIVE

KINDS = ("bn_audit",)
NEGATIVE, POSITIVE, ZERO = "tab:blue", "tab:orange", "0.5"
N_BINS = 30
REFERENCE_ARCH = "vgg19_bn"  # the paper's evidence, overlaid on every fraction plot


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6.0, 3.2))
    return ax


def _label(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("label") or ds.attrs.get("model") or ds.attrs.get("arch") or "model")


def _stem(ds: xr.Dataset) -> str:
    sha = str(ds.attrs.get("sha256", ""))[:8]
    return _label(ds) + (f"_{sha}" if sha else "")


def _depth(ds: xr.Dataset) -> np.ndarray:
    n = ds.sizes["layer"]
    return ds["depth"].values if "depth" in ds.coords else (np.arange(n) + 0.5) / n


def _groups(ds: xr.Dataset) -> np.ndarray:
    return ds["group"].values.astype(str) if "group" in ds.coords else np.full(ds.sizes["layer"], "")


def group_depth(ds: xr.Dataset) -> np.ndarray:
    """Relative depth (i + 0.5) / n of each layer within its ``group``, so a backbone lines up with a whole VGG.

    Only where each group is one contiguous run of layers (a backbone, then a head); groups that
    interleave (MobileNet roles: expand, depthwise, linear) keep the whole network's depth.
    """
    groups = _groups(ds)
    runs = 1 + int(np.sum(groups[1:] != groups[:-1]))
    if runs != len(set(groups)):
        return _depth(ds)
    out = np.empty(groups.size)
    for group in dict.fromkeys(groups):
        idx = np.flatnonzero(groups == group)
        out[idx] = (np.arange(idx.size) + 0.5) / idx.size
    return out


def sign_split_edges(values: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Equal-width histogram edges covering ``values`` with 0 as one of the edges."""
    lo, hi = float(min(values.min(), 0.0)), float(max(values.max(), 0.0))
    width = (hi - lo) / n_bins if hi > lo else 1e-3
    return np.arange(math.floor(lo / width), math.ceil(hi / width) + 2) * width


def draw_fractions(ds: xr.Dataset, ax=None):
    """Fraction of BN biases <= 0 per layer against relative depth, per group, over the published vgg19_bn."""
    ax = _axes(ax)
    depth, groups = group_depth(ds), _groups(ds)
    for group in dict.fromkeys(groups):
        sel = groups == group
        ax.plot(depth[sel], ds["frac_nonpositive"].values[sel], "o-", ms=4,
                label=f"{_label(ds)}{' ' + group if group else ''}: bias <= 0")
    published = np.asarray(PUBLISHED_PCT_NONPOSITIVE[REFERENCE_ARCH]) / 100
    ax.plot((np.arange(published.size) + 0.5) / published.size, published, "s--", color="0.45", ms=3,
            label=f"published {REFERENCE_ARCH} (ImageNet)")
    if "published_frac_nonpositive" in ds and ds.attrs.get("arch") != REFERENCE_ARCH:
        ax.plot(depth, ds["published_frac_nonpositive"].values, "x:", color="k",
                label=f"published {ds.attrs.get('arch')}")
    ax.axhline(0.5, color="k", lw=0.5, ls=":")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("relative depth of the BN layer (within its group where groups are consecutive parts)")
    ax.set_ylabel("fraction of BN biases <= 0")
    ax.set_title(f"{_label(ds)}: {float(ds['total_frac_nonpositive']):.1%} of {int(ds['total_channels'])} "
                 "BN biases <= 0", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return ax


def draw_pass_probability(ds: xr.Dataset, ax=None):
    """Mean Phi(beta/|gamma|) per layer against relative depth; hollow markers where no ReLU follows directly."""
    ax = _axes(ax)
    depth, groups = _depth(ds), _groups(ds)
    relu = ds["feeds_relu"].values == 1
    for k, group in enumerate(dict.fromkeys(groups)):
        colour = f"C{k}"
        sel = groups == group
        ax.plot(depth[sel], ds["p_pass_mean"].values[sel], "-", color=colour, lw=0.8)
        for mask, face in ((sel & relu, colour), (sel & ~relu, "white")):
            if mask.any():
                ax.plot(depth[mask], ds["p_pass_mean"].values[mask], "o", ms=5, mfc=face, mec=colour, ls="none")
    ax.axhline(0.5, color="k", lw=0.5, ls="--")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("relative depth of the BN layer (0 = input side)")
    ax.set_ylabel("mean Phi(beta/|gamma|)")
    ax.set_title("Gaussian pass probability per layer (filled: BN -> ReLU; hollow: other or unknown)", fontsize=8)
    return ax


def plot_histograms(ds: xr.Dataset, out_dir: Path) -> Path:
    from luckbench.reports.plotting import save_figure, subplots

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
    fig.suptitle(f"BatchNorm bias per layer, {_label(ds)} "
                 f"(blue negative, orange positive; lowest layer first)", fontsize=9)
    return save_figure(fig, out_dir / f"bn_bias_hist_{_stem(ds)}.png")


def plot_fractions(ds: xr.Dataset, out_dir: Path) -> Path:
    from luckbench.reports.plotting import save_figure, subplots

    fig, (top, bottom) = subplots(2, 1, figsize=(7.0, 6.4))
    draw_fractions(ds, top)
    draw_pass_probability(ds, bottom)
    return save_figure(fig, out_dir / f"bn_negative_fraction_{_stem(ds)}.png")


def plot(ds: xr.Dataset, out_dir: Path) -> list[Path]:
    """Write the per-layer bias histograms and the fraction / pass-probability figure; return their paths."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return [plot_histograms(ds, Path(out_dir)), plot_fractions(ds, Path(out_dir))]
