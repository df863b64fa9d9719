"""``luckbench check [NAME ...]``: run the paper's assumptions, lemmas and theorems as checks.

    luckbench check [NAME ...] [--json] [--seed S] [--teacher W0,W1,...] [--student W0,W1,...]
                    [--bias/--no-bias] [--bn none|before|after] [--dtype float64|float32]
                    [--paper-mode] [--out FILE.nc]

Names are those of ``luckbench.theory.checks.CHECKS`` (default: all, in registry order).
``--teacher 20,10,15,4`` means input 20, hidden 10 and 15, output 4; the student defaults to the
teacher with every hidden layer doubled. Output: a readable table, or with ``--json`` one JSON
list of ``Verdict.to_dict()``. ``--out FILE.nc`` also stores the verdicts (netCDF, written
atomically): dimension ``check`` (coordinate = check names), variables ``holds`` (int8: 1 true,
0 false, -1 none), ``value``, ``bound``, ``tolerance`` (float64, NaN for none), strings ``kind``,
``statement`` and ``details`` (JSON per check); attribute ``result_kind = "checks"``.
Exit 0 when every check ran (whatever it found), 2 on bad input (one line on stderr).
"""
from __future__ import annotations

import argparse
import json
import math

import numpy as np

from luckbench.config import parse_widths
from luckbench.errors import InputError

MAX_LAYER_WEIGHTS = 5_000_000  # refuse widths whose largest weight matrix exceeds this (check cost)
MAX_HIDDEN = 2_000  # per-sample beta matrices are hidden x hidden (Assumption 1 / Theorem 2)


def add_parser(parser: argparse.ArgumentParser) -> None:
    from luckbench.theory.checks import CHECKS

    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"checks to run (default: all): {', '.join(CHECKS)}")
    parser.add_argument("--json", action="store_true", help="print one JSON list of verdicts instead of a table")
    parser.add_argument("--seed", type=int, default=0, help="random seed of networks and samples (default: 0)")
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


def setup_from_args(args: argparse.Namespace):
    """The :class:`CheckSetup` the flags describe (InputError on bad widths or seed)."""
    from luckbench.theory.checks import CheckSetup

    if args.seed < 0:
        raise InputError(f"--seed: must be >= 0, got {args.seed}")
    kwargs = {}
    if args.teacher is not None:
        kwargs["teacher"] = parse_widths(args.teacher, "--teacher")
    if args.student is not None:
        kwargs["student"] = parse_widths(args.student, "--student")
    setup = CheckSetup(bias=args.bias, bn=args.bn, dtype=args.dtype, seed=args.seed,
                       paper_mode=args.paper_mode, **kwargs)
    for what, widths in (("--teacher", setup.teacher), ("--student", setup.student_widths)):
        if max(widths[1:-1], default=0) > MAX_HIDDEN:
            raise InputError(f"{what}: hidden widths above {MAX_HIDDEN} are too large for the checks, got {widths}")
        biggest = max(a * b for a, b in zip(widths[:-1], widths[1:]))
        if biggest > MAX_LAYER_WEIGHTS:
            raise InputError(f"{what}: a layer with {biggest} weights is too large for the checks "
                             f"(limit {MAX_LAYER_WEIGHTS})")
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
            "holds": ("check", holds),  # long_name, numeric flag_values: luckbench.metadata
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


def run(args: argparse.Namespace) -> int:
    from luckbench.theory.checks import CHECKS, run_checks

    setup = setup_from_args(args)
    names = list(args.names) or list(CHECKS)
    verdicts = run_checks(names, setup)  # validates every name before running any check
    if args.out:
        from luckbench.store import write_dataset

        write_dataset(verdicts_dataset(verdicts), args.out, config={"names": names, "setup": setup}, seed=setup.seed)
    if args.json:
        print(json.dumps([v.to_dict() for v in verdicts]))
    else:
        print(format_table(verdicts))
    return 0
