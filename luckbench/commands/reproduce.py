"""``luckbench reproduce --list`` / ``luckbench reproduce NAME [--executor local|slurm ...] --out DIR``.

``--list`` names every experiment of ``experiments/`` with its source in the paper, the device it
is meant for and its estimated CPU time (a cost model, :mod:`luckbench.reproduce`). ``NAME`` runs
that experiment's sweep into ``DIR`` (resumable: a restarted reproduce skips the finished runs),
then writes the report of its results to ``DIR/report/`` (``index.md``, ``index.html``,
``ledger.json``) and prints the ledger rows the experiment decides.
Exit code 0 when every run has a result, 1 when some failed, 2 on bad input (an unknown NAME).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from luckbench import reproduce
from luckbench.commands.sweep import (add_executor_arguments, report_outcome,
                                      run_with_executor)
from luckbench.errors import InputError


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", metavar="NAME", help="experiment (see --list)")
    parser.add_argument("--list", action="store_true", help="list the experiments with estimated CPU times")
    parser.add_argument("--out", metavar="DIR", help="result folder (runs as DIR/<hash>.nc, the report in DIR/report)")
    parser.add_argument("--experiments", metavar="DIR", help="folder of experiment specs (default: the repository's "
                                                              "experiments/)")
    add_executor_arguments(parser)


def _list(folder) -> int:
    found = reproduce.experiments(folder)
    width = max((len(n) for n in found), default=4)
    print(f"{'NAME':{width}}  {'RUNS':>5}  {'DEVICE':6}  {'EST. CPU TIME':>13}  SOURCE / WHAT")
    for name, exp in found.items():
        runs = len(exp.spec.seeds) * max(1, _points(exp))
        print(f"{name:{width}}  {runs:5d}  {exp.device:6}  {reproduce.describe(reproduce.estimate_seconds(exp)):>13}  "
              f"{exp.source}: {exp.title}")
    print("CPU time: an estimate on one core from a per-step cost model (luckbench/reproduce.py), not a measurement; "
          "gpu experiments are meant for --executor slurm --gpus 1 or a local GPU.")
    return 0


def _points(exp) -> int:
    count = 1
    for values in exp.spec.grid.values():
        count *= len(values)
    return count


def run(args: argparse.Namespace) -> int:
    if args.list:
        return _list(args.experiments)
    if not args.name:
        raise InputError("give an experiment NAME or --list")
    exp = reproduce.experiment(args.name, args.experiments)
    if not args.out:
        raise InputError("--out: need a result folder")
    print(f"reproduce {exp.name}: {exp.title} ({exp.source}); estimated CPU time "
          f"{reproduce.describe(reproduce.estimate_seconds(exp))} on one core", flush=True)
    outcome = run_with_executor(exp.spec, args.out, args)
    report_outcome(outcome, args, "reproduce")
    paths = reproduce.result_paths(exp, args.out)
    if not paths:
        sys.stderr.write(f"luckbench reproduce: no finished runs in {args.out}; no report written\n")
        return 1
    from luckbench.commands.report import prepare_report_dir
    from luckbench.reports.report import write_report

    report_dir = Path(args.out) / "report"
    prepare_report_dir(report_dir, overwrite=True)  # its own report may be replaced, a foreign file never
    index = write_report(paths, report_dir)
    rows = reproduce.decided_rows(report_dir, exp.ledger)
    for row in rows:
        verdict = row.get("verdict_corrected") or row.get("verdict_printed") or "not run"
        print(f"  {row.get('id')}: {verdict} - {row.get('claim', '')}")
    if not rows:
        print(f"  (no ledger.json rows {', '.join(exp.ledger)} in {report_dir})")
    print(f"report: {index}")
    return 0 if outcome.ok else 1
