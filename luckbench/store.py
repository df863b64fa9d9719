"""netCDF I/O for results: one run, one file, written atomically with provenance attributes.

Every stored file carries ``luckbench_version``, ``created`` (ISO time), ``command``, ``config``
(JSON of the full configuration) and ``seed`` (README.md, "Layers").
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import xarray as xr

from luckbench import jsonsafe
from luckbench.errors import InputError
from luckbench.metadata import annotate

REQUIRED_ATTRS = ("luckbench_version", "created", "command", "config", "seed")


def to_json(obj: Any) -> str:
    """Stable strict JSON (sorted keys) of a config: dataclasses, numpy scalars and paths included;
    non-finite floats as "inf" / "-inf" / "nan" (:mod:`luckbench.jsonsafe`)."""
    return jsonsafe.dumps(obj)


def _netcdf_safe_attrs(attrs: dict) -> dict:
    """netCDF attributes must be str, numbers or 1-D numeric arrays; bools and None are not."""
    out = {}
    for key, value in attrs.items():
        if isinstance(value, (bool, np.bool_)):
            out[key] = int(value)
        elif value is None:
            out[key] = "none"
        elif isinstance(value, (dict, list, tuple)) and not (
            isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            out[key] = to_json(value)
        else:
            out[key] = value
    return out


def write_dataset(ds: xr.Dataset, path: str | os.PathLike, *, config: Any, seed: int | None,
                  command: str | None = None, overwrite: bool = True) -> Path:
    """Write ``ds`` to ``path`` as netCDF4 atomically (temp file in the same folder, then rename).

    Adds the provenance attributes; ``config`` is stored as JSON so the run can be repeated.
    :func:`luckbench.metadata.annotate` adds long_name / units, Conventions and the run parameters
    as 0-d coordinates. A crash mid-write leaves at most a ``*.tmp*`` file, never a half-written result.
    With ``overwrite=False`` an existing ``path`` is an InputError (commands pass their ``--overwrite``).
    """
    from luckbench import __version__

    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"{path} exists; pass --overwrite to replace it")
    ds = annotate(ds, config=config, seed=seed)
    ds.attrs.update({
        "luckbench_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command if command is not None else " ".join(["luckbench", *sys.argv[1:]]),
        "config": to_json(config),
        "seed": -1 if seed is None else int(seed),
    })
    ds.attrs = _netcdf_safe_attrs(ds.attrs)
    for var in ds.variables.values():
        var.attrs = _netcdf_safe_attrs(var.attrs)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, else delete it.

    Whatever the body writes to the temporary path replaces ``path`` in one ``os.replace``, so a
    crash never leaves a half-written file under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are shared like any new file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_dataset(path: str | os.PathLike) -> xr.Dataset:
    """Load a stored result fully into memory; a missing, corrupt or foreign file is an InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"result file not found: {path}")
    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            ds = ds.load()
    except Exception as exc:  # netCDF4 raises OSError/RuntimeError/ValueError for bad files
        raise InputError(f"not a readable netCDF file: {path} ({type(exc).__name__})") from None
    missing = [a for a in REQUIRED_ATTRS if a not in ds.attrs]
    if missing:
        raise InputError(f"not a luckbench result (missing attributes {', '.join(missing)}): {path}")
    return ds


def stored_config(ds: xr.Dataset) -> dict:
    """The JSON configuration a result was produced with."""
    return json.loads(ds.attrs["config"])
