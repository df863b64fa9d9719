"""Figures of the ``luckbench beyond`` experiments: lines are means over seeds, bands (or error bars)
the min-max range over seeds.

* ``draw_lottery``: per hidden layer, the fraction of the ticket's nodes that were lucky / are final
  winners, beside the chance value of a random ticket;
* ``draw_hessian``: the Hessian spectrum |lambda| / max |lambda| by rank, with the flat tolerance;
* ``draw_prune``: validation loss after removing a fraction of every layer's nodes, per criterion,
  with the fraction that leaves one node per teacher.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

KINDS = ("beyond-lottery", "beyond-hessian", "beyond-prune")


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.subplots(figsize=(5.2, 3.6))[1]
    return ax


def _band(ax, x, values: np.ndarray, label: str, **style) -> None:
    """Mean over axis 0 as a line, min-max as a shaded band."""
    line = ax.plot(x, values.mean(0), label=label, **style)[0]
    ax.fill_between(x, values.min(0), values.max(0), color=line.get_color(), alpha=0.2, linewidth=0)


def draw_lottery(ds: xr.Dataset, ax=None):
    ax = _axes(ax)
    layers = ds["layer"].values
    for i, (name, label) in enumerate((("overlap_ticket_lucky", "ticket in lucky set"),
                                       ("overlap_ticket_winners", "ticket in final winners"))):
        vals = ds[name].values
        x = layers + (i - 0.5) * 0.25
        mean = vals.mean(0)
        ax.errorbar(x, mean, yerr=[mean - vals.min(0), vals.max(0) - mean], fmt="o", capsize=3, label=label)
        chance = ds[name.replace("overlap", "chance")].values.mean(0)
        ax.scatter(x, chance, marker="_", s=200, color="k", label="chance (random ticket)" if i == 0 else None)
    ax.set(xlabel="hidden layer", ylabel="fraction of the ticket's nodes (1)", ylim=(0, 1.05), xticks=layers,
           title=f"lottery ticket vs lucky nodes ({ds.sizes['seed']} seeds)")
    ax.legend(fontsize=8)
    return ax


def draw_hessian(ds: xr.Dataset, ax=None):
    ax = _axes(ax)
    spec = np.clip(ds["spectrum"].values, 1e-300, None)
    _band(ax, ds["rank"].values, spec, label="|lambda| / max |lambda|")
    tol = float(ds.attrs.get("flat_tol", np.nan))
    ax.axhline(tol, color="k", ls=":", label=f"flat tolerance {tol:g}")
    p = int(ds["n_params"].values[0])
    ax.axvline(p - float(ds["n_flat_predicted"].mean()), color="C3", ls="--",
               label="flat directions predicted (dead r-node fan-ins)")
    ax.set(yscale="log", xlabel="eigenvalue rank (0 = largest) (1)", ylabel="|lambda| / max |lambda| (1)",
           title=f"Hessian spectrum, {ds.attrs.get('setting', '')} ({ds.sizes['seed']} seeds)")
    ax.legend(fontsize=8)
    return ax


def draw_prune(ds: xr.Dataset, ax=None):
    ax = _axes(ax)
    x = ds["fraction"].values
    for crit in ds["criterion"].values:
        _band(ax, x, ds["loss_after"].sel(criterion=crit).values, label=f"by {crit}", marker=".")
    ax.axvline(float(ds["winner_fraction"].min()), color="k", ls=":", label="one node per teacher left")
    ax.set(yscale="log", xlabel="fraction of hidden nodes removed (1)", ylabel="validation MSE (1)",
           title=f"pruning without retraining ({ds.sizes['seed']} seeds)")
    ax.legend(fontsize=8)
    return ax


DRAW = {"beyond-lottery": draw_lottery, "beyond-hessian": draw_hessian, "beyond-prune": draw_prune}


def plot(ds: xr.Dataset, out_dir: Path) -> list[Path]:
    """The figure of one ``beyond-*`` result; returns the PNG path written."""
    from luckbench.reports.plotting import save_figure, subplots

    kind = ds.attrs["result_kind"]
    fig, ax = subplots(figsize=(5.6, 3.8))
    DRAW[kind](ds, ax)
    stem = f"{kind.replace('-', '_')}_s{int(ds.attrs.get('seed', 0))}"
    return [save_figure(fig, Path(out_dir) / f"{stem}.png")]
