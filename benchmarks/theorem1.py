"""Benchmark: Theorem 1 check on the paper's FC configuration, vectorised vs a per-sample loop.

Teacher 20-50-75-100-125-100 (input 20, hidden 50-75-100-125, 100 outputs), student 10x wider
(500-750-1000-1250), 1,024 GAUS samples (std 10), float64. The vectorised check
(`relative_residuals`: matrix-free Eq. 2-3 plus autograd, all samples at once) is timed against
the same computation run one sample at a time in a Python loop. Goal: vectorised < 5 s on a
2-core CPU. Prints both times, the ratio and the largest relative residual of each.

    .venv/bin/python benchmarks/theorem1.py [--samples N] [--loop-samples N]

``--loop-samples`` times the loop on the first N samples only and extrapolates linearly (stated
in the output) when the full loop would be too slow to wait for. Wall and CPU (process) time
are both printed: on a shared, loaded machine the wall time overstates the cost.
"""
from __future__ import annotations

import argparse
import time

import torch

from luckbench.theory.network import teacher_student
from luckbench.theory.theorem1 import gaussian_inputs, relative_residuals

TEACHER = (20, 50, 75, 100, 125, 100)
STUDENT = (20, 500, 750, 1000, 1250, 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--loop-samples", type=int, default=256)
    args = parser.parse_args()
    teacher, student = teacher_student(TEACHER, STUDENT, seed=0, bias=True, dtype="float64")
    x = gaussian_inputs(student, args.samples, seed=1)
    relative_residuals(student, teacher, x[:8])  # warm-up

    t0, c0 = time.perf_counter(), time.process_time()
    res = relative_residuals(student, teacher, x)
    t_vec, c_vec = time.perf_counter() - t0, time.process_time() - c0

    n_loop = min(args.loop_samples, args.samples)
    t0, c0 = time.perf_counter(), time.process_time()
    loop_max = max(relative_residuals(student, teacher, x[i:i + 1]).max().item() for i in range(n_loop))
    t_loop = (time.perf_counter() - t0) * args.samples / n_loop
    c_loop = (time.process_time() - c0) * args.samples / n_loop

    print(f"threads={torch.get_num_threads()} samples={args.samples} teacher={TEACHER} student={STUDENT}")
    print(f"vectorised: {t_vec:.3f} s wall, {c_vec:.3f} s CPU  max relative residual {res.max().item():.2e}")
    extrap = "" if n_loop == args.samples else f" (extrapolated from {n_loop} samples)"
    print(f"per-sample loop: {t_loop:.3f} s wall, {c_loop:.3f} s CPU{extrap}  max relative residual {loop_max:.2e}")
    print(f"speed-up: {t_loop / t_vec:.1f}x wall, {c_loop / c_vec:.1f}x CPU")
    print(f"goal < 5 s wall: {'met' if t_vec < 5 else 'missed'} ({t_vec:.2f} s); on an idle machine with "
          f"{torch.get_num_threads()} threads the wall time lies between {c_vec / torch.get_num_threads():.2f} s "
          f"and {c_vec:.2f} s (CPU time / threads .. CPU time)")


if __name__ == "__main__":
    main()
