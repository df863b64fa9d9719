"""Math only: Gaussian kernels, networks, and the paper's assumptions, lemmas and theorems as checks.

Never imports ``luckbench.sim``, ``luckbench.empirical`` or ``luckbench.reports``.
"""
from luckbench.theory.verdict import Verdict

__all__ = ["Verdict"]
