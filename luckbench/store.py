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


OVERWRITE_HELP = "replace an existing luckbench result at --out (other files are never replaced)"
TEMP_SUFFIX_LEN = len(".12345678.tmp")  # what atomic_path's temporary name adds to the file name


def add_overwrite_argument(parser) -> None:
    """The ``--overwrite`` flag, the same on every command that writes results."""
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)


def is_luckbench_result(path: str | os.PathLike) -> bool:
    """True when ``path`` is a netCDF file with luckbench's provenance attributes (its header only is read)."""
    import netCDF4

    try:
        with netCDF4.Dataset(path, "r") as nc:
            return all(a in nc.ncattrs() for a in REQUIRED_ATTRS)
    except Exception:  # netCDF4 raises OSError/RuntimeError/... for anything that is not netCDF
        return False


def prepare_output(path: str | os.PathLike, *, overwrite: bool = False, flag: str = "--out",
                   inputs: tuple = (), is_ours=is_luckbench_result) -> Path:
    """Check that ``path`` may be written, before a run spends time on it; return it as a Path.

    Refused (InputError): an empty name, a name too long for the folder's file system, a folder,
    one of this run's ``inputs``, an existing file that ``is_ours`` does not recognise (even with
    ``--overwrite``), and an existing result without ``overwrite``.
    """
    if not str(path).strip():
        raise InputError(f"{flag}: need a file name")
    path = Path(path)
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(f"{flag}: {parent} is not a folder")
    try:
        name_max = os.pathconf(parent if parent.is_dir() else ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    if len(os.fsencode(path.name)) + TEMP_SUFFIX_LEN > name_max:
        raise InputError(f"{flag}: file name of {len(os.fsencode(path.name))} bytes is too long "
                         f"(this file system allows {name_max - TEMP_SUFFIX_LEN} here)")
    if path.is_dir():
        raise InputError(f"{flag}: {path} is a folder; give a file name")
    for source in inputs:
        if source is not None and path.exists() and Path(source).exists() and os.path.samefile(path, source):
            raise InputError(f"{flag}: {path} is an input of this run; refusing to replace it")
    if path.exists():
        if not is_ours(path):
            raise InputError(f"{flag}: {path} exists and is not a luckbench result; refusing to replace it")
        if not overwrite:
            raise InputError(f"{path} exists; pass --overwrite to replace it")
    return path


def write_dataset(ds: xr.Dataset, path: str | os.PathLike, *, config: Any, seed: int | None,
                  command: str | None = None, overwrite: bool = False) -> Path:
    """Write ``ds`` to ``path`` as netCDF4 atomically (temp file in the same folder, then rename).

    Adds the provenance attributes; ``config`` is stored as JSON so the run can be repeated.
    :func:`luckbench.metadata.annotate` adds long_name / units, Conventions and the run parameters
    as 0-d coordinates. A crash mid-write leaves at most a ``*.tmp*`` file, never a half-written result.
    An existing file is replaced only when it is a luckbench result and ``overwrite`` is set
    (:func:`prepare_output`; commands pass their ``--overwrite``).
    """
    from luckbench import __version__

    path = prepare_output(path, overwrite=overwrite)
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


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write a text file atomically (:func:`atomic_path`): readers see the old file or the new one."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


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
    from luckbench import resources

    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            declared, limit = resources.declared_bytes(ds.variables), resources.limits().memory
            if declared > limit:  # a header may declare petabytes: refuse before loading any of it
                raise InputError(f"{path}: declares {resources.format_bytes(declared)} of data, above the "
                                 f"limit of {resources.format_bytes(limit)} ({resources.MEMORY_FRACTION:.0%} "
                                 "of available memory)")
            ds = ds.load()
    except InputError:
        raise
    except Exception as exc:  # netCDF4 raises OSError/RuntimeError/ValueError/MemoryError for bad files
        raise InputError(f"not a readable netCDF file: {path} ({type(exc).__name__})") from None
    missing = [a for a in REQUIRED_ATTRS if a not in ds.attrs]
    if missing:
        raise InputError(f"not a luckbench result (missing attributes {', '.join(missing)}): {path}")
    return ds


def stored_config(ds: xr.Dataset) -> dict:
    """The JSON configuration a result was produced with."""
    return json.loads(ds.attrs["config"])
