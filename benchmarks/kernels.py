"""Benchmark: closed-form with-bias psi_l (theory/kernels.py) against Monte Carlo, same run.

Builds a 1250 x 125 with-bias psi_l matrix (d = 20) and prints

* closed form: pairs per second (best of --repeats), goal >= 1e6;
* Monte Carlo (theory/montecarlo.py, Gaussian sampler): a measured run with --mc-samples samples,
  its time and its median relative standard error over the pairs;
* the ratio MC / closed form: (a) measured, with the MC run at its own (much worse) accuracy, and
  (b) EXTRAPOLATED to the closed form's accuracy contract (relative error 1e-9): the sample count is
  scaled by (measured relative stderr / 1e-9)^2 and the time linearly in the sample count, from the
  measured MC timing. Goal for (b): >= 100x.

With --deep-tails it instead times the biased-teacher regime of Theorem 4: unit rows, every bias
equal to a, for a = 0, -3, -7, where the closed forms cancel and most entries fall back to the
tail quadrature (goal: < 1 s at a = -3, < 2 s at a = -7), against the previous quadrature
(benchmarks/reference/previous_quadrature.py) in the same run, and prints the largest relative difference.

Usage: .venv/bin/python benchmarks/kernels.py [--sigma 10] [--repeats 5] [--mc-samples 20000]
       .venv/bin/python benchmarks/kernels.py --deep-tails [--no-reference]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from luckbench.datasets.samplers import gaussian_sampler
from luckbench.theory import kernels
from luckbench.theory.kernels import psi_l
from luckbench.theory.montecarlo import mc_kernels

N1, N2, D = 1250, 125, 20
TARGET_REL = 1e-9


def layers(sigma: float, seed: int = 0):
    """Random rows with biases drawn so that the standardised biases a spread over [-1.5, 1.5]."""
    rng = np.random.default_rng(seed)
    w1, w2 = rng.standard_normal((N1, D)), rng.standard_normal((N2, D))
    b1 = rng.uniform(-1.5, 1.5, N1) * sigma * np.linalg.norm(w1, axis=1)
    b2 = rng.uniform(-1.5, 1.5, N2) * sigma * np.linalg.norm(w2, axis=1)
    return w1, w2, b1, b2


def unit_rows(seed: int = 0):
    rng = np.random.default_rng(seed)
    w1, w2 = rng.standard_normal((N1, D)), rng.standard_normal((N2, D))
    return w1 / np.linalg.norm(w1, axis=1, keepdims=True), w2 / np.linalg.norm(w2, axis=1, keepdims=True)


def timed(f):
    t0, c0 = time.perf_counter(), time.process_time()
    out = f()
    return out, time.perf_counter() - t0, time.process_time() - c0


def deep_tails(reference: bool) -> int:
    """psi_l at standardised bias a = 0, -3, -7 (unit rows, sigma = 1), new against previous quadrature."""
    sys.path.insert(0, str(Path(__file__).parent / "reference"))
    from previous_quadrature import _quad as previous_quad

    w1, w2 = unit_rows()
    print(f"psi_l with biases, {N1} x {N2} unit rows, d = {D}, every bias = a (Theorem 4's biased teachers)")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (wall time suffers when load > CPUs)")
    for a in (0.0, -3.0, -7.0):
        b1, b2 = np.full(N1, a), np.full(N2, a)
        new, wall, cpu = timed(lambda: psi_l(w1, w2, b1, b2))
        line = f"a = {a:4.1f}: {wall:7.2f} s wall, {cpu:7.2f} s CPU"
        if reference:
            current, kernels._quad = kernels._quad, previous_quad
            try:
                old, o_wall, o_cpu = timed(lambda: psi_l(w1, w2, b1, b2))
            finally:
                kernels._quad = current
            nz = old != 0
            rel = float(np.max(np.abs(new[nz] - old[nz]) / old[nz])) if np.any(nz) else 0.0
            line += (
                f" | previous quadrature {o_wall:7.2f} s wall, {o_cpu:7.2f} s CPU -> {o_cpu / cpu:5.1f}x CPU;"
                f" max relative difference {rel:.1e}, zeros agree: {np.array_equal(nz, new != 0)}"
            )
        print(line, flush=True)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigma", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mc-samples", type=int, default=20_000)
    parser.add_argument("--deep-tails", action="store_true", help="time the deep-tail regime instead")
    parser.add_argument("--no-reference", action="store_true", help="with --deep-tails: skip the previous quadrature")
    args = parser.parse_args(argv)
    if args.deep_tails:
        return deep_tails(not args.no_reference)
    w1, w2, b1, b2 = layers(args.sigma)
    pairs = N1 * N2

    psi_l(w1, w2, b1, b2, args.sigma)  # warm-up (imports, caches)
    times, cpu = [], []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        closed = psi_l(w1, w2, b1, b2, args.sigma)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    t_closed, c_closed = min(times), min(cpu)

    t0, c0 = time.perf_counter(), time.process_time()
    est = mc_kernels(
        w1, w2, b1, b2, sampler=gaussian_sampler(D, args.sigma), n_samples=args.mc_samples, names=("psi_l",)
    )["psi_l"]
    t_mc, c_mc = time.perf_counter() - t0, time.process_time() - c0
    positive = est.mean > 0
    rel_se = float(np.median(est.stderr[positive] / est.mean[positive]))
    # z-scores are meaningful only where many samples hit both units: take pairs with rel. stderr < 5%
    sampled = positive & (est.stderr < 0.05 * np.abs(est.mean))
    z = np.abs(est.zscore(closed))[sampled]
    def mc_time(rel):  # extrapolation: stderr ~ 1/sqrt(n), time linear in n
        n_needed = args.mc_samples * (rel_se / rel) ** 2
        return n_needed, t_mc * n_needed / args.mc_samples

    n_needed, t_needed = mc_time(TARGET_REL)

    load = os.getloadavg()[0]
    print(f"psi_l with biases, {N1} x {N2} pairs, d = {D}, sigma = {args.sigma:g}")
    print(f"machine          : {os.cpu_count()} CPUs, load average {load:.1f} (wall time suffers when load > CPUs)")
    print(
        f"closed form      : {t_closed * 1e3:9.1f} ms wall -> {pairs / t_closed:,.0f} pairs/s (goal >= 1e6); "
        f"{c_closed * 1e3:.1f} ms CPU -> {pairs / c_closed:,.0f} pairs per CPU-second"
    )
    print(
        f"Monte Carlo      : {t_mc * 1e3:9.1f} ms wall, {c_mc * 1e3:.1f} ms CPU for {args.mc_samples:,} samples (measured); "
        f"median relative stderr {rel_se:.2e}; |z| vs closed form < 4.5 on "
        f"{np.mean(z < 4.5):.2%} of the {z.size:,} well-sampled pairs"
    )
    print(f"ratio, measured  : {t_mc / t_closed:,.1f}x wall, {c_mc / c_closed:,.1f}x CPU (MC at its own accuracy {rel_se:.1e})")
    print(
        f"ratio, extrapol. : {t_needed / t_closed:.2e}x -- EXTRAPOLATED from the measured MC run: "
        f"{n_needed:.2e} samples for relative stderr {TARGET_REL:g} (goal >= 100x)"
    )
    print(f"  (even at a loose 1e-3 relative stderr, the same extrapolation gives {mc_time(1e-3)[1] / t_closed:,.0f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
