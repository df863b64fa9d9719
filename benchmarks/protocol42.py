"""Benchmark: the v4 Sec. 4.2 grid (``luckbench sim protocol42``), seed-batched against the per-seed loop.

All integrate the same cells (node_multi, alpha pair) with the same seeds, teachers and mini-batches,
in this process (one core, single-threaded BLAS), one after the other: the batched form
(``luckbench.sim.batched``: all seeds of a cell as one (S, n, D) state) in float64 and in float32
(``--dtype float32``), and the loop of one ``thm5.simulate`` per seed (float64). It checks that the
float64 forms give the same row norms (float precision), prints the float32 form's largest departure
from them, the times, the ratios, and the full protocol's time extrapolated from the measured
per-iteration cost of each width (12 cells x 32 seeds x 20,000 iterations, the cells spread over
``--cores`` processes).

Goal: the full grid under 15 minutes on 2 cores. Defaults are reduced so that the run takes a few
minutes (``--iters 200``); ``--iters 20000 --seeds 32`` is the full protocol's per-cell work.
"""
from __future__ import annotations

import argparse
import dataclasses
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
          f"batch {cfg.batch}, one core; wall seconds")
    forms = ("batched", "batched float32", "per-seed loop")
    measured = {form: [0.0, 0.0] for form in forms}  # wall, CPU seconds over the timed cells
    cfg32 = dataclasses.replace(cfg, dtype="float32")
    for k in multis:
        runs = {"batched": lambda: protocol.cell_row_norms((cfg, k, 0), batched=True),
                "batched float32": lambda: protocol.cell_row_norms((cfg32, k, 0), batched=True),
                "per-seed loop": lambda: protocol.cell_row_norms((cfg, k, 0), batched=False)}
        out, seconds = {}, {}
        for form in forms:
            out[form], seconds[form], cpu = _timed(runs[form])
            measured[form][0] += seconds[form]
            measured[form][1] += cpu
        diff = float(np.max(np.abs(out["batched"] - out["per-seed loop"])))
        diff32 = float(np.max(np.abs(out["batched float32"] - out["batched"])))
        print(f"  node_multi {k:3d} (n = {k * cfg.teacher[1]:4d}): " + ", ".join(f"{f} {seconds[f]:6.2f} s" for f in forms)
              + f"; max |row-norm difference| batched vs loop {diff:.2e}, float32 vs float64 {diff32:.2e}")
    loop_wall = measured["per-seed loop"][0]
    print("measured: " + ", ".join(f"{f} {measured[f][0]:.2f} s ({loop_wall / measured[f][0]:.2f}x)" for f in forms))
    scale = (FULL_ITERS / args.iters) * (FULL_SEEDS / args.seeds) * FULL_PAIRS / args.cores / 60
    print(f"extrapolated full grid (12 cells x 32 seeds x 20,000 iterations) on {args.cores} cores, ideal cell "
          f"spreading, minutes from wall (CPU) seconds (goal: batched < 15 min): "
          + ", ".join(f"{f} {measured[f][0] * scale:.1f} ({measured[f][1] * scale:.1f})" for f in forms))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
