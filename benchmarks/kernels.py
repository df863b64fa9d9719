"""Benchmark: closed-form with-bias psi_l (theory/kernels.py) against Monte Carlo, same run.

Builds a 1250 x 125 with-bias psi_l matrix (d = 20) and prints

* closed form: pairs per second (best of --repeats), goal >= 1e6;
* Monte Carlo (theory/montecarlo.py, Gaussian sampler): a measured run with --mc-samples samples,
  its time and its median relative standard error over the pairs;
* the ratio MC / closed form: (a) measured, with the MC run at its own (much worse) accuracy, and
  (b) EXTRAPOLATED to the closed form's accuracy contract (relative error 1e-9): the sample count is
  scaled by (measured relative stderr / 1e-9)^2 and the time linearly in the sample count, from the
  measured MC timing. Goal for (b): >= 100x.

Usage: .venv/bin/python benchmarks/kernels.py [--sigma 10] [--repeats 5] [--mc-samples 20000]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from luckbench.datasets.samplers import gaussian_sampler
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigma", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mc-samples", type=int, default=20_000)
    args = parser.parse_args(argv)
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
