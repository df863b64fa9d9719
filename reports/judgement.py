"""The ledger's vocabulary: verdict words, a stored result, and one claim's judgement.

Every summarising function (``luckbench.reports.summaries_*``) returns a :class:`Judgement`:
the verdict as printed and as corrected (equal where the paper needs no correction), the formula
each tested, the one-sentence rule that decided it, the measured text, the number of seeds behind
an empirical verdict and the result files used.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Iterable

import xarray as xr

HOLDS, FAILS, INCONCLUSIVE, UNMET, NOT_RUN = "holds", "fails", "inconclusive", "preconditions unmet", "not run"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, UNMET, NOT_RUN)
MIN_SEEDS = 3  # an empirical holds / fails needs at least this many seeds (the paper used 5, v4 32)


@dataclasses.dataclass
class Result:
    """One stored result given to the report: its file, its data and its result_kind."""

    path: Path
    ds: xr.Dataset

    @property
    def kind(self) -> str:
        return str(self.ds.attrs.get("result_kind", "unknown"))

    @property
    def config(self) -> dict:
        """The stored configuration; {} when it is not a JSON object (such files are named at collection)."""
        try:
            cfg = json.loads(self.ds.attrs.get("config", "{}"))
        except (TypeError, json.JSONDecodeError):
            return {}
        return cfg if isinstance(cfg, dict) else {}


@dataclasses.dataclass
class Judgement:
    """Where one claim stands. ``verdict_printed`` is None when it equals ``verdict_corrected``."""

    verdict_corrected: str
    rule: str
    measured: str = ""
    verdict_printed: str | None = None
    formula_corrected: str = ""
    formula_printed: str | None = None
    n_seeds: int | None = None
    evidence: list[Path] = dataclasses.field(default_factory=list)
    theory: str = ""
    published: str = ""

    @property
    def printed(self) -> str:
        return self.verdict_corrected if self.verdict_printed is None else self.verdict_printed


def not_run(rule: str, why: str = "") -> Judgement:
    return Judgement(NOT_RUN, rule, measured=why)


def combine(verdicts: Iterable[str]) -> str:
    """Fold several verdicts for one claim: fails > holds > inconclusive > preconditions unmet > not run."""
    vs = set(verdicts)
    for v in (FAILS, HOLDS, INCONCLUSIVE, UNMET):
        if v in vs:
            return v
    return NOT_RUN


def conjunction(verdicts: Iterable[str]) -> str:
    """Several parts of one claim: fails if any part fails, holds only if every part holds, else the
    weakest of inconclusive / preconditions unmet / not run."""
    vs = set(verdicts)
    if not vs:
        return NOT_RUN
    if FAILS in vs:
        return FAILS
    if vs == {HOLDS}:
        return HOLDS
    for v in (INCONCLUSIVE, UNMET):
        if v in vs:
            return v
    return NOT_RUN


def fmt(x, digits: int = 3) -> str:
    """A number for a table: 3 significant digits, '-' for None/NaN, 'inf' kept."""
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


MAX_TEXTS = 6  # per ledger cell; a sweep's hundred runs are summarised by their count


def join(texts: list[str]) -> str:
    if len(texts) > MAX_TEXTS:
        texts = texts[:MAX_TEXTS - 1] + [f"... and {len(texts) - MAX_TEXTS + 1} more (see Results)"]
    return " | ".join(texts)


def var(ds: xr.Dataset, name: str):
    """``ds[name]`` or None when the result does not store it (older or partial results)."""
    return ds[name] if name in ds.variables else None
