"""Resumable parameter sweeps: a grid over any command's flags and seeds, run locally or on Slurm.

A sweep is described by a TOML file (read with :mod:`tomllib`)::

    # thm4_sweep.toml
    command = "sim thm4"          # the luckbench subcommand (words before the flags)
    seeds = [0, 1, 2]             # optional; each run gets `--seed S` (see `seed_flag`)
    out = "runs/thm4_sweep"       # optional; `luckbench sweep --out DIR` overrides it

    [fixed]                       # flags given to every run
    teachers = 5
    t-end = 50.0

    [grid]                        # every combination of these lists (Cartesian product)
    theta0 = [10, 20, 40]
    dim = [10, 20]

Keys are flag names (``t_end`` and ``t-end`` are the same flag). Values: numbers and strings are
passed as ``--flag VALUE``, lists in ``[fixed]`` as ``--flag a,b,c``, booleans as ``--flag`` /
``--no-flag``. Optional keys: ``seed_flag`` (default ``"--seed"``; ``""`` passes no seed),
``out_flag`` (default ``"--out"``), and ``program`` (a list of argv words used instead of
``luckbench <command>``, for sweeping your own script that accepts ``--out FILE``), and an
``[about]`` table that the sweep ignores (``luckbench reproduce`` reads its title, source and ledger
rows; see :mod:`luckbench.reproduce`).

Each run is one subprocess ``python -m luckbench.cli <command> <flags> --out DIR/<hash>.nc``,
where ``<hash>`` is :func:`luckbench.config.config_hash` of ``{"command", "params", "seed"}``.
Subprocesses rather than in-process calls because: the stored ``command`` attribute is then
exactly the command a user can repeat; a crash (segfault, out-of-memory kill) of one run cannot
take the sweep down; thread counts are set per run through the environment; and the same
function runs unchanged inside a Slurm job. The cost is the start-up of one Python (~1 s with
torch) per run, small next to a real run.

Reliability: a run's file appears only once it is complete (``store.write_dataset`` writes to a
temporary file and renames), so a file that exists is a finished run and is skipped on re-run.
Runs are started through a launcher that asks Linux to SIGKILL them when the sweep dies
(``PR_SET_PDEATHSIG``), and a sweep holds an exclusive ``flock`` on ``DIR/.sweep.lock`` (released
by the kernel even on SIGKILL), so after a killed sweep no orphan is still writing and the next
sweep may delete the killed runs' temporary files before it starts. Failed runs leave no
result, their log stays in ``DIR/logs/<hash>.log``, and they are retried by the next sweep.

The planned runs are recorded in ``DIR/sweep.json`` (hash -> parameters);
:func:`open_sweep` opens all results with :func:`xarray.open_mfdataset` (nested along a ``run``
dimension, with one coordinate per swept parameter) and can unstack them onto the grid.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import fcntl
import itertools
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any, Iterator

import xarray as xr

from luckbench.config import Seed, config_hash, field_rule, value_problem
from luckbench.errors import InputError
from luckbench.progress import progress as progress_bar
from luckbench.sim.parallel import default_workers
from luckbench.store import atomic_path

MANIFEST = "sweep.json"
MAX_RUNS = 100_000  # planning and validating one run takes ~1 ms; beyond this a sweep should be split
LOCK = ".sweep.lock"
_SPEC_KEYS = {"command", "program", "seeds", "seed_flag", "out", "out_flag", "fixed", "grid", "about"}

# Runs `argv` after asking the kernel to SIGKILL it when the sweep thread that started it dies.
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "try:\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))\n"  # 1 = PR_SET_PDEATHSIG
    "except (OSError, AttributeError):\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(137)\n"  # the sweep died before prctl took effect
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file: the command, the fixed flags, the grid and the seeds."""

    command: str
    fixed: dict[str, Any]
    grid: dict[str, list[Any]]
    seeds: tuple[int | None, ...] = (None,)
    seed_flag: str = "--seed"
    out_flag: str = "--out"
    program: tuple[str, ...] | None = None
    out: str | None = None


@dataclasses.dataclass(frozen=True)
class Run:
    """One point of the sweep: its parameters, its seed, and where its result and log go."""

    name: str
    params: dict[str, Any]
    seed: int | None
    argv: tuple[str, ...]
    result: str
    log: str
    env: dict[str, str]


def _flag_name(key: str) -> str:
    return key.strip().lstrip("-").replace("_", "-")


