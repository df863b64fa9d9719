"""luckbench: a theory-verification workbench for "Luck Matters" (Tian et al., 2019).

Sub-packages (one import root, folders mapped in pyproject.toml):
``luckbench.theory`` (math only) <- ``luckbench.sim`` <- ``luckbench.empirical`` <- ``luckbench.reports``;
``luckbench.datasets`` feeds theory (Monte Carlo), sim and empirical.
"""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("luckbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

from luckbench.errors import InputError

__all__ = ["InputError", "__version__"]
