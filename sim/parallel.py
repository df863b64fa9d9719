"""Run independent tasks (seeds, configurations) on the local cores."""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor

from luckbench.config import cpu_count


def single_blas():
    """A context limiting BLAS to one thread: the sim's matrices are small (<= a few hundred rows), and
    a multi-threaded BLAS on them is up to 100x slower on a loaded 2-core machine (measured: 0.1 ms vs
    12 ms for a 200x64 @ 64x200 product). threadpoolctl ships with scikit-learn, a dependency."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn missing
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def default_workers() -> int:
    """The number of cores this process may use."""
    return cpu_count()


def map_tasks(fn: Callable, tasks: Iterable, workers: int | None = None,
              on_done: Callable[[], None] | None = None) -> list:
    """[fn(t) for t in tasks], in a ProcessPoolExecutor when ``workers`` > 1 (order preserved);
    ``on_done()`` is called as each result arrives (in task order), e.g. to advance a progress bar."""
    tasks = list(tasks)
    workers = default_workers() if workers is None else max(1, int(workers))
    results = []
    if workers == 1 or len(tasks) <= 1:
        for t in tasks:
            results.append(fn(t))
            if on_done:
                on_done()
        return results
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
        for result in pool.map(fn, tasks, chunksize=1):
            results.append(result)
            if on_done:
                on_done()
    return results
