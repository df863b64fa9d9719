"""The one conversion of Python/numpy values to strict JSON used everywhere in luckbench.

Low level on purpose (numpy only), so every layer can import it: ``theory`` for
``Verdict.to_dict()``, ``luckbench.store`` for the ``config`` attribute of stored results.

Rules: dataclasses become dicts; dict keys become strings; tuples, lists and numpy arrays become
lists; numpy scalars become Python scalars; paths become strings. Non-finite floats become the
strings ``"inf"``, ``"-inf"`` and ``"nan"`` (the one documented choice: strict JSON has no
such numbers, and the strings keep inf and nan apart where ``null`` would merge them);
``float(s)`` turns them back into floats.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import PurePath
from typing import Any

import numpy as np


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON-compatible Python values (module docstring)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else str(x)
    if isinstance(obj, PurePath):
        return str(obj)
    return obj


def dumps(obj: Any) -> str:
    """Strict JSON text of :func:`jsonable` ``(obj)`` with sorted keys (stable, so it can be hashed)."""
    return json.dumps(jsonable(obj), sort_keys=True, allow_nan=False)
