"""``luckbench check [NAME ...]``: run the paper's assumptions, lemmas and theorems as checks.

    luckbench check [NAME ...] [--json] [--seed S] [--teacher W0,W1,...] [--student W0,W1,...]
                    [--bias/--no-bias] [--bn none|before|after] [--dtype float64|float32]
                    [--paper-mode] [--theta0 DEG] [--sigma S] [--eta ETA]
                    [--teacher-scheme paper|orthogonal|gaussian] [--out FILE.nc [--overwrite]]
                    [--max-memory GB] [--max-work GFLOP]

Names are those of ``luckbench.theory.checks.CHECKS`` (default: all, in registry order).
``--teacher 20,10,15,4`` means input 20, hidden 10 and 15, output 4; the student defaults to the
teacher with every hidden layer doubled. ``--theta0`` (degrees), ``--teacher-scheme`` and
``--sigma`` set the caps, teachers and input std of the closed-form checks (``--sigma`` also the
network checks' inputs); ``--eta`` is the step size of Theorems 4 and 5 (see
:class:`luckbench.theory.checks.CheckSetup`). Output: a readable table, or with ``--json`` one JSON
list of ``Verdict.to_dict()``. ``--out FILE.nc`` also stores the verdicts (netCDF, written
atomically) as :func:`luckbench.theory.verdict.verdicts_dataset` builds them.
Exit 0 when every check ran (whatever it found), 2 on bad input (one line on stderr), including
setups whose estimated cost (``luckbench.estimates.check_needs``) exceeds the resource limits.
"""
from __future__ import annotations

import argparse
import json

from luckbench import resources, store
from luckbench.config import parse_widths, seed_argument
from luckbench.estimates import CHECK_MAX_WORK, check_needs


def add_parser(parser: argparse.ArgumentParser) -> None:
    from luckbench.theory.checks import CHECKS, CheckSetup
    from luckbench.theory.geometry import TEACHER_SCHEMES

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
    parser.add_argument("--theta0", type=float, default=CheckSetup.theta0_deg, metavar="DEG",
                        help=f"cap half-angle of the closed-form checks, degrees in (0, 180) "
                             f"(default: {CheckSetup.theta0_deg:g})")
    parser.add_argument("--sigma", type=float, default=CheckSetup.sigma, metavar="S",
                        help=f"input standard deviation, x ~ N(0, S^2 I) (default: {CheckSetup.sigma:g}, the paper's)")
    parser.add_argument("--eta", type=float, default=None, metavar="ETA",
                        help="step size of Theorems 4 and 5, in (0, 1] (default: 0.1 and 0.01)")
    parser.add_argument("--teacher-scheme", choices=TEACHER_SCHEMES, default=CheckSetup.teacher_scheme,
                        help=f"first-layer teacher rows of the closed-form checks (default: {CheckSetup.teacher_scheme})")
    parser.add_argument("--out", default=None, metavar="FILE.nc", help="also store the verdicts as netCDF")
    store.add_overwrite_argument(parser)
    resources.add_arguments(parser)


def setup_from_args(args: argparse.Namespace):
    """The :class:`CheckSetup` the flags describe (InputError on bad widths, seed, angle, std or step,
    or sizes beyond the resource limits)."""
    from luckbench.theory.checks import CheckSetup

    kwargs = {}
    if args.teacher is not None:
        kwargs["teacher"] = parse_widths(args.teacher, "--teacher")
    if args.student is not None:
        kwargs["student"] = parse_widths(args.student, "--student")
    setup = CheckSetup(bias=args.bias, bn=args.bn, dtype=args.dtype, seed=args.seed, paper_mode=args.paper_mode,
                       theta0_deg=args.theta0, sigma=args.sigma, eta=args.eta, teacher_scheme=args.teacher_scheme,
                       **kwargs)
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
    """A fixed-width table: name, kind, verdict word, value, bound, tolerance, statement."""
    header = ("check", "kind", "verdict", "value", "bound", "tolerance", "statement")
    rows = [header] + [(v.name, v.kind, v.word, _fmt(v.value),
                        _fmt(v.bound), _fmt(v.tolerance), v.statement) for v in verdicts]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
    lines.insert(1, "-" * min(120, len(lines[0])))
    return "\n".join(lines)


def preflight(args: argparse.Namespace):
    """(names, setup) the flags describe: unknown names, bad widths and sizes beyond the limits are refused."""
    from luckbench.theory.checks import CHECKS, resolve

    names = list(args.names) or list(CHECKS)
    for name in names:
        resolve(name)
    return names, setup_from_args(args)


def run(args: argparse.Namespace) -> int:
    from luckbench.theory.checks import run_checks
    from luckbench.theory.verdict import verdicts_dataset

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
