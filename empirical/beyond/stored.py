"""Building the stored datasets of ``luckbench beyond``: every variable and coordinate gets a
``long_name`` and ``units`` ("1" when dimensionless)."""
from __future__ import annotations

import numpy as np
import xarray as xr


def variable(dims: tuple[str, ...], data, long_name: str, units: str = "1") -> xr.Variable:
    return xr.Variable(dims, np.asarray(data), {"long_name": long_name, "units": units})


def dataset(variables: dict[str, xr.Variable], coords: dict[str, tuple], attrs: dict) -> xr.Dataset:
    """``coords`` maps a name to (values, long_name[, units])."""
    ds = xr.Dataset(variables, coords={k: variable((k,), v[0], *v[1:]) for k, v in coords.items()})
    ds.attrs.update(attrs)
    return ds
