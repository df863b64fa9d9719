"""luckbench.sim.heap: freed step temporaries are reused, not faulted in afresh (glibc only)."""
import os
import subprocess
import sys

import pytest

# Three 4 MB temporaries freed together per step, the pattern of a batched step: with glibc's defaults the heap
# top is trimmed after every step and the next step faults its pages in again.
CHURN = """
import resource, sys, numpy as np
from luckbench.sim import heap
applied = heap.reuse_heap() if sys.argv[1] == "reuse" else None
def step():
    xs = [np.ones(500_000) for _ in range(3)]
    del xs
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _churn(mode: str, **env) -> tuple[str, int]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", CHURN, mode], env={**base, **env}, capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0], int(out[1])


glibc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc parameters")


@glibc
def test_reuse_heap_removes_the_page_faults_of_repeated_temporaries():
    _, default_faults = _churn("default")
    applied, reuse_faults = _churn("reuse")
    if applied != "True":
        pytest.skip("not glibc: mallopt unavailable")
    assert default_faults > 20 * 1000  # the default trims and faults again: the test can tell the two apart
    assert reuse_faults < default_faults / 20


@glibc
def test_reuse_heap_leaves_malloc_settings_from_the_environment_alone():
    applied, faults = _churn("reuse", MALLOC_ARENA_MAX="2")
    assert applied == "False"
    assert faults > 20 * 1000

