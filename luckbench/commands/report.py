"""``luckbench report RESULT_OR_DIR ... --out DIR``: the comparison report with the claims ledger.

Writes ``DIR/index.md``, a self-contained ``DIR/index.html`` (PNG figures in ``DIR/figures``) and
``DIR/ledger.json`` (one object per claim: id, claim, source, verdict_printed, verdict_corrected,
rule, n_seeds, measured, published, evidence), each atomically, and prints the path of
``index.html``. Unusable files (corrupt or foreign netCDF, a non-JSON configuration, missing or
all-NaN variables, a second copy of one run) are named on stderr and in the report, and skipped; a
path that does not exist is an error (exit code 2).
"""
from __future__ import annotations

import argparse

from luckbench.reports.report import write_report


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", metavar="RESULT_OR_DIR",
                        help="result files (.nc) or folders searched recursively for *.nc")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for index.md, index.html, ledger.json, figures/")


def run(args: argparse.Namespace) -> int:
    print(write_report(args.results, args.out))
    return 0
