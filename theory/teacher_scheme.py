"""The paper's teacher weight scheme, shared by the torch networks and the sim layer.

Sec. 4.2 of the paper (and the authors' ``init_separate_w``): every weight is drawn from
{-0.5, -0.25, 0, 0.25, 0.5}, with the rows of a layer non-zero and mutually distinct, so that
no two teacher nodes coincide and none is dead.
"""
from __future__ import annotations

import numpy as np

from luckbench.errors import InputError

ENTRIES = (-0.5, -0.25, 0.0, 0.25, 0.5)


def max_distinct_rows(cols: int) -> int:
    """How many distinct non-zero rows of ``cols`` entries from ENTRIES exist (capped at 5^30 - 1)."""
    return len(ENTRIES) ** min(cols, 30) - 1


def distinct_rows(rng: np.random.Generator, rows: int, cols: int, *, what: str = "widths") -> np.ndarray:
    """(rows, cols) float64 entries from ENTRIES, rows non-zero and mutually distinct (clashes redrawn).

    ``what`` names the argument in the error raised when that many distinct rows do not exist.
    """
    if rows > max_distinct_rows(cols):
        raise InputError(f"{what}: {rows} distinct non-zero rows of {cols} entries from {ENTRIES} do not exist")
    values = np.asarray(ENTRIES)
    idx = rng.integers(0, len(values), size=(rows, cols))
    zero = ENTRIES.index(0.0)
    while True:
        seen = {(zero,) * cols}
        bad = []
        for i, row in enumerate(map(tuple, idx.tolist())):
            if row in seen:
                bad.append(i)
            else:
                seen.add(row)
        if not bad:
            return values[idx]
        idx[bad] = rng.integers(0, len(values), size=(len(bad), cols))
