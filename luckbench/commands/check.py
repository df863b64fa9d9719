"""``luckbench check [NAME ...]``: run the paper's assumptions, lemmas and theorems as checks.

    luckbench check [NAME ...] [--json] [--seed S] [--teacher W0,W1,...] [--student W0,W1,...]
                    [--bias/--no-bias] [--bn none|before|after] [--dtype float64|float32]
                    [--paper-mode] [--out FILE.nc [--overwrite]] [--max-memory GB] [--max-work GFLOP]

Names are those of ``luckbench.theory.checks.CHECKS`` (default: all, in registry order).
``--teacher 20,10,15,4`` means input 20, hidden 10 and 15, output 4; the student defaults to the
teacher with every hidden layer doubled. Output: a readable table, or with ``--json`` one JSON
list of ``Verdict.to_dict()``. ``--out FILE.nc`` also stores the verdicts (netCDF, written
atomically): dimension ``check`` (coordinate = check names), variables ``holds`` (int8: 1 true,
0 false, -1 none), ``value``, ``bound``, ``tolerance`` (float64, NaN for none), strings ``kind``,
``statement`` and ``details`` (JSON per check); attribute ``result_kind = "checks"``.
Exit 0 when every check ran (whatever it found), 2 on bad input (one line on stderr), including
setups whose estimated cost (``luckbench.estimates.check_needs``) exceeds the resource limits.
"""
from __future__ import annotations

import argparse
import json
import math

import numpy as np

from luckbench import resources, store
from luckbench.config import parse_widths, seed_argument
from luckbench.estimates import CHECK_MAX_WORK, check_needs


def add_parser(parser: argparse.ArgumentParser) -> None:
    from luckbench.theory.checks import CHECKS

    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"checks to run (default: all): {', '.join(CHECKS)}")
    parser.add_argument("--json", action="store_true", help="print one JSON list of verdicts instead of a table")
    seed_argument(parser, help="random seed of networks and samples, in [0, 2^63) (default: 0)")
    parser.add_argument("--teacher", default=None, metavar="W0,W1,...",
                        help="teacher widths: input, hidden..., output (default: 20,10,15,4)")
    parser.add_argument("--student", default=None, metavar="W0,W1,...",
                        help="student widths (default: the teacher's with hidden layers doubled)")
    parser.add_argument("--bias", action=argparse.BooleanOptionalAction, default=True,
                        help="linear layers with biases (default: on)")
    parser.add_argument("--bn", choices=("none", "before", "after"), default="none",
                        help="BatchNorm before or after the ReLU, or none (default: none)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="floating-point type of the networks (default: float64)")
    parser.add_argument("--paper-mode", action=argparse.BooleanOptionalAction, default=False,
                        help="evaluate the paper's printed formulas instead of the corrected ones")
    parser.add_argument("--out", default=None, metavar="FILE.nc", help="also store the verdicts as netCDF")
    store.add_overwrite_argument(parser)
    resources.add_arguments(parser)


def setup_from_args(args: argparse.Namespace):
    """The :class:`CheckSetup` the flags describe (InputError on bad widths, or sizes beyond the resource limits)."""
    from luckbench.theory.checks import CheckSetup

    kwargs = {}
    if args.teacher is not None:
        kwargs["teacher"] = parse_widths(args.teacher, "--teacher")
    if args.student is not None:
        kwargs["student"] = parse_widths(args.student, "--student")
    setup = CheckSetup(bias=args.bias, bn=args.bn, dtype=args.dtype, seed=args.seed,
                       paper_mode=args.paper_mode, **kwargs)
    resources.guard(check_needs(setup.teacher, setup.student_widths),
                    resources.limits(args, default_work=CHECK_MAX_WORK))
    return setup


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, (int, float)):
        return f"{x:.3g}"
    return str(x)


def format_table(verdicts) -> str:
    """A fixed-width table: name, kind, holds, value, bound, tolerance, statement."""
    header = ("check", "kind", "holds", "value", "bound", "tolerance", "statement")
    rows = [header] + [(v.name, v.kind, {True: "yes", False: "NO", None: "n/a"}[v.holds], _fmt(v.value),
                        _fmt(v.bound), _fmt(v.tolerance), v.statement) for v in verdicts]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
    lines.insert(1, "-" * min(120, len(lines[0])))
    return "\n".join(lines)


def _num(x) -> float:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else math.nan


def verdicts_dataset(verdicts):
    """The verdicts as an ``xarray.Dataset`` over dimension ``check`` (module docstring)."""
    import xarray as xr

    from luckbench.store import to_json

    dicts = [v.to_dict() for v in verdicts]
    holds = np.array([-1 if d["holds"] is None else int(d["holds"]) for d in dicts], dtype=np.int8)
    ds = xr.Dataset(
        {
            "holds": ("check", holds, {"long_name": "check outcome", "flag_values": "1 true, 0 false, -1 none"}),
            "value": ("check", np.array([_num(v.value) for v in verdicts]), {"long_name": "measured value"}),
            "bound": ("check", np.array([_num(v.bound) for v in verdicts]), {"long_name": "compared against"}),
            "tolerance": ("check", np.array([_num(v.tolerance) for v in verdicts]),
                          {"long_name": "float slack allowed"}),
            "kind": ("check", np.array([d["kind"] for d in dicts], dtype=object)),
            "statement": ("check", np.array([d["statement"] for d in dicts], dtype=object)),
            "details": ("check", np.array([to_json(d["details"]) for d in dicts], dtype=object),
                        {"long_name": "JSON object of further named numbers"}),
        },
        coords={"check": np.array([v.name for v in verdicts], dtype=object)},
    )
    ds.attrs["result_kind"] = "checks"
    return ds


def preflight(args: argparse.Namespace):
    """(names, setup) the flags describe: unknown names, bad widths and sizes beyond the limits are refused."""
    from luckbench.theory.checks import CHECKS, resolve

    names = list(args.names) or list(CHECKS)
    for name in names:
        resolve(name)
    return names, setup_from_args(args)


def run(args: argparse.Namespace) -> int:
    from luckbench.theory.checks import run_checks

    names, setup = preflight(args)
    if args.out is not None:
        store.prepare_output(args.out, overwrite=args.overwrite)
    verdicts = run_checks(names, setup)  # validates every name before running any check
    if args.out is not None:
        store.write_dataset(verdicts_dataset(verdicts), args.out, config={"names": names, "setup": setup},
                            seed=setup.seed, overwrite=args.overwrite)
    if args.json:
        print(json.dumps([v.to_dict() for v in verdicts]))
    else:
        print(format_table(verdicts))
    return 0
