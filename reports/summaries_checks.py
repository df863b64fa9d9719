"""Theory rows from ``luckbench check`` results (result_kind ``checks``) and feasibility maps.

A checks result stores one verdict per check and its configuration (``setup.paper_mode``). A row's
``verdict_corrected`` comes from the results run with the corrected forms (the default), its
``verdict_printed`` from those run with ``--paper-mode`` (the paper's printed formulas); a check
the paper needs no correction for has one verdict for both. Each verdict names the formula it
tested: the check's statement and its ``details["form"]``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import xarray as xr

from luckbench.reports.judgement import (FAILS, HOLDS, NOT_RUN, UNMET, Judgement, Result, combine, fmt, join)


def holds_word(holds) -> str:
    """Stored convention 1 / 0 / -1 (or True / False / None) -> verdict word."""
    if holds is None:
        return UNMET
    try:
        h = int(holds)
    except (TypeError, ValueError):
        return UNMET
    return {1: HOLDS, 0: FAILS}.get(h, UNMET)


def check_rows(ds: xr.Dataset) -> list[dict]:
    """The stored checks as dicts: name, kind, statement, verdict, value, bound, tolerance, details."""
    dim = "check"
    if dim not in ds.dims:
        return []
    names = [str(n) for n in (ds["name"].values if "name" in ds.variables else ds[dim].values)]
    rows = []
    for i, name in enumerate(names):
        def get(v, default=None):
            return ds[v].values[i] if v in ds.variables and dim in ds[v].dims else default

        try:
            details = json.loads(str(get("details", "{}")))
        except json.JSONDecodeError:
            details = {"raw": str(get("details"))}
        rows.append({"name": name, "kind": str(get("kind", "")), "statement": str(get("statement", "")),
                     "verdict": holds_word(get("holds")), "value": get("value"), "bound": get("bound"),
                     "tolerance": get("tolerance"), "details": details if isinstance(details, dict) else {}})
    return rows


def details_text(details: dict, limit: int = 6) -> str:
    items = [(k, v) for k, v in details.items()
             if k not in ("form", "reason") and isinstance(v, (int, float, bool, str)) and len(str(v)) < 40]
    return ", ".join(f"{k} = {fmt(v) if not isinstance(v, (bool, str)) else v}" for k, v in items[:limit])


def is_paper_mode(config: dict) -> bool:
    """Whether a checks result ran the printed forms (``luckbench check --paper-mode``)."""
    setup = config.get("setup", {})
    return bool(setup.get("paper_mode")) if isinstance(setup, dict) else False


def _found(results: list[Result], check: str) -> list[tuple[Path, dict]]:
    return [(res.path, c) for res in results for c in check_rows(res.ds) if c["name"] == check]


def _formula(c: dict) -> str:
    form = c["details"].get("form")
    return c["statement"] + (f" [{form}]" if form else "")


def _value_text(c: dict) -> str:
    tol = c["tolerance"]
    tol_text = f" (tol {fmt(tol)})" if tol is not None and not (isinstance(tol, float) and math.isnan(tol)) else ""
    extra = details_text(c["details"])
    reason = c["details"].get("reason")
    return (f"value {fmt(c['value'])} vs bound {fmt(c['bound'])}{tol_text}: {c['verdict']}"
            + (f"; {extra}" if extra else "") + (f"; {reason}" if reason else ""))


def unmet_condition(c: dict) -> str:
    """The failed precondition of an unmet check, in words: its ``reason`` or the infinite constant."""
    d = c["details"]
    if d.get("reason"):
        return str(d["reason"])
    infinite = [k for k, v in d.items() if isinstance(v, (int, float, str)) and str(v) in ("inf", "Infinity")
                or isinstance(v, float) and math.isinf(v)]
    return ", ".join(f"{k} = inf" for k in infinite)


def judge_check(by_kind: dict, check: str, rule: str, corrected: bool = True) -> Judgement:
    """One theory row from every stored check named ``check``; ``corrected=False``: the paper's form
    needs no correction, so the printed verdict is the corrected one."""
    split = {True: [], False: []}
    for res in by_kind.get("checks", []):
        split[is_paper_mode(res.config)].append(res)
    fixed, printed = _found(split[False], check), _found(split[True], check)
    if not corrected:
        fixed, printed = fixed + printed, []
    if not fixed and not printed:
        return Judgement(NOT_RUN, rule, measured=f"no stored `{check}` check")
    texts, unmet = [], []
    for label, found in (("corrected", fixed), ("printed", printed)):
        for _, c in found:
            texts.append(f"{label if corrected else 'check'}: {_value_text(c)}")
            if c["verdict"] == UNMET and unmet_condition(c):
                unmet.append(unmet_condition(c))
    v_fixed = combine(c["verdict"] for _, c in fixed)
    v_printed = combine(c["verdict"] for _, c in printed) if corrected else None
    if corrected and not printed:
        texts.append("printed form not run (`luckbench check --paper-mode`)")
    full_rule = rule + (f" Failed precondition: {'; '.join(dict.fromkeys(unmet))}." if unmet else "")
    return Judgement(v_fixed, full_rule, measured=join(texts), verdict_printed=v_printed,
                     formula_corrected=_formula(fixed[0][1]) if fixed else "",
                     formula_printed=(_formula(printed[0][1]) if printed else None) if corrected else None,
                     evidence=[p for p, _ in fixed + printed],
                     theory=(fixed or printed)[0][1]["statement"])


# --- feasibility maps --------------------------------------------------------------------------

def map_name(ds: xr.Dataset) -> str:
    """Which theorem a feasibility map is for: attribute ``map`` (theory.feasibility) or ``theorem``."""
    return str(ds.attrs.get("map", ds.attrs.get("theorem", "")))


def feasibility_summary(ds: xr.Dataset) -> str:
    """'feasible on k of N grid points over (dims); largest feasible ...' for one feasibility map."""
    if "feasible" not in ds.variables:
        return "feasibility map without a `feasible` variable"
    feas = np.asarray(ds["feasible"].values).astype(bool)
    dims = ds["feasible"].dims
    text = f"feasible on {int(feas.sum())} of {feas.size} grid points over ({', '.join(dims)})"
    if feas.any() and len(dims) == 2:
        a, b = dims
        bvals = ds[b].values
        best = [bvals[feas[i]].max() for i in range(feas.shape[0]) if feas[i].any()]
        avals = [ds[a].values[i] for i in range(feas.shape[0]) if feas[i].any()]
        text += f"; largest feasible {b} = {fmt(max(best))} (at {a} = {fmt(avals[int(np.argmax(best))])})"
    return text


def feasibility_texts(by_kind: dict, theorem: str) -> tuple[list[str], list[Path]]:
    texts, paths = [], []
    for res in by_kind.get("feasibility", []):
        if map_name(res.ds) == theorem:
            texts.append(f"{theorem} map: {feasibility_summary(res.ds)}")
            paths.append(res.path)
    return texts, paths
