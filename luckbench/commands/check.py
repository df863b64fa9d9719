"""``luckbench check [NAME ...]``: run the paper's assumptions, lemmas and theorems as checks.

    luckbench check [NAME ...] [--json] [--seed S] [--teacher W0,W1,...] [--student W0,W1,...]
                    [--bias/--no-bias] [--bn none|before|after] [--dtype float64|float32]
                    [--paper-mode] [--theta0 DEG] [--sigma S] [--eta ETA]
                    [--teacher-scheme paper|orthogonal|gaussian] [--out FILE.nc]

Names are those of ``luckbench.theory.checks.CHECKS`` (default: all, in registry order).
``--teacher 20,10,15,4`` means input 20, hidden 10 and 15, output 4; the student defaults to the
teacher with every hidden layer doubled. ``--theta0`` (degrees), ``--teacher-scheme`` and
``--sigma`` set the caps, teachers and input std of the closed-form checks (``--sigma`` also the
network checks' inputs); ``--eta`` is the step size of Theorems 4 and 5 (see
:class:`luckbench.theory.checks.CheckSetup`). Output: a readable table, or with ``--json`` one JSON
list of ``Verdict.to_dict()``. ``--out FILE.nc`` also stores the verdicts (netCDF, written
atomically) as :func:`luckbench.theory.verdict.verdicts_dataset` builds them.
Exit 0 when every check ran (whatever it found), 2 on bad input (one line on stderr).
"""
from __future__ import annotations

import argparse
import json

from luckbench.config import parse_widths
from luckbench.errors import InputError

MAX_LAYER_WEIGHTS = 5_000_000  # refuse widths whose largest weight matrix exceeds this (check cost)
MAX_HIDDEN = 2_000  # per-sample beta matrices are hidden x hidden (Assumption 1 / Theorem 2)


def add_parser(parser: argparse.ArgumentParser) -> None:
    from luckbench.theory.checks import CHECKS, CheckSetup
    from luckbench.theory.geometry import TEACHER_SCHEMES

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


def setup_from_args(args: argparse.Namespace):
    """The :class:`CheckSetup` the flags describe (InputError on bad widths, seed, angle, std or step)."""
    from luckbench.theory.checks import CheckSetup

    if args.seed < 0:
        raise InputError(f"--seed: must be >= 0, got {args.seed}")
    kwargs = {}
    if args.teacher is not None:
        kwargs["teacher"] = parse_widths(args.teacher, "--teacher")
    if args.student is not None:
        kwargs["student"] = parse_widths(args.student, "--student")
    setup = CheckSetup(bias=args.bias, bn=args.bn, dtype=args.dtype, seed=args.seed, paper_mode=args.paper_mode,
                       theta0_deg=args.theta0, sigma=args.sigma, eta=args.eta, teacher_scheme=args.teacher_scheme,
                       **kwargs)
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
    """A fixed-width table: name, kind, verdict word, value, bound, tolerance, statement."""
    header = ("check", "kind", "verdict", "value", "bound", "tolerance", "statement")
    rows = [header] + [(v.name, v.kind, v.word, _fmt(v.value),
                        _fmt(v.bound), _fmt(v.tolerance), v.statement) for v in verdicts]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
    lines.insert(1, "-" * min(120, len(lines[0])))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from luckbench.theory.checks import CHECKS, run_checks

    setup = setup_from_args(args)
    names = list(args.names) or list(CHECKS)
    verdicts = run_checks(names, setup)  # validates every name before running any check
    if args.out:
        from luckbench.store import write_dataset
        from luckbench.theory.verdict import verdicts_dataset

        write_dataset(verdicts_dataset(verdicts), args.out, config={"names": names, "setup": setup}, seed=setup.seed)
    if args.json:
        print(json.dumps([v.to_dict() for v in verdicts]))
    else:
        print(format_table(verdicts))
    return 0
