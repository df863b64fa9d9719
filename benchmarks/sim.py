"""Benchmark: the Theorem 5 flow with n = 200 students up to t = 200, solve_ivp against fixed-step Euler.

Problem: teacher 10-20-30 (code scheme, zero bias), node_multi 10 (n = 200), alpha_W = alpha_V = 1,
mode paper, closed-form Gaussian kernels. The flow is stiff: lambda_max(L) grows like n, so explicit
steps must stay below ~2 / lambda_max.

1. reference: solve_ivp (KronBDF) at rtol 1e-8 (timed, not compared);
2. candidate: solve_ivp (KronBDF) at ``--rtol``; its final error e = ||y(T) - y_ref(T)|| / ||y_ref(T)||;
3. Euler y <- y + h f(y) with 2x more steps each round, from ``--euler-steps``, until its error is <= e or
   the next round would exceed ``--euler-budget`` seconds; if e was not reached, the steps Euler needs
   are extrapolated from its measured order of convergence (printed as such).

Goal: the candidate under 30 s and faster than Euler. Prints wall and CPU seconds and the ratio.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from luckbench.sim import integrate, thm5
from luckbench.sim.parallel import single_blas


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def euler(dyn, y0: np.ndarray, t_end: float, steps: int) -> np.ndarray:
    """Fixed-step explicit Euler on dyn.rhs."""
    y, h = y0.copy(), t_end / steps
    with single_blas():
        for _ in range(steps):
            y = y + h * dyn.rhs(0.0, y)
    return y


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node-multi", type=int, default=10)
    parser.add_argument("--t-end", type=float, default=200.0)
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--euler-steps", type=int, default=4000)
    parser.add_argument("--euler-budget", type=float, default=300.0, help="seconds of Euler runs at most")
    args = parser.parse_args(argv)

    cfg = thm5.Thm5Config(node_multi=args.node_multi, bias=None, top_bias=None, t_end=args.t_end, constants_points=0)
    dyn, w0, v0 = thm5.problem(cfg, np.random.default_rng([0, 0]))
    y0 = dyn.pack(w0, v0)
    print(f"Thm 5 flow: n = {cfg.n} students, state size {y0.size}, t = {args.t_end}")

    def final(rtol):
        traj = integrate.solve(dyn, w0, v0, [0.0, args.t_end], method="KronBDF", rtol=rtol, atol=rtol * 1e-3)
        return dyn.pack(traj.w[-1], traj.v[-1]), traj.nfev

    (y_ref, nfev_ref), wall_ref, cpu_ref = _timed(lambda: final(1e-8))
    print(f"reference  KronBDF rtol 1e-8: {wall_ref:7.1f} s wall {cpu_ref:7.1f} s cpu, {nfev_ref} evaluations")
    (y_ivp, nfev), wall_ivp, cpu_ivp = _timed(lambda: final(args.rtol))
    err_ivp = np.linalg.norm(y_ivp - y_ref) / np.linalg.norm(y_ref)
    print(f"solve_ivp  KronBDF rtol {args.rtol:g}: {wall_ivp:7.1f} s wall {cpu_ivp:7.1f} s cpu, {nfev} evaluations, "
          f"final error {err_ivp:.2e}")

    steps, spent, runs = args.euler_steps, 0.0, []
    while True:
        y_e, wall_e, cpu_e = _timed(lambda: euler(dyn, y0, args.t_end, steps))
        err_e = np.linalg.norm(y_e - y_ref) / np.linalg.norm(y_ref)
        spent += wall_e
        runs.append((steps, err_e, wall_e, cpu_e))
        print(f"Euler      {steps:6d} steps (h = {args.t_end / steps:.4g}): {wall_e:7.1f} s wall {cpu_e:7.1f} s cpu, "
              f"final error {err_e:.2e}")
        if err_e <= err_ivp or spent + 2 * wall_e > args.euler_budget:
            break
        steps *= 2
    steps_e, err_e, wall_e, cpu_e = runs[-1]
    if err_e <= err_ivp:
        label, need_wall, need_cpu = "measured", wall_e, cpu_e
    else:
        finite = [r for r in runs if np.isfinite(r[1])]
        order = 1.0
        if len(finite) >= 2 and finite[-1][1] < finite[-2][1]:
            order = float(np.log2(finite[-2][1] / finite[-1][1]))
        factor = (err_e / err_ivp) ** (1 / max(order, 1e-3)) if np.isfinite(err_e) else np.inf
        label = f"extrapolated (order {order:.2f}, {steps_e * factor:.3g} steps)"
        need_wall, need_cpu = wall_e * factor, cpu_e * factor
    print(f"Euler to error {err_ivp:.2e}: {need_wall:.1f} s wall, {need_cpu:.1f} s cpu [{label}]")
    print(f"ratio Euler / solve_ivp: {need_wall / wall_ivp:.1f}x wall, {need_cpu / cpu_ivp:.1f}x cpu; "
          f"solve_ivp under 30 s: {wall_ivp < 30}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
