"""B1-B3, the beyond-the-paper experiments (``luckbench beyond lottery|hessian|prune``).

Their judges live with the experiments, in ``luckbench.reports.beyond_rows`` (``judge_lottery``,
``judge_hessian``, ``judge_prune``: a list of Datasets in, a dict with ``verdict``, ``rule``,
``measured``, ``n_seeds`` and optionally ``published`` out). Without results of the kind the row
says ``not run`` with the registry's rule; with results but no judge module it names the gap.
"""
from __future__ import annotations

import importlib

from luckbench.reports.judgement import INCONCLUSIVE, MIN_SEEDS, NOT_RUN, VERDICTS, Judgement

KINDS = {"lottery": "beyond-lottery", "hessian": "beyond-hessian", "prune": "beyond-prune"}


def judge_beyond(by_kind: dict, which: str, rule: str) -> Judgement:
    results = by_kind.get(KINDS[which], [])
    if not results:
        return Judgement(NOT_RUN, rule, measured=f"needs `luckbench beyond {which}` results")
    try:
        judge = getattr(importlib.import_module("luckbench.reports.beyond_rows"), f"judge_{which}")
    except (ImportError, AttributeError) as exc:
        return Judgement(NOT_RUN, rule, measured=f"{len(results)} results, but no judge ({exc})",
                         evidence=[r.path for r in results])
    out = judge([r.ds for r in results])
    verdict = out.get("verdict", NOT_RUN)
    n = out.get("n_seeds")
    if verdict not in VERDICTS:
        verdict = NOT_RUN
    if verdict in ("holds", "fails") and (n is None or n < MIN_SEEDS):
        verdict = INCONCLUSIVE  # the ledger's rule for every empirical row, whatever the judge said
    return Judgement(verdict, out.get("rule") or rule, measured=str(out.get("measured") or ""), n_seeds=n,
                     evidence=[r.path for r in results], published=str(out.get("published") or ""))
