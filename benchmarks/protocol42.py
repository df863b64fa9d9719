"""Benchmark: the v4 Sec. 4.2 grid (``luckbench sim protocol42``), seed-batched against the per-seed loop.

Both integrate the same cells (node_multi, alpha pair) with the same seeds, teachers and mini-batches,
in this process (one core, single-threaded BLAS), one after the other: the batched form
(``luckbench.sim.batched``: all seeds of a cell as one (S, n, D) state) and today's loop of one
``thm5.simulate`` per seed. It checks that both give the same row norms (float precision), prints
both times, the ratio, and the full protocol's time extrapolated from the measured per-iteration cost
of each width (12 cells x 32 seeds x 20,000 iterations, the cells spread over ``--cores`` processes).

Goal: the full grid under 15 minutes on 2 cores. Defaults are reduced so that the run takes a few
minutes (``--iters 200``); ``--iters 20000 --seeds 32`` is the full protocol's per-cell work.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from luckbench.sim import protocol

FULL_ITERS, FULL_SEEDS, FULL_PAIRS = 20000, 32, 4


def _timed(fn):
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=32)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--node-multis", default="2,5,10", help="widths to time (comma-separated)")
    parser.add_argument("--cores", type=int, default=2, help="cores assumed for the full-grid extrapolation")
    args = parser.parse_args(argv)
    multis = tuple(int(k) for k in args.node_multis.split(","))
    cfg = protocol.ProtocolConfig(node_multis=multis, alpha_ws=(1.0,), alpha_vs=(1.0,), seeds=args.seeds,
                                  iters=args.iters, snapshot_every=max(1, args.iters // 10))
    print(f"protocol42 cells node_multi {multis}, pair (1, 1), {args.seeds} seeds, {args.iters} iterations, "
          f"batch {cfg.batch}, one core")
    full_batched = full_loop = full_cpu_b = full_cpu_l = 0.0
    total_b = total_l = 0.0
    for k in multis:
        task = (cfg, k, 0)
        batched, t_b, cpu_b = _timed(lambda: protocol.cell_row_norms(task, batched=True))
        loop, t_l, cpu_l = _timed(lambda: protocol.cell_row_norms(task, batched=False))
        diff = float(np.max(np.abs(batched - loop)))
        print(f"  node_multi {k:3d} (n = {k * cfg.teacher[1]:4d}): batched {t_b:7.2f} s ({cpu_b:.2f} s cpu), "
              f"per-seed loop {t_l:7.2f} s ({cpu_l:.2f} s cpu), ratio {t_l / t_b:5.2f}x, "
              f"max |row-norm difference| {diff:.2e}")
        scale = (FULL_ITERS / args.iters) * (FULL_SEEDS / args.seeds) * FULL_PAIRS
        full_batched += t_b * scale
        full_loop += t_l * scale
        full_cpu_b += cpu_b * scale
        full_cpu_l += cpu_l * scale
        total_b, total_l = total_b + t_b, total_l + t_l
    print(f"measured: batched {total_b:.2f} s, per-seed loop {total_l:.2f} s, ratio {total_l / total_b:.2f}x")
    print(f"extrapolated full grid (12 cells x 32 seeds x 20,000 iterations) on {args.cores} cores, "
          f"ideal cell spreading: batched {full_batched / args.cores / 60:.1f} min, "
          f"per-seed loop {full_loop / args.cores / 60:.1f} min (goal: batched < 15 min); from the CPU seconds "
          f"(less sensitive to other load): batched {full_cpu_b / args.cores / 60:.1f} min, "
          f"per-seed loop {full_cpu_l / args.cores / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
