"""Registry of the paper's checks and the setup they run on (``luckbench check``).

Each entry maps a check name to ``"module:function"``; the function takes a :class:`CheckSetup`
and returns a :class:`~luckbench.theory.verdict.Verdict`. Modules are imported only when run.
"""
from __future__ import annotations

import dataclasses
import importlib
import math
from typing import Callable

from luckbench.errors import InputError
from luckbench.theory.geometry import SIGMA_PAPER, TEACHER_SCHEMES, teacher_rows
from luckbench.theory.verdict import Verdict

CHECKS: dict[str, str] = {
    "assumption1": "luckbench.theory.assumption1:check",
    "assumption2": "luckbench.theory.assumption2:check",
    "assumption3": "luckbench.theory.assumption3:check",
    "lemma1": "luckbench.theory.bn:check_lemma1",
    "lemma2": "luckbench.theory.lemmas:check_lemma2",
    "lemma3": "luckbench.theory.lemmas:check_lemma3",
    "lemma4": "luckbench.theory.lemmas:check_lemma4",
    "theorem1": "luckbench.theory.theorem1:check",
    "theorem2": "luckbench.theory.assumption1:check_theorem2",
    "theorem3": "luckbench.theory.bn:check_theorem3",
    "theorem4": "luckbench.theory.theorem4:check",
    "theorem5": "luckbench.theory.theorem5:check",
}


@dataclasses.dataclass(frozen=True)
class CheckSetup:
    """The teacher/student configuration a check runs on.

    ``teacher``/``student`` are width lists (input, hidden..., output), as ``--teacher 20,10,15,4``.
    ``student=None`` means the teacher's widths with every hidden layer doubled.
    ``paper_mode=True`` evaluates the paper's printed formulas instead of the corrected ones.

    The closed-form checks (Assumptions 2-3, Lemmas 2-4, Theorems 4-5) work on the caps of
    half-angle ``theta0_deg`` (degrees) around the first-layer teacher rows drawn by
    ``teacher_scheme`` (:data:`luckbench.theory.geometry.TEACHER_SCHEMES`), whitened with input std
    ``sigma``; ``eta`` is the step size of Theorems 4 and 5 (None: their own defaults, 0.1 and
    0.01). The network checks (Theorems 1-3, Assumption 1, Lemma 1) draw their Gaussian inputs
    with std ``sigma`` and always use the paper's teacher scheme.
    """

    teacher: tuple[int, ...] = (20, 10, 15, 4)
    student: tuple[int, ...] | None = None
    bias: bool = True
    bn: str = "none"  # none | before | after  (BN before or after the ReLU)
    dtype: str = "float64"
    seed: int = 0
    paper_mode: bool = False
    theta0_deg: float = 5.0
    sigma: float = SIGMA_PAPER
    eta: float | None = None
    teacher_scheme: str = "paper"

    def __post_init__(self):
        if self.teacher_scheme not in TEACHER_SCHEMES:
            raise InputError(f"--teacher-scheme: expected one of {', '.join(TEACHER_SCHEMES)}, "
                             f"got {self.teacher_scheme!r}")
        _set_number(self, "theta0_deg", "--theta0", lambda v: 0.0 < v < 180.0, "an angle in (0, 180) degrees")
        _set_number(self, "sigma", "--sigma", lambda v: 0.0 < v <= 1e6, "a positive input std (at most 1e6)")
        if self.eta is not None:
            _set_number(self, "eta", "--eta", lambda v: 0.0 < v <= 1.0, "a step size in (0, 1]")
        if self.bn not in ("none", "before", "after"):
            raise InputError(f"--bn: expected none, before or after, got {self.bn!r}")
        if self.dtype not in ("float64", "float32"):
            raise InputError(f"--dtype: expected float64 or float32, got {self.dtype!r}")
        for what in ("teacher", "student"):
            widths = getattr(self, what)
            if widths is None:
                continue
            try:  # a tuple of ints keeps the setup hashable (checks cache on it)
                widths = tuple(int(w) for w in widths)
            except (TypeError, ValueError):
                raise InputError(f"--{what}: expected a sequence of integer widths, got {widths!r}") from None
            object.__setattr__(self, what, widths)
            if len(widths) < 2 or any(w <= 0 for w in widths):
                raise InputError(f"--{what}: widths must be at least two positive integers, got {widths}")
        if self.student is not None:
            if len(self.student) != len(self.teacher):
                raise InputError(f"--student: depth {len(self.student)} differs from the teacher's {len(self.teacher)}")
            if self.student[0] != self.teacher[0] or self.student[-1] != self.teacher[-1]:
                raise InputError("--student: input and output widths must equal the teacher's")

    @property
    def theta0(self) -> float:
        """The cap half-angle in radians."""
        return math.radians(self.theta0_deg)

    def teacher_rows(self):
        """First-layer teacher rows of the closed-form checks: (m, D) unit rows, whitened with
        ``sigma``, the last column the bias when ``bias`` (:func:`luckbench.theory.geometry.teacher_rows`)."""
        return teacher_rows(self.teacher, bias=self.bias, seed=self.seed, sigma=self.sigma,
                            scheme=self.teacher_scheme)

    @property
    def student_widths(self) -> tuple[int, ...]:
        if self.student is not None:
            return tuple(self.student)
        t = self.teacher
        return (t[0], *(2 * w for w in t[1:-1]), t[-1])


def _set_number(setup, field: str, flag: str, ok: Callable[[float], bool], expected: str) -> None:
    """Store ``setup.field`` as a float, or raise an InputError naming ``flag`` (NaN and inf fail ``ok``)."""
    value = getattr(setup, field)
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{flag}: expected {expected}, got {value!r}") from None
    if isinstance(value, bool) or not (math.isfinite(v) and ok(v)):
        raise InputError(f"{flag}: expected {expected}, got {value!r}")
    object.__setattr__(setup, field, v)


def resolve(name: str) -> Callable[[CheckSetup], Verdict]:
    """The check function registered under ``name``; unknown names are an InputError."""
    if name not in CHECKS:
        raise InputError(f"unknown check {name!r}; known: {', '.join(CHECKS)}")
    module, func = CHECKS[name].split(":")
    return getattr(importlib.import_module(module), func)


def run_checks(names: list[str] | None, setup: CheckSetup) -> list[Verdict]:
    """Run the named checks (all when ``names`` is empty/None), in registry order."""
    names = list(names) if names else list(CHECKS)
    funcs = [resolve(n) for n in names]  # validate every name before running anything
    return [f(setup) for f in funcs]
