"""What a sim ``run()`` ran with, on the Dataset it returns (notebook use: the result explains itself
before it is stored; ``luckbench.store.write_dataset`` writes the same ``config`` and ``seed``)."""
from __future__ import annotations

import xarray as xr

from luckbench.store import to_json


def attach_run(ds: xr.Dataset, cfg) -> xr.Dataset:
    """Set ``config`` (the configuration as JSON, as stored) and ``seed`` (the base seed) on ``ds``."""
    ds.attrs.update({"config": to_json(cfg), "seed": int(cfg.seed)})
    return ds
