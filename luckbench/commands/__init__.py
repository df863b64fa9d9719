"""One module per ``luckbench`` subcommand: ``add_parser(parser)`` and ``run(args) -> int``."""
from __future__ import annotations

import argparse


def add_experiment_parsers(parser: argparse.ArgumentParser, experiments: dict) -> dict[str, argparse.ArgumentParser]:
    """One sub-parser per experiment ``name -> (config dataclass, runner, help)``: the config's fields as
    flags, ``--out FILE.nc`` and ``--overwrite``; returns the sub-parsers for command-specific flags."""
    from luckbench import store
    from luckbench.config import add_dataclass_arguments

    sub = parser.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True,
                                parser_class=type(parser))
    parsers = {}
    for name, (cls, _, help_text) in experiments.items():
        p = parsers[name] = sub.add_parser(name, help=help_text, description=help_text)
        add_dataclass_arguments(p, cls)
        p.add_argument("--out", required=True, metavar="FILE.nc", help="result file (netCDF)")
        store.add_overwrite_argument(p)
    return parsers
