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
import time

import numpy as np

from luckbench.datasets.gaussian import gaussian_sampler
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
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        closed = psi_l(w1, w2, b1, b2, args.sigma)
        times.append(time.perf_counter() - t0)
    t_closed = min(times)

    t0 = time.perf_counter()
    est = mc_kernels(
        w1, w2, b1, b2, sampler=gaussian_sampler(D, args.sigma), n_samples=args.mc_samples, names=("psi_l",)
    )["psi_l"]
    t_mc = time.perf_counter() - t0
    positive = est.mean > 0
    rel_se = float(np.median(est.stderr[positive] / est.mean[positive]))
    z = np.abs(est.zscore(closed))[est.stderr > 0]
    n_needed = args.mc_samples * (rel_se / TARGET_REL) ** 2
    t_needed = t_mc * n_needed / args.mc_samples

    print(f"psi_l with biases, {N1} x {N2} pairs, d = {D}, sigma = {args.sigma:g}")
    print(f"closed form      : {t_closed * 1e3:9.1f} ms  -> {pairs / t_closed:,.0f} pairs/s (goal >= 1e6)")
    print(
        f"Monte Carlo      : {t_mc * 1e3:9.1f} ms for {args.mc_samples:,} samples (measured); "
        f"median relative stderr {rel_se:.2e}; max |z| vs closed form {z.max():.2f}"
    )
    print(f"ratio, measured  : {t_mc / t_closed:,.1f}x (MC at its own accuracy {rel_se:.1e})")
    print(
        f"ratio, extrapol. : {t_needed / t_closed:.2e}x -- EXTRAPOLATED from the measured MC run: "
        f"{n_needed:.2e} samples for relative stderr {TARGET_REL:g} (goal >= 100x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
