"""The claims ledger: one row per claim of :data:`luckbench.reports.claims.CLAIMS`, filled from results.

Each row has two verdicts, **as printed** (the paper's formula) and **as corrected** (ours; equal
where the paper needs no correction), each with the formula tested, the one-sentence rule that
decided it, what was measured, the published number, ``n_seeds`` (None for theory rows) and the
result files used. :func:`rows_json` is the content of ``DIR/ledger.json``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

from luckbench.reports.claims import CLAIMS, Claim
from luckbench.reports.judgement import FAILS, HOLDS, INCONCLUSIVE, MIN_SEEDS, NOT_RUN, Judgement, Result
from luckbench.reports import summaries_bn, summaries_checks, summaries_sim, summaries_train


@dataclasses.dataclass
class Row:
    """One claim and where it stands."""

    id: str
    claim: str
    source: str
    verdict_printed: str
    verdict_corrected: str
    rule: str
    n_seeds: int | None
    measured: str
    published: str
    evidence: list[Path]
    theory: str = ""
    formula_printed: str = ""
    formula_corrected: str = ""


def _row(claim: Claim, j: Judgement) -> Row:
    corrected = j.verdict_corrected
    if claim.empirical and corrected in (HOLDS, FAILS) and (j.n_seeds is None or j.n_seeds < MIN_SEEDS):
        corrected = INCONCLUSIVE  # the ledger's own guard: no empirical holds / fails below MIN_SEEDS seeds
    printed = corrected if j.verdict_printed is None else j.verdict_printed
    return Row(claim.id, claim.claim, claim.source, printed, corrected, j.rule, j.n_seeds if claim.empirical else None,
               j.measured, j.published or claim.published, list(dict.fromkeys(j.evidence)),
               theory=j.theory or claim.theory, formula_corrected=j.formula_corrected,
               formula_printed=j.formula_corrected if j.formula_printed is None else j.formula_printed)


def build(results: list[Result]) -> list[Row]:
    """All ledger rows for the given results, in the registry's (the paper's) order."""
    by_kind: dict[str, list[Result]] = defaultdict(list)
    for res in results:
        by_kind[res.kind].append(res)
    return [_row(claim, _judge(claim, by_kind)) for claim in CLAIMS]


def _judge(claim: Claim, by_kind: dict) -> Judgement:
    """The claim's judgement; a judge that raises on unexpected data leaves its row 'not run', named."""
    try:
        return claim.judge(by_kind)
    except Exception as exc:  # one odd result must not lose the report
        sys.stderr.write(f"luckbench report: judging {claim.id} failed: {type(exc).__name__}: {exc}\n")
        return Judgement(NOT_RUN, f"{claim.id}: its judge failed on the stored results, so no rule was applied.",
                         measured=f"judging failed: {type(exc).__name__}: {exc}")


def rows_json(rows: list[Row], relative_to: Path) -> str:
    """``ledger.json``: a list of rows with id, claim, source, verdict_printed, verdict_corrected, rule,
    n_seeds, measured, published, evidence (result paths relative to the report folder) and the formulas."""
    def rel(p: Path) -> str:
        return Path(os.path.relpath(Path(p).resolve(), Path(relative_to).resolve())).as_posix()

    return json.dumps([{**dataclasses.asdict(r), "evidence": [rel(p) for p in r.evidence]} for r in rows], indent=1)


def summary(res: Result) -> str:
    """One line on what a stored result shows, for the report's per-result section."""
    ds, kind = res.ds, res.kind
    if kind == "checks":
        counts: dict[str, int] = defaultdict(int)
        for c in summaries_checks.check_rows(ds):
            counts[c["verdict"]] += 1
        return ", ".join(f"{n} {v}" for v, n in counts.items())
    if kind == "feasibility":
        return summaries_checks.feasibility_summary(ds)
    if kind == "thm4":
        return " ".join(summaries_sim.thm4_envelope(ds))
    if kind == "overparam":
        return summaries_sim.overparam_luck(ds)
    if kind == "bn_audit":
        nums = summaries_bn.bn_numbers(ds)
        return summaries_bn.bn_text(ds, nums) if nums else ""
    if kind == "train":
        return summaries_train.protocol(res.config)
    return ""