def load_spec(path: str | os.PathLike) -> SweepSpec:
    """Parse and validate a sweep TOML file; every problem is an InputError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"sweep spec not found: {path}")
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML ({str(exc).splitlines()[0]})") from None
    return spec_from_dict(raw, where=str(path))


def spec_from_dict(raw: dict, where: str = "sweep spec") -> SweepSpec:
    """Validate a spec given as a dict (the parsed TOML)."""
    unknown = set(raw) - _SPEC_KEYS
    if unknown:
        raise InputError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_SPEC_KEYS)}")
    command = raw.get("command", "")
    program = raw.get("program")
    if not isinstance(command, str) or (not command.strip() and program is None):
        raise InputError(f"{where}: 'command' must name a luckbench subcommand, e.g. command = \"sim thm4\"")
    if program is not None and (not isinstance(program, list) or not program
                                or not all(isinstance(p, str) for p in program)):
        raise InputError(f"{where}: 'program' must be a non-empty list of strings")
    try:
        shlex.split(command)
    except ValueError as exc:  # e.g. an unclosed quote
        raise InputError(f"{where}: 'command' is not a valid command line ({exc})") from None
    for key in ("out", "seed_flag", "out_flag"):
        if key in raw and not isinstance(raw[key], str):
            raise InputError(f"{where}: '{key}' must be a string, got {raw[key]!r}")
    fixed = raw.get("fixed", {})
    grid = raw.get("grid", {})
    if not isinstance(fixed, dict) or not isinstance(grid, dict):
        raise InputError(f"{where}: [fixed] and [grid] must be tables")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise InputError(f"{where}: grid.{key} must be a non-empty list of values")
    for value in [*fixed.values(), *(v for values in grid.values() for v in values)]:
        items = value if isinstance(value, list) else [value]
        if isinstance(value, dict) or any(isinstance(v, (dict, list)) for v in items):
            raise InputError(f"{where}: a flag value must be a number, string, boolean or a list of those, "
                             f"got {value!r}")
    both = {_flag_name(k) for k in fixed} & {_flag_name(k) for k in grid}
    if both:
        raise InputError(f"{where}: {sorted(both)} given in both [fixed] and [grid]")
    seeds = raw.get("seeds")
    if seeds is None:
        seeds_t: tuple[int | None, ...] = (None,)
    elif isinstance(seeds, list) and seeds and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        if len(set(seeds)) != len(seeds):
            raise InputError(f"{where}: 'seeds' has repeated values")
        seed_rule = field_rule(Seed)
        for s in seeds:
            problem = value_problem(s, seed_rule)
            if problem:
                raise InputError(f"{where}: seeds: {problem}")
        seeds_t = tuple(seeds)
    else:
        raise InputError(f"{where}: 'seeds' must be a non-empty list of integers")
    n_runs = math.prod(len(v) for v in grid.values()) * len(seeds_t)
    if n_runs > MAX_RUNS:  # counted before anything is enumerated: a huge grid is refused at once
        raise InputError(f"{where}: [grid] x seeds has {n_runs:.3g} runs, above the limit of {MAX_RUNS:,}; "
                         "split the sweep")
    return SweepSpec(
        command=command.strip(),
        fixed={_flag_name(k): v for k, v in fixed.items()},
        grid={_flag_name(k): list(v) for k, v in grid.items()},
        seeds=seeds_t,
        seed_flag=str(raw.get("seed_flag", "--seed")),
        out_flag=str(raw.get("out_flag", "--out")),
        program=tuple(program) if program is not None else None,
        out=raw.get("out"),
    )


def _flag_args(name: str, value: Any) -> list[str]:
    """``--name value`` for one flag (lists joined by commas, booleans as --name/--no-name)."""
    if isinstance(value, bool):
        return [f"--{name}" if value else f"--no-{name}"]
    if isinstance(value, list):
        return [f"--{name}", ",".join(str(v) for v in value)]
    return [f"--{name}", str(value)]


def _grid_points(grid: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        yield dict(zip(keys, values))


def _program(spec: SweepSpec) -> list[str]:
    if spec.program is not None:
        return list(spec.program)
    return [sys.executable, "-m", "luckbench.cli", *shlex.split(spec.command)]


def plan(spec: SweepSpec, out_dir: str | os.PathLike, threads_per_run: int | None = None) -> list[Run]:
    """Every run of the sweep, in grid order (seeds innermost); names are configuration hashes."""
    out_dir = Path(out_dir).resolve()
    env = {}
    if threads_per_run:
        env = {"OMP_NUM_THREADS": str(threads_per_run), "MKL_NUM_THREADS": str(threads_per_run)}
    runs = []
    for point in _grid_points(spec.grid):
        params = {**spec.fixed, **point}
        for seed in spec.seeds:
            key = {"command": spec.command if spec.program is None else list(spec.program),
                   "params": params, "seed": seed}
            name = config_hash(key)
            result = out_dir / f"{name}.nc"
            argv = _program(spec)
            for flag, value in params.items():
                argv += _flag_args(flag, value)
            if seed is not None and spec.seed_flag:
                argv += [spec.seed_flag, str(seed)]
            if spec.program is None:  # the sweep owns DIR/<hash>.nc: a luckbench command may replace it
                argv += ["--overwrite"]
                if spec.command.split()[:1] == ["train"]:  # a killed run continues from its checkpoint
                    argv += ["--resume"]
            argv += [spec.out_flag, str(result)]
            runs.append(Run(name=name, params=dict(point), seed=seed, argv=tuple(argv), result=str(result),
                            log=str(out_dir / "logs" / f"{name}.log"), env=env))
    if len({r.name for r in runs}) != len(runs):
        raise InputError("sweep spec: the grid has repeated points")
    return runs


def validate_plan(spec: SweepSpec, runs: list[Run]) -> None:
    """Refuse (InputError, one line) a plan that would fail run by run: a missing program, an unknown
    command or flag, a value out of range, sizes beyond the resource limits. Nothing is run.

    luckbench commands are parsed by the real parser and given to the command's ``preflight``
    (configs and resource estimates) once per grid point; seeds were range-checked with the spec.
    """
    if spec.program is not None:
        exe = spec.program[0]
        if shutil.which(exe) is None:
            raise InputError(f"sweep spec: 'program' {exe!r} is not an executable file or a command on PATH")
        return
    from luckbench import cli

    points = {}
    for run in runs:  # one run per grid point: seeds do not change what is valid
        points.setdefault(config_hash(run.params), run)
    parser = None
    for run in points.values():
        words = list(run.argv[3:])
        where = "sweep run " + " ".join(f"{k}={v}" for k, v in run.params.items()) if run.params else "sweep run"
        if parser is None:
            parser = cli.build_parser(words)
        try:
            args = cli.parse_command(words, parser)
            preflight = getattr(args, "_preflight", None)
            if preflight is not None:
                preflight(args)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None


def check_executor(executor: str, slurm: SlurmOptions | None) -> None:
    """Refuse an executor this machine cannot use, before any run starts."""
    if executor not in ("local", "slurm"):
        raise InputError(f"--executor: expected local or slurm, got {executor!r}")
    if executor == "slurm":
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise InputError("--executor slurm: needs submitit (pip install -e .[slurm])") from None
        if (slurm or SlurmOptions()).cluster == "slurm" and shutil.which("sbatch") is None:
            raise InputError("--executor slurm: no `sbatch` command on this machine "
                             "(--cluster local runs the jobs here)")


def execute_run(run: Run) -> int:
    """Run one point as a subprocess (killed with the sweep), its output in ``run.log``; the exit code.

    Module-level so that submitit can pickle it for Slurm jobs.
    """
    Path(run.log).parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **run.env}
    argv = [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *run.argv]
    with open(run.log, "w") as log:
        log.write("$ " + shlex.join(run.argv) + "\n")
        log.flush()
        proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    if proc.returncode == 0 and not Path(run.result).is_file():
        with open(run.log, "a") as log:
            log.write(f"luckbench sweep: the command exited 0 but wrote no {run.result}\n")
        return 1
    return proc.returncode


def _write_manifest(out_dir: Path, spec: SweepSpec, runs: list[Run]) -> None:
    """Merge this sweep's runs into DIR/sweep.json (atomically): hash -> parameters and seed."""
    path = out_dir / MANIFEST
    manifest = _manifest(out_dir)
    manifest["command"] = spec.command
    manifest.setdefault("runs", {})
    for run in runs:
        words = ["luckbench", *run.argv[3:]] if spec.program is None else list(run.argv)
        manifest["runs"][run.name] = {"params": run.params, "seed": run.seed, "command_line": shlex.join(words)}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))


