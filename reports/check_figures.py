"""Figures for the theory layer: the checks (result_kind "checks") and the Thm 4 / Thm 5
feasibility maps (result_kind "feasibility", attribute ``theorem`` = "thm4" or "thm5").

* ``checks_<run>.png`` (:func:`draw_checks`) - one bar per check: log10(|value| / bound)
  (``tolerance`` for exact checks without a bound), so a bar left of 0 means the measured value is
  within its bound; colour = verdict; the title says whether the printed or the corrected forms ran.
* ``feasibility_<theorem>_<run>.png`` (:func:`draw_feasibility`) - the theorem's rate ``gamma``
  over the two grid axes (e.g. (theta0 in degrees, m) for Thm 4, (eps, n) for Thm 5), with the
  infeasible points hatched and a colour bar.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.patches import Rectangle

from luckbench.reports.judgement import FAILS, HOLDS, UNMET, Result
from luckbench.reports.plotting import file_stem, figure_of, run_label, save_figure, style, subplots
from luckbench.reports.summaries_checks import check_rows, is_paper_mode, map_name

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


def draw_checks(ds: xr.Dataset, ax=None):
    """Bars of log10(|value| / bound) per check, coloured by verdict; returns the axes."""
    rows = check_rows(ds)
    if ax is None:
        _, ax = subplots(figsize=(7, 0.4 * len(rows) + 1.5))
    y = np.arange(len(rows))
    margins = [_margin(r) for r in rows]
    shown = [0.0 if np.isnan(m) else m for m in margins]
    ax.barh(y, shown, color=[COLOURS.get(r["verdict"], "#999999") for r in rows])
    for yi, m, r in zip(y, margins, rows):
        label = r["verdict"] if np.isnan(m) else f"{r['verdict']} ({m:+.1f})"
        ax.text(0, yi, "  " + label, va="center", fontsize=8)
    ax.set_yticks(y, [r["name"] for r in rows])
    ax.invert_yaxis()
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("log10(|value| / bound) (1; <= 0: within the bound)")
    form = "printed forms (--paper-mode)" if is_paper_mode(Result(Path("."), ds).config) else "corrected forms"
    ax.set_title(f"{run_label(ds)}: {form}, value against bound")
    return ax


SETTING_ATTRS = ("scheme", "bias", "dim", "form", "m", "theta0", "K_d", "K_l", "C0", "B_v", "B_dv", "eta")


def _short(value) -> str:
    try:
        return f"{float(value):.3g}"
    except (TypeError, ValueError):
        return str(value)


def _axis_label(ds: xr.Dataset, dim: str) -> tuple[np.ndarray, str]:
    """Grid values and label of one axis; angles always in degrees."""
    values = np.asarray(ds[dim].values, dtype=float)
    units = str(ds[dim].attrs.get("units", ""))
    if units in ("rad", "radian", "radians"):
        return np.degrees(values), f"{dim} (deg)"
    if units in ("degree", "degrees", "deg") or dim.endswith("_deg"):
        return values, f"{dim} (deg)"
    return values, f"{dim} ({units or '1'})"


def draw_feasibility(ds: xr.Dataset, ax=None):
    """gamma over the map's two axes, infeasible points hatched, with a colour bar; returns the axes."""
    theorem = map_name(ds) or "map"
    gamma = ds["gamma"]
    ydim, xdim = gamma.dims
    values = np.asarray(gamma.values, dtype=float)
    feasible = (np.asarray(ds["feasible"].values).astype(bool) if "feasible" in ds.variables
                else np.isfinite(values) & (values > 0))
    if ax is None:
        _, ax = subplots(figsize=(6.5, 4.8))
    finite = np.where(np.isfinite(values), values, np.nan)
    mesh = ax.pcolormesh(np.arange(len(ds[xdim]) + 1), np.arange(len(ds[ydim]) + 1), finite, cmap="RdBu",
                         vmin=-1.0, vmax=1.0, shading="flat")  # gamma <= cos(theta0) <= 1; below -1 saturates
    for iy, ix in zip(*np.nonzero(~feasible)):
        ax.add_patch(Rectangle((ix, iy), 1, 1, fill=False, hatch="//", edgecolor="0.3", linewidth=0))
    (xs, xlabel), (ys, ylabel) = _axis_label(ds, xdim), _axis_label(ds, ydim)
    ax.set_xticks(np.arange(len(xs)) + 0.5, [f"{v:.3g}" for v in xs], rotation=45)
    ax.set_yticks(np.arange(len(ys)) + 0.5, [f"{v:.3g}" for v in ys])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.figure.colorbar(mesh, ax=ax, extend="min", label="rate gamma (1; > 0: the theorem applies)")
    setting = ", ".join(f"theta0 {_short(np.degrees(float(ds.attrs[k])))} deg" if k == "theta0" else
                        f"{k} {_short(ds.attrs[k])}" for k in SETTING_ATTRS if k in ds.attrs)
    ax.set_title(f"{theorem}: rate gamma ({int(feasible.sum())}/{feasible.size} feasible; hatched: "
                 f"infeasible)\n{setting}", fontsize=9)
    return ax


def plot(ds: xr.Dataset, out_dir: Path) -> list[Path]:
    """The figures of one checks or feasibility result, written into ``out_dir``."""
    out_dir = Path(out_dir)
    with style():
        if ds.attrs.get("result_kind") == "feasibility":
            if "gamma" not in ds.variables or ds["gamma"].ndim != 2:
                return []
            ax, name = draw_feasibility(ds), f"feasibility_{map_name(ds) or 'map'}"
        else:
            if not check_rows(ds):
                return []
            ax, name = draw_checks(ds), "checks"
        return [save_figure(figure_of(ax), out_dir / f"{file_stem(ds, name)}.png")]
