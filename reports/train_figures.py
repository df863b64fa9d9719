"""Figures of teacher-student runs (``result_kind = "train"``), in the style of Fig. 7-10 (v2 numbering).

The report groups runs that differ only in their seed (:func:`plot_group`); a single run is a
group of one (:func:`plot`). Titles and file names carry the command without ``--seed`` and the
seeds drawn.

* ``train_rho_rank_<run>_s<seeds>.png`` (:func:`draw_curves`): rho-bar and mean rank r-bar per
  hidden layer over epochs (epoch 0 = initialisation), the validation loss and, for classifiers,
  the student's and the teacher's accuracy; mean with the min-max range over seeds.
* ``train_beta_h_<run>_s<seed>.png`` (:func:`draw_beta_h`): aligned beta* and H* per layer at the first
  and last snapshot of the first seed (rows = each teacher's final winner, so an identity-like
  matrix means the winners follow their own teacher's top-down signal, Fig. 10 v2 / 11 v4). Each
  matrix is divided by its largest absolute entry; one shared colour bar.

Drawn from the stored datasets alone (variables documented in ``luckbench.empirical.train_result``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from luckbench.reports.plotting import file_stem, figure_of, mean_band, run_label, save_figure, style, subplots

KINDS = ("train",)


def _seeds(datasets: list[xr.Dataset]) -> str:
    return ",".join(str(ds.attrs.get("seed", "?")) for ds in datasets)


def _stack(datasets: list[xr.Dataset], name: str, *index) -> np.ndarray:
    """(seed, epoch) values of ``name`` (selected by ``index``), NaN-padded to the longest run."""
    rows = [np.asarray(ds[name].sel(*index).values if index else ds[name].values, dtype=float) for ds in datasets]
    out = np.full((len(rows), max(len(r) for r in rows)), np.nan)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


def draw_curves(datasets, ax=None):
    """rho-bar, r-bar per layer, loss (and accuracies) over epochs; mean and min-max over the runs given."""
    datasets = [datasets] if isinstance(datasets, xr.Dataset) else list(datasets)
    first = max(datasets, key=lambda d: d.sizes["epoch"])
    has_acc = bool(any(np.isfinite(d["student_acc"].values).any() for d in datasets if "student_acc" in d))
    axes = ax if ax is not None else subplots(1, 3 + has_acc, figsize=(4.4 * (3 + has_acc), 3.9))[1]
    epochs = first["epoch"].values
    for layer in first["layer"].values:
        for a, name in ((axes[0], "rho_bar"), (axes[1], "mean_rank")):
            mean_band(a, epochs, _stack(datasets, name, {"layer": layer}), label=f"layer {layer}")
    axes[0].set(title="normalised correlation rho-bar", xlabel="epoch", ylabel="rho-bar (1)", ylim=(0, 1.02))
    axes[1].set(title="mean rank r-bar of final winners", xlabel="epoch", ylabel="r-bar (1; 0 = first)",
                ylim=(-0.02, 1.0))
    axes[0].legend(fontsize=7)
    mean_band(axes[2], epochs, _stack(datasets, "loss"))
    axes[2].set_yscale("log")
    axes[2].set(title="validation loss", xlabel="epoch", ylabel=str(first["loss"].attrs.get("long_name", "loss")))
    if has_acc:
        mean_band(axes[3], epochs, 100 * _stack(datasets, "student_acc"), label="student")
        mean_band(axes[3], epochs, 100 * _stack(datasets, "teacher_acc"), label="teacher")
        axes[3].set(title="test accuracy", xlabel="epoch", ylabel="accuracy (%)")
        axes[3].legend(fontsize=7)
    figure_of(axes).suptitle(f"{run_label(first, drop=('--seed',))}; seeds {_seeds(datasets)} "
                             f"(mean, min-max shaded)", fontsize=9)
    return axes


def draw_beta_h(ds: xr.Dataset, ax=None):
    """Aligned beta* and H* heat maps: rows = layers, columns = (beta*, H*) x (first, last snapshot)."""
    snaps = ds["snapshot"].values
    picks = [snaps[0], snaps[-1]] if len(snaps) > 1 else [snaps[0]]
    layers = ds["layer"].values
    ncols = 2 * len(picks)
    axes = ax if ax is not None else subplots(len(layers), ncols, figsize=(2.7 * ncols + 1, 2.6 * len(layers)),
                                              squeeze=False)[1]
    image = None
    for i, layer in enumerate(layers):
        m = int(ds["n_teacher"].sel(layer=layer))
        for j, (name, snap) in enumerate((n, s) for n in ("beta_star", "h_star") for s in picks):
            mat = ds[name].sel(snapshot=snap, layer=layer).values[:m, :m]
            scale = np.nanmax(np.abs(mat)) or 1.0
            a = axes[i, j]
            image = a.imshow(mat / scale, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
            a.set_xticks([])
            a.set_yticks([])
            a.set_title(f"L{layer} {'beta*' if name == 'beta_star' else 'H*'} epoch {int(snap)}", fontsize=8)
        axes[i, 0].set_ylabel("teacher node")
    for a in axes[-1]:
        a.set_xlabel("aligned student")
    fig = figure_of(axes)
    fig.colorbar(image, ax=list(np.ravel(axes)), shrink=0.8, label="entry / largest |entry| (1)")
    fig.suptitle(f"{run_label(ds)}: teacher-aligned beta*, H*", fontsize=9)
    return axes


def plot_group(datasets: list[xr.Dataset], out_dir: Path) -> list[Path]:
    """The figures of runs that differ only in their seed; returns the PNG paths written."""
    out_dir = Path(out_dir)
    first = datasets[0]
    seeds = "_s" + "-".join(str(ds.attrs.get("seed", "x")) for ds in datasets)
    with style():
        paths = [save_figure(figure_of(draw_curves(datasets)),
                             out_dir / f"{file_stem(first, 'train_rho_rank', ('--seed',), seeds)}.png")]
        if "beta_star" in first:
            one = f"_s{first.attrs.get('seed', 'x')}"
            paths.append(save_figure(figure_of(draw_beta_h(first)),
                                     out_dir / f"{file_stem(first, 'train_beta_h', ('--seed',), one)}.png"))
    return paths


def plot(ds: xr.Dataset, out_dir: Path) -> list[Path]:
    """Every figure of one ``train`` result; returns the PNG paths written."""
    return plot_group([ds], out_dir)
