"""The result type every check returns (README.md, "Python API and command line"), and its Dataset form.

A :class:`Verdict` prints as one line in a terminal (``repr``) and as a small table in a notebook
(``_repr_html_``); :func:`verdicts_dataset` turns a list of them into the ``xarray.Dataset`` that
``luckbench check --out`` stores.
"""
from __future__ import annotations

import dataclasses
import html
import math
from typing import Any, Literal

import numpy as np

from luckbench import jsonsafe

Kind = Literal["exact", "bound", "assumption"]

# the project's verdict words for holds = True / False / None
WORDS = {True: "holds", False: "fails", None: "preconditions unmet"}
HOLDS_FLAGS = {1: "holds", 0: "fails", -1: "preconditions_unmet"}  # stored int8 codes of ``holds``


def _short(x: Any) -> str:
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.4g}"
    return "-" if x is None else str(x)


@dataclasses.dataclass
class Verdict:
    """Outcome of one check of the paper.

    ``holds`` is True/False, or None when the check's preconditions fail (the statement is then
    vacuous here). ``value`` is what was measured, ``bound`` what it is compared against and
    ``tolerance`` the slack allowed for float error; ``details`` holds further named numbers.
    """

    name: str
    statement: str
    kind: Kind
    holds: bool | None
    value: float | None = None
    bound: float | None = None
    tolerance: float | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def word(self) -> str:
        """holds / fails / preconditions unmet."""
        return WORDS[None if self.holds is None else bool(self.holds)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict; non-finite numbers become "inf" / "-inf" / "nan" (:mod:`luckbench.jsonsafe`)."""
        return {
            "name": self.name,
            "statement": self.statement,
            "kind": self.kind,
            "holds": None if self.holds is None else bool(self.holds),
            "value": jsonsafe.jsonable(self.value),
            "bound": jsonsafe.jsonable(self.bound),
            "tolerance": jsonsafe.jsonable(self.tolerance),
            "details": jsonsafe.jsonable(self.details),
        }

    def __repr__(self) -> str:
        return (f"Verdict({self.name}: {self.word}, value={_short(self.value)}, bound={_short(self.bound)}, "
                f"{len(self.details)} details)")

    def _repr_html_(self) -> str:
        rows = [("check", self.name), ("verdict", self.word), ("kind", self.kind), ("statement", self.statement),
                ("value", _short(self.value)), ("bound", _short(self.bound)), ("tolerance", _short(self.tolerance))]
        rows += [(f"details.{k}", _short(v)) for k, v in self.details.items()]
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                       f"{html.escape(v)}</td></tr>" for k, v in rows)
        return f"<table>{body}</table>"


def _number(x) -> float:
    return float(x) if isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) else math.nan


def verdicts_dataset(verdicts: list[Verdict]):
    """The verdicts as an ``xarray.Dataset`` over dimension ``check`` (coordinate = check names).

    Variables: ``holds`` (int8: 1 holds, 0 fails, -1 preconditions unmet; CF flag_values /
    flag_meanings), ``value``, ``bound``, ``tolerance`` (float64, NaN for none), strings ``kind``,
    ``statement`` and ``details`` (strict JSON per check); attribute ``result_kind = "checks"``.
    """
    import xarray as xr

    dicts = [v.to_dict() for v in verdicts]
    holds = np.array([-1 if d["holds"] is None else int(d["holds"]) for d in dicts], dtype=np.int8)
    numbers = {f: np.array([_number(getattr(v, f)) for v in verdicts], dtype=np.float64)
               for f in ("value", "bound", "tolerance")}
    ds = xr.Dataset(
        {
            "holds": ("check", holds, {"long_name": "check outcome", "units": "1",
                                       "flag_values": np.array(list(HOLDS_FLAGS), dtype=np.int8),
                                       "flag_meanings": " ".join(HOLDS_FLAGS.values())}),
            "value": ("check", numbers["value"], {"long_name": "measured value", "units": "1"}),
            "bound": ("check", numbers["bound"], {"long_name": "compared against", "units": "1"}),
            "tolerance": ("check", numbers["tolerance"], {"long_name": "float slack allowed", "units": "1"}),
            "kind": ("check", np.array([d["kind"] for d in dicts], dtype=object),
                     {"long_name": "kind of check (exact, bound or assumption)"}),
            "statement": ("check", np.array([d["statement"] for d in dicts], dtype=object),
                          {"long_name": "statement checked"}),
            "details": ("check", np.array([jsonsafe.dumps(d["details"]) for d in dicts], dtype=object),
                        {"long_name": "JSON object of further named numbers"}),
        },
        coords={"check": ("check", np.array([v.name for v in verdicts], dtype=object), {"long_name": "check name"})},
    )
    ds.attrs["result_kind"] = "checks"
    return ds