def _stale_temporaries(out_dir: Path, runs: list[Run]) -> list[Path]:
    """Temporary files of store.write_dataset (``<name>.nc.<random>.tmp``) left by killed runs."""
    names = {Path(r.result).name for r in runs}
    return [p for p in out_dir.glob("*.nc.*.tmp") if p.name.split(".nc.")[0] + ".nc" in names]


def default_jobs(threads_per_run: int = 1) -> int:
    """Parallel runs that fit the CPUs this process may use."""
    return max(1, default_workers() // max(1, threads_per_run))


@dataclasses.dataclass(frozen=True)
class SlurmOptions:
    """submitit settings for ``--executor slurm`` (``cluster="local"`` runs the jobs here, for tests)."""

    partition: str | None = None
    time_min: int = 60
    gpus: int = 0
    cpus_per_task: int = 1
    mem_gb: float | None = None
    array_parallelism: int = 64
    cluster: str = "slurm"
    wait: bool = True


@dataclasses.dataclass
class SweepOutcome:
    """What a sweep did: the planned runs, the ones skipped as finished, and the failures."""

    out_dir: Path
    runs: list[Run]
    skipped: list[Run]
    done: list[Run]
    failed: list[tuple[Run, str]]
    submitted: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


class _Lock:
    """Exclusive flock on DIR/.sweep.lock; the kernel releases it when the holder dies."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / LOCK
        self.fd: int | None = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise InputError(f"another sweep is running in {self.path.parent} (lock {self.path})") from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def run_sweep(spec: SweepSpec, out_dir: str | os.PathLike, *, executor: str = "local", jobs: int | None = None,
              threads_per_run: int | None = None, slurm: SlurmOptions | None = None,
              progress: bool = True) -> SweepOutcome:
    """Run every unfinished point of ``spec`` into ``out_dir``; finished ones are skipped.

    The whole plan is validated first (:func:`check_executor`, :func:`validate_plan`): a bad plan
    is one InputError before any run starts.
    """
    check_executor(executor, slurm)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out: {out_dir} exists and is not a folder")
    if threads_per_run is None:  # local: share this machine's CPUs; slurm: the CPUs each job asked for
        threads_per_run = (max(1, default_jobs() // (jobs or default_jobs())) if executor == "local"
                           else (slurm or SlurmOptions()).cpus_per_task)
    runs = plan(spec, out_dir, threads_per_run)
    validate_plan(spec, runs)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _Lock(out_dir):
        _write_manifest(out_dir, spec, runs)
        if executor == "local":  # no orphan can still be writing: remove what killed runs left
            for tmp in _stale_temporaries(out_dir, runs):
                tmp.unlink(missing_ok=True)
        todo = [r for r in runs if not Path(r.result).is_file()]
        outcome = SweepOutcome(out_dir, runs, [r for r in runs if r not in todo], [], [])
        if executor == "local":
            _run_local(todo, jobs or default_jobs(threads_per_run or 1), outcome, progress)
        else:
            _run_slurm(todo, slurm or SlurmOptions(), out_dir, outcome, progress)
        if executor == "local" or (slurm or SlurmOptions()).wait:
            for tmp in _stale_temporaries(out_dir, runs):  # every job has ended: leftovers are stale
                tmp.unlink(missing_ok=True)
    return outcome


def _record(outcome: SweepOutcome, run: Run, code: int | None, error: str = "") -> None:
    if code == 0:
        outcome.done.append(run)
    else:
        outcome.failed.append((run, error or f"exit code {code}, see {run.log}"))


def _run_local(todo: list[Run], jobs: int, outcome: SweepOutcome, progress: bool) -> None:
    with progress_bar(len(todo), "sweep", enabled=progress) as bar, cf.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(execute_run, run): run for run in todo}
        for fut in cf.as_completed(futures):
            run = futures[fut]
            try:
                _record(outcome, run, fut.result())
            except OSError as exc:  # could not start the process at all
                _record(outcome, run, None, f"{type(exc).__name__}: {exc}")
            bar.update(1)


def _run_slurm(todo: list[Run], opts: SlurmOptions, out_dir: Path, outcome: SweepOutcome, progress: bool) -> None:
    import submitit

    if not todo:
        return
    executor = submitit.AutoExecutor(folder=out_dir / "submitit" / "%j", cluster=opts.cluster)
    params: dict[str, Any] = {"timeout_min": opts.time_min, "cpus_per_task": opts.cpus_per_task,
                              "gpus_per_node": opts.gpus, "name": "luckbench-sweep",
                              "slurm_array_parallelism": opts.array_parallelism}
    if opts.partition:
        params["slurm_partition"] = opts.partition
    if opts.mem_gb:
        params["mem_gb"] = opts.mem_gb
    executor.update_parameters(**params)
    job_list = executor.map_array(execute_run, todo)
    outcome.submitted = len(job_list)
    if not opts.wait:
        return
    pending = dict(zip(job_list, todo))
    with progress_bar(len(todo), "sweep (slurm)", enabled=progress) as bar:
        while pending:
            for job in [j for j in pending if j.done()]:
                run = pending.pop(job)
                try:
                    _record(outcome, run, job.result())
                except Exception as exc:  # submitit raises for a job that died (timeout, node failure)
                    _record(outcome, run, None, f"job {job.job_id}: {str(exc).splitlines()[0] if str(exc) else exc}")
                bar.update(1)
            if pending:
                time.sleep(0.5)


def _manifest(out_dir: Path) -> dict:
    """DIR/sweep.json as a dict (``{"runs": {}}`` when there is none); InputError when it is corrupt."""
    path = out_dir / MANIFEST
    if not path.is_file():
        return {"runs": {}}
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(f"corrupt sweep manifest: {path}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("runs", {}), dict):
        raise InputError(f"corrupt sweep manifest: {path}")
    return manifest


def _coord_value(value: Any) -> Any:
    """A parameter value as a coordinate entry: lists (e.g. widths) become "a,b,c" strings."""
    return ",".join(str(v) for v in value) if isinstance(value, list) else value


def _along_run(ds: xr.Dataset, name: str, value: Any) -> xr.Variable:
    """Coordinate ``name`` along ``run``: the result's own 0-d run-parameter coordinate (with its
    long_name and units) where it stored one, else the manifest's ``value``."""
    own = ds.coords.get(name)
    if own is not None and own.ndim == 0:
        return xr.Variable("run", [own.values.item()], own.attrs)
    return xr.Variable("run", [value])


