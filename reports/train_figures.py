"""Figures of a teacher-student run (``result_kind = "train"``), in the style of Fig. 7-10.

* ``train_rho_rank_<preset>_s<seed>.png``: side by side, rho-bar and mean rank r-bar per hidden
  layer over epochs (epoch 0 = initialisation), the validation loss and, for classifiers, the
  student's and teacher's accuracy.
* ``train_beta_h_<preset>_s<seed>.png``: aligned beta* and H* per layer at the first and last
  snapshot (rows = each teacher's final winner, so an identity-like matrix means the winners are
  driven by their own teacher's top-down signal, Fig. 10). Each matrix is divided by its largest
  absolute entry so the colour scale is shared.

Drawn from the stored dataset alone (variables documented in ``luckbench.empirical.train_result``).
"""
from __future__ import annotations

from pathlib import Path

from luckbench.reports.plotting import plt, save_figure
import numpy as np
import xarray as xr

KINDS = ("train",)


def _stem(ds: xr.Dataset) -> str:
    return f"{ds.attrs.get('preset', 'run')}_s{int(ds.attrs.get('seed', 0))}"


def plot_curves(ds: xr.Dataset, out_dir: Path) -> Path:
    """rho-bar and r-bar per layer over epochs; loss (and accuracies) below."""
    has_acc = bool(np.isfinite(ds["student_acc"].values).any())
    fig, axes = plt.subplots(1, 3 + has_acc, figsize=(4.2 * (3 + has_acc), 3.4))
    epochs = ds["epoch"].values
    for l in ds["layer"].values:
        axes[0].plot(epochs, ds["rho_bar"].sel(layer=l).values, marker=".", label=f"layer {l}")
        axes[1].plot(epochs, ds["mean_rank"].sel(layer=l).values, marker=".", label=f"layer {l}")
    axes[0].set(title="normalised correlation rho-bar", xlabel="epoch", ylim=(0, 1.02))
    axes[1].set(title="mean rank r-bar of final winners", xlabel="epoch", ylim=(-0.02, 1.0))
    axes[0].legend(fontsize=8)
    axes[2].semilogy(epochs, ds["loss"].values, marker=".")
    axes[2].set(title="validation loss", xlabel="epoch")
    if has_acc:
        axes[3].plot(epochs, ds["student_acc"].values, marker=".", label="student")
        axes[3].plot(epochs, ds["teacher_acc"].values, ls="--", label="teacher")
        axes[3].set(title="test accuracy", xlabel="epoch")
        axes[3].legend(fontsize=8)
    return save_figure(fig, out_dir / f"train_rho_rank_{_stem(ds)}.png")


def plot_beta_h(ds: xr.Dataset, out_dir: Path) -> Path:
    """Aligned beta* and H* heat maps: rows = layers, columns = (beta*, H*) x (first, last)."""
    snaps = ds["snapshot"].values
    picks = [snaps[0], snaps[-1]] if len(snaps) > 1 else [snaps[0]]
    layers = ds["layer"].values
    ncols = 2 * len(picks)
    fig, axes = plt.subplots(len(layers), ncols, figsize=(2.6 * ncols, 2.5 * len(layers)), squeeze=False)
    for i, l in enumerate(layers):
        m = int(ds["n_teacher"].sel(layer=l))
        for j, (name, snap) in enumerate((n, s) for n in ("beta_star", "h_star") for s in picks):
            mat = ds[name].sel(snapshot=snap, layer=l).values[:m, :m]
            scale = np.nanmax(np.abs(mat)) or 1.0
            ax = axes[i, j]
            ax.imshow(mat / scale, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            label = "beta*" if name == "beta_star" else "H*"
            ax.set_title(f"L{l} {label} ep {int(snap)}", fontsize=8)
    return save_figure(fig, out_dir / f"train_beta_h_{_stem(ds)}.png")


def plot(ds: xr.Dataset, out_dir: Path) -> list[Path]:
    """Every figure of a ``train`` result; returns the PNG paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [plot_curves(ds, out_dir)]
    if "beta_star" in ds:
        paths.append(plot_beta_h(ds, out_dir))
    return paths
