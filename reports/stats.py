"""Judging an empirical claim over seeds, as the paper did (5 repeats; 32 in the v4 text).

One number per seed, oriented so that a positive value supports the claim (a paired difference
such as rho-bar(BN) - rho-bar(no BN) of the same seed, or a margin such as 0.25 - r-bar). The
verdict is ``holds`` when the 95 % t-interval of the mean lies above 0, ``fails`` when it lies
below 0, ``inconclusive`` when it contains 0 (the effect is inside the seed noise) or when fewer
than :data:`MIN_SEEDS` seeds exist. The text always gives the mean, min-max, the interval and n.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import stats as _st

from luckbench.reports.judgement import FAILS, HOLDS, INCONCLUSIVE, MIN_SEEDS, NOT_RUN, fmt

CONFIDENCE = 0.95


@dataclasses.dataclass(frozen=True)
class SeedStatistic:
    """Mean, min, max and the 95 % t-interval of one per-seed statistic (NaN seeds dropped)."""

    n: int
    mean: float
    low: float
    high: float
    ci_low: float
    ci_high: float

    @classmethod
    def of(cls, values) -> "SeedStatistic":
        v = np.asarray(values, dtype=float).reshape(-1)
        v = v[np.isfinite(v)]
        n = int(v.size)
        if n == 0:
            nan = math.nan
            return cls(0, nan, nan, nan, nan, nan)
        mean = float(v.mean())
        if n < 2:
            return cls(n, mean, mean, mean, -math.inf, math.inf)
        half = float(_st.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * v.std(ddof=1) / math.sqrt(n))
        return cls(n, mean, float(v.min()), float(v.max()), mean - half, mean + half)

    def verdict(self) -> str:
        if self.n == 0:
            return NOT_RUN
        if self.n < MIN_SEEDS:
            return INCONCLUSIVE
        if self.ci_low > 0:
            return HOLDS
        if self.ci_high < 0:
            return FAILS
        return INCONCLUSIVE

    def text(self, label: str) -> str:
        if self.n == 0:
            return f"{label}: no finite value"
        if self.n == 1:
            return f"{label}: {fmt(self.mean)} (1 seed; >= {MIN_SEEDS} needed)"
        few = f"; >= {MIN_SEEDS} needed" if self.n < MIN_SEEDS else ""
        return (f"{label}: mean {fmt(self.mean)} (min {fmt(self.low)}, max {fmt(self.high)}; "
                f"95 % CI [{fmt(self.ci_low)}, {fmt(self.ci_high)}]; {self.n} seeds{few})")


def judge(values, label: str) -> tuple[str, str, int]:
    """(verdict, text, n_seeds) of one per-seed statistic (positive supports the claim)."""
    s = SeedStatistic.of(values)
    return s.verdict(), s.text(label), s.n


def rule(statistic: str, source: str) -> str:
    """The one-sentence rule of a per-seed judgement (shown in the report and ledger.json)."""
    return (f"{statistic}, one value per seed from {source}: holds if its {int(100 * CONFIDENCE)} % t-interval "
            f"over >= {MIN_SEEDS} seeds lies above 0, fails if below 0, else inconclusive.")