def open_sweep(out_dir: str | os.PathLike, *, grid: bool = False) -> xr.Dataset:
    """All finished runs of a sweep as one Dataset along ``run`` (coordinate = run hash).

    Each swept parameter and ``seed`` become coordinates along ``run`` (taken from the runs' own
    0-d run-parameter coordinates where they stored them, see :mod:`luckbench.metadata`, else from
    the manifest); the parameters every run shares stay 0-d coordinates; ``grid=True`` unstacks
    them into one dimension per parameter (NaN where a run is missing). Runs are combined with
    ``xarray.open_mfdataset(combine="nested", concat_dim="run")`` (which needs dask; without
    dask the same nested combine is done file by file with ``xarray.combine_nested``).
    """
    out_dir = Path(out_dir)
    runs = _manifest(out_dir).get("runs", {})
    paths = sorted(p for p in out_dir.glob("*.nc") if p.stem in runs)
    if not paths:
        raise InputError(f"no finished sweep runs in {out_dir}")
    keys = sorted({k for r in runs.values() for k in r["params"]})
    has_seed = any(r.get("seed") is not None for r in runs.values())

    def tag(ds: xr.Dataset) -> xr.Dataset:
        name = Path(ds.encoding["source"]).stem
        entry = runs[name]
        ds = ds.expand_dims(run=[name])
        values = {k.replace("-", "_"): _coord_value(entry["params"].get(k)) for k in keys}
        if has_seed:  # the run's seed: `run_seed` where the result has a seed dimension (luckbench.metadata)
            values["run_seed" if "seed" in ds.dims else "seed"] = entry["seed"]
        return ds.assign_coords({k: _along_run(ds, k, v) for k, v in values.items()})

    options = dict(concat_dim="run", combine_attrs="drop_conflicts",
                   data_vars="all", coords="different", compat="no_conflicts", join="outer")
    try:
        import dask  # noqa: F401
    except ImportError:
        datasets = []
        for p in paths:
            with xr.open_dataset(p, engine="netcdf4") as ds:
                datasets.append(tag(ds.load()))
        combined = xr.combine_nested(datasets, **options)
    else:
        combined = xr.open_mfdataset(paths, engine="netcdf4", preprocess=tag, combine="nested", **options).load()
    if grid:
        index = [k.replace("-", "_") for k in keys] + (["seed"] if has_seed else [])
        combined = combined.set_index(run=index).unstack("run")
    return combined
