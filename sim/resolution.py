"""How small a stored trajectory value can be and still be data: the solver's resolution limit.

solve_ivp controls each step's error to about ``atol + rtol |y|`` per component; for unit rows the
state's components are O(1), so a quantity that decays to zero (an angle theta_j, a row norm
||v_j||) is integrator noise once it is below a few times that. Measured on ``sim thm4`` (m = 1
and 3, against rtol 1e-12 / atol 1e-14 references): the largest theta with more than 10% error was
0.37-0.74 rtol for (rtol, atol) in {(1e-8, 1e-10), (1e-6, 1e-10), (1e-8, 1e-12), (1e-5, 1e-8)} and
5e-12 for (1e-10, 1e-10). :func:`resolution_limit` = 2 rtol + 10 atol (floored at 1000 machine
epsilons, the float64 resolution of an angle between unit rows) lies above all of them.

Stored form (CF): the data variable keeps its values and gets ``resolution_limit`` (its units) and
``ancillary_variables = "<name>_status"``; ``<name>_status`` is an int8 flag variable with
``flag_values = [0, 1]`` and ``flag_meanings = "resolved below_resolution_limit"``. Fits and
summaries use :func:`resolved` / :func:`resolved_rate`, which drop the values below the limit.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from luckbench.errors import InputError

RTOL_FACTOR = 2.0
ATOL_FACTOR = 10.0
FLOOR = 1e3 * np.finfo(float).eps
RESOLVED, BELOW_LIMIT = 0, 1


def resolution_limit(rtol: float, atol: float) -> float:
    """The smallest value of a decaying O(1)-scaled quantity that a solve_ivp run at (rtol, atol) resolves."""
    return max(RTOL_FACTOR * rtol + ATOL_FACTOR * atol, FLOOR)


def flag_unresolved(ds: xr.Dataset, name: str, limit: float) -> xr.Dataset:
    """Mark ``ds[name]`` with its resolution limit and add the CF flag variable ``<name>_status``."""
    var = ds[name]
    status = f"{name}_status"
    ds[status] = var.dims, np.where(np.abs(var.values) < limit, BELOW_LIMIT, RESOLVED).astype(np.int8), {
        "long_name": f"whether {name} is above the solver's resolution limit",
        "units": "1",
        "flag_values": np.array([RESOLVED, BELOW_LIMIT], dtype=np.int8),
        "flag_meanings": "resolved below_resolution_limit",
    }
    ds[name].attrs.update({"resolution_limit": float(limit), "ancillary_variables": status})
    return ds


def resolved(ds: xr.Dataset, name: str) -> xr.DataArray:
    """``ds[name]`` with the values below its ``resolution_limit`` set to NaN (unchanged without a limit)."""
    if name not in ds:
        raise InputError(f"no variable {name!r} in the dataset")
    var = ds[name]
    limit = var.attrs.get("resolution_limit")
    return var if limit is None else var.where(np.abs(var) >= float(limit))


def resolved_rate(ds: xr.Dataset, name: str = "theta", t_min: float | None = None, t_max: float | None = None,
                  dim: str = "time") -> float:
    """Exponential decay rate r of max over the other dimensions of ``ds[name]``, fitted as
    log max_j x_j(t) ~ c - r t by least squares on the resolved values with t in [t_min, t_max].

    For ``theta`` of ``sim thm4`` this is the measured rate of S(t) = max_j theta_j (~ max_j sin theta_j);
    NaN when fewer than two resolved points lie in the window.
    """
    var = resolved(ds, name)
    if dim not in var.dims:
        raise InputError(f"{name}: has no {dim!r} dimension")
    others = [d for d in var.dims if d != dim]
    peak = var.max(others, skipna=True) if others else var
    t = np.asarray(peak[dim].values, dtype=float)
    y = np.asarray(peak.values, dtype=float)
    keep = np.isfinite(y) & (y > 0)
    if t_min is not None:
        keep &= t >= t_min
    if t_max is not None:
        keep &= t <= t_max
    if keep.sum() < 2:
        return float("nan")
    return float(-np.polyfit(t[keep], np.log(y[keep]), 1)[0])
