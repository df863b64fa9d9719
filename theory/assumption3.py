"""Assumption 3 (small overlap between teacher nodes, Eq. 9), measured.

For teacher rows w*_j (whitened augmented coordinates, see :mod:`luckbench.theory.assumption2`),
D**_jk = psi_d(w*_j, w*_k) and L**_jk = psi_l(w*_j, w*_k). Reported (docs/math.md, Assumption 3):

* ``eps`` = max_{j != k} G_jk / G_jj over ORDERED pairs (the row's own diagonal, what Lemma 2 uses);
* ``eps_or`` = max_{j != k} G_jk / max(G_jj, G_kk) (Eq. 9's "(or ...)" read as the weaker variant);
* ``mean_ratio`` = mean over ordered pairs of G_jk / G_jj.

[FLAG] Eq. 9's "(or ...)" is ambiguous; the proofs need the ordered (row-diagonal) version, which
is the one the theorems consume. Reference values (docs/math.md 3(ii)): zero-bias orthogonal teachers
give eps_d = 1/2 and eps_l = 1/pi exactly; orthogonal teachers with standardised bias a give
eps_d = Phi(a).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from luckbench.theory import geometry
from luckbench.theory import assumption2 as a2
from luckbench.theory.verdict import Verdict


@dataclasses.dataclass(frozen=True)
class Overlap:
    """Overlap ratios of one Gram-like matrix (D** or L**)."""

    eps: float  # ordered pairs, row's own diagonal
    eps_or: float  # divided by the larger of the two diagonals
    mean_ratio: float  # mean of G_jk / G_jj over ordered pairs


def overlap_ratios(gram) -> Overlap:
    """eps, eps_or and the mean ratio of a symmetric (m, m) matrix with positive diagonal (m = 1: all 0)."""
    g = np.asarray(gram, dtype=np.float64)
    m = g.shape[0]
    if m < 2:
        return Overlap(0.0, 0.0, 0.0)
    diag = np.diag(g)
    off = ~np.eye(m, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        row = g / diag[:, None]
        both = g / np.maximum(diag[:, None], diag[None, :])
    return Overlap(float(row[off].max()), float(both[off].max()), float(row[off].mean()))


def teacher_overlaps(w_star, *, bias: bool) -> dict[str, Overlap]:
    """{"d": Overlap of D**, "l": Overlap of L**} for unit-normalised teacher rows (Eq. 9)."""
    rows = geometry.unit_rows(w_star, "w_star")
    return {k: overlap_ratios(a2.psi(k, rows, rows, bias=bias)) for k in ("d", "l")}


def eps_max_necessary(m: int) -> float:
    """Largest eps_d any Thm 4 configuration can tolerate: gamma > 0 needs (m-1) eps_d M_d < cos(theta0) <= 1
    with M_d >= 1, so eps_d < 1/(m-1) is necessary (inf for m = 1)."""
    return math.inf if m < 2 else 1.0 / (m - 1)


def check(setup) -> Verdict:
    """Assumption 3 for the setup's first-layer paper-scheme teachers (input std 10, whitened)."""
    rows = setup.teacher_rows()
    ov = teacher_overlaps(rows, bias=setup.bias)
    m = rows.shape[0]
    bound = eps_max_necessary(m)
    value = ov["d"].eps_or if setup.paper_mode else ov["d"].eps
    return Verdict(
        name="assumption3",
        statement="eps_d = max_{j!=k} d**_jk / d**_jj is small enough for Thm 4 (necessary: eps_d < 1/(m-1))",
        kind="assumption",
        holds=bool(value < bound),
        value=value,
        bound=bound,
        details={
            "form": "'or' variant, max diagonal (Eq. 9 as printed)" if setup.paper_mode
            else "ordered pairs, row's own diagonal (as Lemma 2 uses)",
            "eps_d": ov["d"].eps, "eps_l": ov["l"].eps, "eps_d_or": ov["d"].eps_or, "eps_l_or": ov["l"].eps_or,
            "eps_d_mean": ov["d"].mean_ratio, "eps_l_mean": ov["l"].mean_ratio, "teachers": m,
            "sigma": setup.sigma,
        },
    )
