"""The result type every check returns (design.md, "Public Python API")."""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import numpy as np

Kind = Literal["exact", "bound", "assumption"]


def _json_number(x: Any) -> Any:
    """JSON-safe scalar: numpy -> python, non-finite floats -> strings ("inf", "-inf", "nan")."""
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else str(x)
    if isinstance(x, np.ndarray):
        return [_json_number(v) for v in x.tolist()]
    if isinstance(x, (list, tuple)):
        return [_json_number(v) for v in x]
    if isinstance(x, dict):
        return {str(k): _json_number(v) for k, v in x.items()}
    return x


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "statement": self.statement,
            "kind": self.kind,
            "holds": None if self.holds is None else bool(self.holds),
            "value": _json_number(self.value),
            "bound": _json_number(self.bound),
            "tolerance": _json_number(self.tolerance),
            "details": _json_number(self.details),
        }
