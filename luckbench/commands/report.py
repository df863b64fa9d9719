"""``luckbench report RESULT_OR_DIR ... --out DIR``: the comparison report with the claims ledger.

Writes ``DIR/index.md``, a self-contained ``DIR/index.html`` (PNG figures in ``DIR/figures``) and
``DIR/ledger.json`` (one object per claim: id, claim, source, verdict_printed, verdict_corrected,
rule, n_seeds, measured, published, evidence), each atomically, and prints the path of
``index.html``. Unusable files (corrupt or foreign netCDF, a non-JSON configuration, missing or
all-NaN variables, a second copy of one run) are named on stderr and in the report, and skipped; a
path that does not exist is an error (exit code 2).
An earlier report in DIR is replaced only with ``--overwrite``; other files named index.md /
index.html / ledger.json never are.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from luckbench import store
from luckbench.errors import InputError

TITLE = b"luckbench report"  # the first heading of every report, Markdown and HTML alike
LEDGER_KEYS = {"id", "verdict_printed", "verdict_corrected", "rule"}  # keys of every ledger.json row


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", metavar="RESULT_OR_DIR",
                        help="result files (.nc) or folders searched recursively for *.nc")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for index.md, index.html, ledger.json, figures/")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier luckbench report in DIR (other files are never replaced)")


def is_report_file(path: Path) -> bool:
    """True when ``path`` starts like a page luckbench report wrote (its title within the first 4 kB)."""
    with open(path, "rb") as f:
        return TITLE in f.read(4096)


def is_ledger_file(path: Path, limit: int = 16 << 20) -> bool:
    """True when ``path`` is a ledger.json luckbench wrote: a JSON list of rows with the ledger's keys."""
    if path.stat().st_size > limit:
        return False
    try:
        rows = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(rows, list) and all(isinstance(r, dict) and LEDGER_KEYS <= r.keys() for r in rows)


# the files of DIR a report replaces, each with the test that it is ours
REPORT_FILES = {"index.md": is_report_file, "index.html": is_report_file, "ledger.json": is_ledger_file}


def prepare_report_dir(out: str, overwrite: bool) -> None:
    """Refuse (InputError) a report folder whose report files are foreign, or an earlier report without ``overwrite``."""
    if not str(out).strip():
        raise InputError("--out: need a folder name")
    for name, is_ours in REPORT_FILES.items():
        store.prepare_output(Path(out) / name, overwrite=overwrite, is_ours=is_ours)


def run(args: argparse.Namespace) -> int:
    from luckbench.reports.report import write_report

    prepare_report_dir(args.out, args.overwrite)
    print(write_report(args.results, args.out))
    return 0
