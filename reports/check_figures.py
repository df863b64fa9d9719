"""Figures for the theory layer: the checks (result_kind "checks") and the Thm 4 / Thm 5
feasibility maps (result_kind "feasibility", attribute ``theorem`` = "thm4" or "thm5").

* ``checks.png`` - one bar per check: log10(|value| / bound) (``tolerance`` for exact checks
  without a bound), so a bar left of 0 means the measured value is within its bound; colour = verdict.
* ``feasibility_<theorem>.png`` - the theorem's rate ``gamma`` over the two grid axes
  (e.g. (theta0, m) for Thm 4, (eps, n) for Thm 5), with the infeasible points hatched.
"""
from __future__ import annotations

from pathlib import Path

from luckbench.reports.plotting import plt, save_figure
import numpy as np
from matplotlib.patches import Rectangle
import xarray as xr

from luckbench.reports.ledger import FAILS, HOLDS, UNMET, check_rows, map_name

KINDS = ("checks", "feasibility")
COLOURS = {HOLDS: "#2a9d4b", FAILS: "#d1342f", UNMET: "#999999"}


def _margin(row: dict) -> float:
    """log10(|value| / bound) for bound checks, log10(|value| / tolerance) for exact ones; NaN if undefined."""
    try:
        value = abs(float(row["value"]))
    except (TypeError, ValueError):
        return float("nan")
    for ref in (row["bound"], row["tolerance"]):
        try:
            ref = abs(float(ref))
        except (TypeError, ValueError):
            continue
        if np.isfinite(ref) and ref > 0 and np.isfinite(value):
            return float(np.log10(max(value, 1e-300) / ref))
    return float("nan")


def plot_checks(ds: xr.Dataset, out_dir: Path) -> list[Path]:
    rows = check_rows(ds)
    if not rows:
        return []
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    y = np.arange(len(rows))
    margins = [_margin(r) for r in rows]
    shown = [0.0 if np.isnan(m) else m for m in margins]
    ax.barh(y, shown, color=[COLOURS.get(r["verdict"], "#999999") for r in rows])
    for yi, m, r in zip(y, margins, rows):
        label = r["verdict"] if np.isnan(m) else f"{r['verdict']} ({m:+.1f})"
        ax.text(0, yi, "  " + label, va="center", fontsize=7)
    ax.set_yticks(y, [r["name"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("log10(|value| / bound)   (<= 0: within the bound)")
    ax.set_title("luckbench check: measured value against the theory's bound")
    return [save_figure(fig, out_dir / "checks.png")]


SETTING_ATTRS = ("scheme", "bias", "dim", "form", "m", "theta0", "K_d", "K_l", "C0", "B_v", "B_dv", "eta")


def _short(value) -> str:
    try:
        return f"{float(value):.3g}"
    except (TypeError, ValueError):
        return str(value)


def plot_feasibility(ds: xr.Dataset, out_dir: Path) -> list[Path]:
    theorem = map_name(ds) or "map"
    gamma = ds["gamma"] if "gamma" in ds.variables else None
    if gamma is None or gamma.ndim != 2:
        return []
    ydim, xdim = gamma.dims
    values = np.asarray(gamma.values, dtype=float)
    feasible = (np.asarray(ds["feasible"].values).astype(bool) if "feasible" in ds.variables
                else np.isfinite(values) & (values > 0))
    fig, ax = plt.subplots(figsize=(6, 4.2))
    finite = np.where(np.isfinite(values), values, np.nan)
    mesh = ax.pcolormesh(np.arange(len(ds[xdim]) + 1), np.arange(len(ds[ydim]) + 1), finite, cmap="RdBu",
                         vmin=-1.0, vmax=1.0, shading="flat")  # gamma <= cos(theta0) <= 1; below -1 saturates
    for iy, ix in zip(*np.nonzero(~feasible)):
        ax.add_patch(Rectangle((ix, iy), 1, 1, fill=False, hatch="//", edgecolor="0.3", linewidth=0))
    ax.set_xticks(np.arange(len(ds[xdim])) + 0.5, [f"{v:g}" for v in ds[xdim].values], fontsize=7, rotation=45)
    ax.set_yticks(np.arange(len(ds[ydim])) + 0.5, [f"{v:g}" for v in ds[ydim].values], fontsize=7)
    ax.set_xlabel(xdim)
    ax.set_ylabel(ydim)
    fig.colorbar(mesh, ax=ax, extend="min", label="gamma (> 0: the theorem applies)")
    setting = ", ".join(f"{k} {_short(ds.attrs[k])}" for k in SETTING_ATTRS if k in ds.attrs)
    ax.set_title(f"{theorem}: feasibility of the rate gamma ({int(feasible.sum())}/{feasible.size} feasible; "
                 f"hatched: infeasible)\n{setting}", fontsize=8)
    return [save_figure(fig, out_dir / f"feasibility_{theorem}.png")]


def plot(ds: xr.Dataset, out_dir: Path) -> list[Path]:
    """The figures of one checks or feasibility result, written into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if ds.attrs.get("result_kind") == "feasibility":
        return plot_feasibility(ds, out_dir)
    return plot_checks(ds, out_dir)
