"""Figures of a sweep folder (``luckbench sweep``: ``DIR/sweep.json`` + one ``DIR/<hash>.nc`` per run).

Instead of one copy of each run's figures, a sweep gets one figure per swept parameter: the run's
headline scalar (:func:`headline`) against that parameter, the mean over seeds with the min-max
range shaded, one line per setting of the other swept parameters.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import xarray as xr

from luckbench.reports.plotting import figure_of, mean_band, save_figure, style, subplots

MANIFEST = "sweep.json"


def headline(ds: xr.Dataset) -> tuple[float, str] | None:
    """(value, axis label) of the one scalar a run of this kind is summarised by; None if it has none."""
    kind = ds.attrs.get("result_kind")
    with np.errstate(all="ignore"):
        if kind == "train" and "rho_bar" in ds:
            return float(np.nanmean(ds["rho_bar"].isel(epoch=-1).values)), "final layer-mean rho-bar (1)"
        if kind == "thm4" and "sin_theta_max" in ds:
            return float(ds["sin_theta_max"].values[-1]), "final max_j sin theta_j (1)"
        if kind == "thm5" and "v_row_norm" in ds and "is_u" in ds:
            r = ds["v_row_norm"].isel(time=-1).where(~ds["is_u"].astype(bool))
            return float(np.nanmean(r.values)), "final mean ||v_j|| over the r-set (1)"
        if kind == "overparam" and "rho_bar" in ds:
            return float(np.nanmean(ds["rho_bar"].isel(time=-1).values)), "final rho-bar (1)"
    return None


def sweep_runs(folder: Path) -> dict[str, dict]:
    """The manifest's runs {hash: {"params", "seed"}} of a sweep folder ({} when unreadable)."""
    try:
        runs = json.loads((Path(folder) / MANIFEST).read_text()).get("runs", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return runs if isinstance(runs, dict) else {}


def swept(points: list[dict]) -> list[str]:
    """Parameters that take more than one value over the runs."""
    keys = sorted({k for p in points for k in p["params"]})
    return [k for k in keys if len({json.dumps(p["params"].get(k)) for p in points}) > 1]


def _number(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def draw_sweep(points: list[dict], param: str, ax=None, ylabel: str = "value"):
    """``points``: dicts with ``params``, ``seed``, ``value``. Draws value against ``param``; returns ax."""
    if ax is None:
        _, ax = subplots(figsize=(6, 4))
    others = [k for k in swept(points) if k != param]
    values = sorted({json.dumps(p["params"].get(param)) for p in points})
    numeric = all(_number(json.loads(v)) is not None for v in values)
    xs = [_number(json.loads(v)) if numeric else i for i, v in enumerate(values)]
    lines: dict[str, dict[str, dict]] = defaultdict(lambda: defaultdict(dict))
    for p in points:
        label = ", ".join(f"{k} = {p['params'].get(k)}" for k in others) or None
        lines[label][json.dumps(p["params"].get(param))][p.get("seed")] = p["value"]
    for label, by_x in sorted(lines.items(), key=lambda kv: str(kv[0])):
        seeds = sorted({s for d in by_x.values() for s in d}, key=str)
        grid = np.array([[by_x.get(v, {}).get(s, np.nan) for v in values] for s in seeds], dtype=float)
        line = mean_band(ax, xs, grid, label=label)
        ax.plot(xs, np.nanmean(grid, axis=0), "o", color=line.get_color(), ms=4)
    if not numeric:
        ax.set_xticks(xs, [json.loads(v) for v in values], rotation=30)
    ax.set_xlabel(f"{param} (swept)")
    ax.set_ylabel(ylabel)
    if any(label for label in lines):
        ax.legend()
    return ax


def plot_sweep(folder: Path, datasets: dict[str, xr.Dataset], out_dir: Path) -> list[Path]:
    """One PNG per swept parameter of the sweep in ``folder``; ``datasets``: run hash -> its result."""
    runs = sweep_runs(folder)
    points, label, example = [], "value", None
    for name, ds in datasets.items():
        h = headline(ds)
        if name in runs and h is not None:
            points.append({**runs[name], "value": h[0]})
            label, example = h[1], ds
    paths = []
    if not points:
        return paths
    with style():
        for param in swept(points):
            ax = draw_sweep(points, param, ylabel=label)
            n_seeds = len({p.get("seed") for p in points})
            ax.set_title(f"sweep {Path(folder).name}: {example.attrs.get('result_kind')} over {param} "
                         f"({len(points)} runs, {n_seeds} seeds)")
            safe = re.sub(r"[^A-Za-z0-9_.=-]+", "_", f"{Path(folder).resolve().name}_{param}")
            paths.append(save_figure(figure_of(ax), Path(out_dir) / f"sweep_{safe}.png"))
    return paths
