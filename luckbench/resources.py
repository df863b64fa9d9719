"""The resource guard: estimate a command's memory and work from its sizes before allocating.

A command lists what its sizes imply as :class:`Need` items (the flag that drives each, bytes,
floating-point operations) and calls :func:`guard` before it allocates anything. Beyond the
limits the run is refused with one line naming the flag, the estimate and the limit:

    --teachers: needs about 3.2 TB of memory, above the limit of 98 GB (80% of available memory; --max-memory GB raises it)

The memory limit defaults to :data:`MEMORY_FRACTION` of the memory available now
(``MemAvailable`` in ``/proc/meminfo``, else ``os.sysconf``); the work limit to
:data:`DEFAULT_MAX_WORK` floating-point operations (hours of a few cores). ``--max-memory GB`` and
``--max-work GFLOP`` (:func:`add_arguments`) move them where a user means to go further.
Estimates are upper-bound sketches of the dominant arrays and loops, not exact accounting.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import resource
from typing import Iterable

from luckbench.errors import InputError

MEMORY_FRACTION = 0.8
DEFAULT_MAX_WORK = 1e14  # floating-point operations: ~3 h at 10 GFLOP/s
FLOAT = 8  # bytes of a float64


@dataclasses.dataclass(frozen=True)
class Need:
    """What one part of a run costs: ``flag`` names the flag(s) that size it."""

    flag: str
    bytes: float = 0.0
    flops: float = 0.0


@dataclasses.dataclass(frozen=True)
class Limits:
    """The memory (bytes) and work (floating-point operations) a run may use, and where they came from."""

    memory: float
    work: float
    memory_source: str
    work_source: str


def proc_bytes(path: str, key: str) -> int | None:
    """A ``key: N kB`` line of a /proc file (``/proc/meminfo``, ``/proc/self/status``) in bytes; None when absent."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available_memory() -> int:
    """Bytes new allocations may use now: the machine's MemAvailable (sysconf's free pages elsewhere),
    and no more than this process's address-space limit (``ulimit -v``, RLIMIT_AS) leaves."""
    free = proc_bytes("/proc/meminfo", "MemAvailable")
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            free = 8 * 2**30  # unknown platform: assume a modest machine
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        free = min(free, max(soft - (proc_bytes("/proc/self/status", "VmSize") or 0), 0))
    return free


def _positive_finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be positive and finite, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--max-memory GB`` and ``--max-work GFLOP`` to a command's parser."""
    group = parser.add_argument_group("resource limits")
    group.add_argument("--max-memory", type=_positive_finite, default=None, metavar="GB",
                       # argparse %-formats help texts: the percent sign is doubled
                       help=f"refuse runs estimated to need more memory (default: {MEMORY_FRACTION * 100:.0f}%% "
                            "of the memory available at start)")
    group.add_argument("--max-work", type=_positive_finite, default=None, metavar="GFLOP",
                       help=f"refuse runs estimated to need more work (default: {DEFAULT_MAX_WORK / 1e9:g} GFLOP)")


def limits(args: argparse.Namespace | None = None, *, max_memory_gb: float | None = None,
           max_work_gflop: float | None = None, default_work: float = DEFAULT_MAX_WORK) -> Limits:
    """The limits for a run: the flags on ``args`` (or the keywords), else the machine's defaults.

    ``default_work`` lets an interactive command (``check``) keep a smaller default budget.
    """
    if args is not None:
        max_memory_gb = getattr(args, "max_memory", None) if max_memory_gb is None else max_memory_gb
        max_work_gflop = getattr(args, "max_work", None) if max_work_gflop is None else max_work_gflop
    if max_memory_gb is not None:
        memory, memory_source = max_memory_gb * 1e9, "--max-memory"
    else:
        memory, memory_source = MEMORY_FRACTION * available_memory(), (
            f"{MEMORY_FRACTION:.0%} of available memory; --max-memory GB raises it")
    if max_work_gflop is not None:
        work, work_source = max_work_gflop * 1e9, "--max-work"
    else:
        work, work_source = default_work, "the default; --max-work GFLOP raises it"
    return Limits(memory, work, memory_source, work_source)


def format_bytes(n: float) -> str:
    """``3.2 GB`` (decimal units); plain bytes in powers of ten beyond yottabytes."""
    if n >= 1e27:
        return f"{n:.2g} B"
    for unit, size in (("YB", 1e24), ("ZB", 1e21), ("EB", 1e18), ("PB", 1e15), ("TB", 1e12), ("GB", 1e9),
                       ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def format_flops(n: float) -> str:
    return f"{n / 1e9:.3g} GFLOP"


def as_float(x) -> float:
    """A size (possibly a huge Python int) as a float; ``inf`` past the float range."""
    try:
        return float(x)
    except OverflowError:
        return math.inf


def guard(needs: Iterable[Need], lim: Limits | None = None) -> None:
    """Refuse (InputError) when the total memory or work of ``needs`` exceeds ``lim``.

    The message names the flag of the largest contributor. Sizes arrive as Python ints, so the
    estimates are computed as floats (``inf`` past 1e308 still compares correctly).
    """
    needs = list(needs)
    lim = lim or limits()
    memory = sum(as_float(n.bytes) for n in needs)
    if memory > lim.memory:
        top = max(needs, key=lambda n: as_float(n.bytes))
        raise InputError(f"{top.flag}: needs about {format_bytes(memory)} of memory, above the limit of "
                         f"{format_bytes(lim.memory)} ({lim.memory_source})")
    work = sum(as_float(n.flops) for n in needs)
    if work > lim.work:
        top = max(needs, key=lambda n: as_float(n.flops))
        raise InputError(f"{top.flag}: needs about {format_flops(work)} of work, above the limit of "
                         f"{format_flops(lim.work)} ({lim.work_source})")


def declared_bytes(variables) -> float:
    """Bytes the variables of an opened (lazy) xarray Dataset would take once loaded."""
    return sum(as_float(math.prod(v.shape)) * v.dtype.itemsize for v in variables.values())
