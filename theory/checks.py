"""Registry of the paper's checks and the setup they run on (``luckbench check``).

Each entry maps a check name to ``"module:function"``; the function takes a :class:`CheckSetup`
and returns a :class:`~luckbench.theory.verdict.Verdict`. Modules are imported only when run.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Callable

from luckbench.errors import InputError
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
    """

    teacher: tuple[int, ...] = (20, 10, 15, 4)
    student: tuple[int, ...] | None = None
    bias: bool = True
    bn: str = "none"  # none | before | after  (BN before or after the ReLU)
    dtype: str = "float64"
    seed: int = 0
    paper_mode: bool = False

    def __post_init__(self):
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
    def student_widths(self) -> tuple[int, ...]:
        if self.student is not None:
            return tuple(self.student)
        t = self.teacher
        return (t[0], *(2 * w for w in t[1:-1]), t[-1])


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
