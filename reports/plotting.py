"""Shared figure set-up for the figure modules: canvas-backed figures that never touch pyplot.

Figures are plain :class:`matplotlib.figure.Figure` objects with an Agg canvas attached, so
importing or using ``luckbench.reports`` never changes the user's matplotlib backend and never
opens a window or an inline plot in a notebook. Every ``draw_*(ds, ax=None)`` of the figure modules
draws into the axes it is given (a notebook's own, say) or into a new figure from :func:`subplots`,
and returns the axes.
"""
from __future__ import annotations

import hashlib
import re
import sys
import warnings
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Sizes chosen to stay readable when the HTML report shows a figure at about half its width.
FONT_SIZES = {"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "legend.fontsize": 8,
              "xtick.labelsize": 9, "ytick.labelsize": 9}
DPI = 120


def subplots(nrows: int = 1, ncols: int = 1, **kwargs) -> tuple[Figure, object]:
    """Like ``pyplot.subplots`` but without pyplot: a new Agg-backed figure and its axes."""
    subplot_kw = kwargs.pop("subplot_kw", None)
    gridspec_kw = kwargs.pop("gridspec_kw", None)
    share = {k: kwargs.pop(k) for k in ("sharex", "sharey", "squeeze") if k in kwargs}
    kwargs.setdefault("layout", "constrained")  # colour bars and suptitles laid out without warnings
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, subplot_kw=subplot_kw, gridspec_kw=gridspec_kw, **share)
    return fig, axes


def style():
    """The report's font sizes, for a ``with`` block around drawing (fonts are fixed when text is made)."""
    return matplotlib.rc_context(FONT_SIZES)


def figure_of(ax) -> Figure:
    """The figure an axes (or an array of axes, as ``draw_*`` return for multi-panel figures) lives in."""
    first = np.ravel(np.asarray(ax, dtype=object))[0]
    return first.figure


def save_figure(fig: Figure, path: Path) -> Path:
    """Lay out ``fig`` and write it to ``path`` as a PNG (folders made as needed); return the path.

    Works for any figure, one drawn on a user's pyplot axes included (savefig picks a PNG canvas).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None and fig.canvas.manager is not None:  # a pyplot figure: release it, as pyplot keeps them
        pyplot.close(fig)
    return path


def mean_band(ax, x, values: np.ndarray, label: str | None = None, color=None, seed_axis: int = 0):
    """The mean over seeds as a line, with the min-max range over seeds shaded (one seed: a line)."""
    values = np.asarray(values, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        mean = np.nanmean(values, axis=seed_axis)
        lo, hi = np.nanmin(values, axis=seed_axis), np.nanmax(values, axis=seed_axis)
    n = values.shape[seed_axis]
    text = f"{label} (mean, min-max over {n} seeds)" if label and n > 1 else label
    line = ax.plot(x, mean, label=text, color=color, lw=1.4)[0]
    if n > 1:
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    return line


def run_label(ds, drop: tuple[str, ...] = ()) -> str:
    """What identifies a run in a title: its command without the program words, the output path and
    the flags in ``drop`` (preset, overrides and seed as the user typed them), e.g.
    ``train --preset smoke --bn after --seed 1``. Without a stored command: preset and seed attributes."""
    words = str(ds.attrs.get("command", "")).split()
    if words and words[0] == "luckbench":
        words = words[1:]
    if not words:
        return " ".join(f"{k} {ds.attrs[k]}" for k in ("preset", "seed") if k in ds.attrs and f"--{k}" not in drop) \
            or str(ds.attrs.get("result_kind", "run"))
    kept, skip = [], False
    for w in words:
        if skip:
            skip = False
        elif w in ("--out", *drop):
            skip = True
        elif w != "--overwrite":
            kept.append(w)
    return " ".join(kept)


def file_stem(ds, prefix: str, drop: tuple[str, ...] = (), suffix: str = "") -> str:
    """A file name from :func:`run_label` (safe characters, at most 80) plus a short config hash."""
    label = re.sub(r"[^A-Za-z0-9.=-]+", "_", run_label(ds, drop).replace("--", "")).strip("_")[:80]
    digest = hashlib.sha256(str(ds.attrs.get("config", "")).encode()).hexdigest()[:6]
    return f"{prefix}_{label}{suffix}_{digest}"
