"""``luckbench sweep SPEC.toml [--out DIR] --executor local|slurm ...``: a resumable grid of runs.

The spec format is documented in :mod:`luckbench.sweep`. One netCDF per run, ``DIR/<hash>.nc``;
finished runs are skipped; ``luckbench.sweep.open_sweep(DIR)`` opens them together.
Exit code 0 when every run has a result, 1 when some failed (their logs are named), 2 on bad input.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Annotated

from luckbench import sweep
from luckbench.config import (NonNegativeInt, PositiveFloat, PositiveInt, Range, Workers, cpu_count, field_rule,
                              scalar_parser)
from luckbench.errors import InputError


Jobs = Annotated[int, Range(ge=1, le=lambda: 4 * cpu_count())]  # more would only queue for the CPUs


def _typed(tp):
    return scalar_parser(field_rule(tp))


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC.toml", help="sweep file (see luckbench.sweep for the format)")
    parser.add_argument("--out", metavar="DIR", help="result folder (default: the spec's `out`)")
    add_executor_arguments(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the planned commands and exit")


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """--executor, --jobs, --threads-per-run and the Slurm group (shared with ``luckbench reproduce``)."""
    parser.add_argument("--executor", choices=("local", "slurm"), default="local",
                        help="local: a pool of processes on this machine; slurm: a submitit job array")
    parser.add_argument("--jobs", type=_typed(Jobs), help="local: runs at once, at most 4 x the CPUs "
                        "(default: CPUs // threads-per-run)")
    parser.add_argument("--threads-per-run", type=_typed(Workers),
                        help="OMP/MKL threads per run (default: CPUs // jobs; slurm: --cpus-per-task)")
    slurm = parser.add_argument_group("slurm (submitit)")
    slurm.add_argument("--partition", help="Slurm partition")
    slurm.add_argument("--time", type=_typed(PositiveInt), default=60, metavar="MIN", help="time limit per run, minutes (default 60)")
    slurm.add_argument("--gpus", type=_typed(NonNegativeInt), default=0, help="GPUs per run (default 0)")
    slurm.add_argument("--cpus-per-task", type=_typed(PositiveInt), default=1, help="CPUs per run (default 1)")
    slurm.add_argument("--mem-gb", type=_typed(PositiveFloat), help="memory per run, GB")
    slurm.add_argument("--array-parallelism", type=_typed(PositiveInt), default=64,
                       help="at most this many array tasks at once (default 64)")
    slurm.add_argument("--cluster", choices=("slurm", "local"), default="slurm",
                       help="submitit cluster; `local` runs the jobs on this machine (testing)")
    slurm.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True,
                       help="wait for the jobs and report (default) or submit and exit")


def run(args: argparse.Namespace) -> int:
    spec = sweep.load_spec(args.spec)
    out = args.out or spec.out
    if not out:
        raise InputError("--out: no result folder given (and the spec has no `out`)")
    if args.dry_run:
        runs = sweep.plan(spec, out)
        sweep.validate_plan(spec, runs)
        for r in runs:
            state = "done" if Path(r.result).is_file() else "todo"
            print(f"{r.name} [{state}] luckbench {' '.join(r.argv[3:]) if spec.program is None else ' '.join(r.argv)}")
        print(f"{len(runs)} runs")
        return 0
    outcome = run_with_executor(spec, out, args)
    report_outcome(outcome, args, "sweep")
    return 0 if outcome.ok else 1


def run_with_executor(spec: sweep.SweepSpec, out, args: argparse.Namespace) -> sweep.SweepOutcome:
    """:func:`luckbench.sweep.run_sweep` with the executor flags of :func:`add_executor_arguments`."""
    options = sweep.SlurmOptions(partition=args.partition, time_min=args.time, gpus=args.gpus,
                                 cpus_per_task=args.cpus_per_task, mem_gb=args.mem_gb,
                                 array_parallelism=args.array_parallelism, cluster=args.cluster, wait=args.wait)
    return sweep.run_sweep(spec, out, executor=args.executor, jobs=args.jobs, threads_per_run=args.threads_per_run,
                           slurm=options)


def report_outcome(outcome: sweep.SweepOutcome, args: argparse.Namespace, command: str) -> None:
    """The one-line summary, the submitted count, and one stderr line per failed run."""
    print(f"{command} {outcome.out_dir}: {len(outcome.runs)} runs, {len(outcome.skipped)} already finished, "
          f"{len(outcome.done)} ran, {len(outcome.failed)} failed")
    if args.executor == "slurm" and not args.wait:
        print(f"submitted {outcome.submitted} jobs; run the same command again to collect or resume")
    for run_, why in outcome.failed:
        sys.stderr.write(f"luckbench {command}: run {run_.name} failed ({why})\n")
