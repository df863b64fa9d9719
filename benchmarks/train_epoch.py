"""One epoch of ``paper-fc`` (1,563 SGD steps at batch 64, teacher 50-75-100-125, 10x student)
plus the per-epoch metrics, against a reference loop built like the authors' released code.

* luckbench: ``empirical.sgd.run_epoch`` (the hand-written fused SGD step) on the GAUS stream
  drawn on the device in chunks (the teacher labels a chunk per call), then ``metrics.evaluate``
  on the 10,240 validation samples (float64 correlation sums) - the work one epoch of
  ``luckbench train --preset paper-fc`` does.
* reference: a ``DataLoader`` with 4 worker processes over a fixed 100,000-sample tensor, the
  teacher called on every mini-batch, autograd + ``torch.optim.SGD``, then metrics on 3
  mini-batches (192 samples), as ``recon_multilayer.py`` does.

Both use the same networks, initial weights and torch thread count, in the same process,
alternating ``--repeats`` times; the script prints every repeat, the median of each and the ratio
of the medians (wall and CPU seconds), and the goals (>= 1.5x, <= 13 s) when run at full length.
``--steps`` shortens both loops alike. On a busy machine wall times measure the scheduler (the
reference's worker processes win a larger share of the CPU than one process does): the script says
so when luckbench got less than 80 % of its threads, and the CPU ratio is the figure to compare.
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import platform
import resource
import statistics
import time
import warnings

import torch
from torch.utils.data import DataLoader, TensorDataset

from luckbench.datasets import gaus
from luckbench.empirical import metrics, presets, sgd, train, train_data

GOAL_RATIO, GOAL_SECONDS, FULL_STEPS = 1.5, 13.0, 1563


def _setup(cfg):
    device = torch.device("cpu")
    data = train_data.load_data(cfg, device)
    teacher, student = train_data.build_networks(cfg, device)
    opt = torch.optim.SGD(student.parameters(), lr=cfg.lr)
    return data, teacher.eval(), student.train(), opt


class Clock:
    """Wall seconds and CPU seconds (this process, plus finished child processes)."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), self._cpu()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, self._cpu() - self.cpu

    @staticmethod
    def _cpu() -> float:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + kids.ru_utime + kids.ru_stime


def luckbench_epoch(cfg) -> tuple[Clock, float]:
    """The epoch's clock and the seconds of its metrics part."""
    data, teacher, student, opt = _setup(cfg)
    with Clock() as clock:
        sgd.run_epoch(cfg, student, teacher, opt, train_data.epoch_chunks(cfg, data, 1, torch.device("cpu"))).mean()
        t0 = time.perf_counter()
        metrics.evaluate(student, teacher, data.valid_x, batch_size=cfg.eval_batch)
        metric_seconds = time.perf_counter() - t0
    return clock, metric_seconds


def reference_epoch(cfg, workers: int = 4) -> Clock:
    _, teacher, student, opt = _setup(cfg)
    x = gaus.gaus_set(100_000, (cfg.teacher[0],), seed=cfg.seed)
    loader = DataLoader(TensorDataset(x), batch_size=cfg.batch_size, shuffle=True, num_workers=workers,
                        generator=torch.Generator().manual_seed(0))
    with Clock() as clock:
        batches = iter(loader)
        for step, (xb,) in enumerate(batches):
            if step == cfg.steps_per_epoch:
                break
            with torch.no_grad():
                target = teacher(xb)
            loss = torch.nn.functional.mse_loss(student(xb), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        metrics.evaluate(student, teacher, x[: 3 * cfg.batch_size], batch_size=cfg.batch_size)
        del batches  # joins the worker processes, so their CPU time is counted
        gc.collect()
    return clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=FULL_STEPS, help=f"SGD steps per epoch (default: {FULL_STEPS})")
    parser.add_argument("--repeats", type=int, default=3, help="alternate the two loops this many times (default: 3)")
    parser.add_argument("--workers", type=int, default=4, help="reference DataLoader workers (default: 4)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for both loops (default 0: what `luckbench train` picks)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="This DataLoader will create")  # 4 workers on 2 CPUs is the point
    cfg = dataclasses.replace(presets.preset("paper-fc"), steps_per_epoch=args.steps, device="cpu",
                              threads=args.threads)
    torch.set_num_threads(train.cpu_threads(cfg))
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"torch threads {torch.get_num_threads()}, torch {torch.__version__}")
    print(f"paper-fc epoch, {cfg.steps_per_epoch} steps at batch {cfg.batch_size}; wall s (CPU s)")
    ours, metric_parts, ref = [], [], []
    for i in range(args.repeats):
        clock, metric_seconds = luckbench_epoch(cfg)
        ours.append(clock)
        metric_parts.append(metric_seconds)
        ref.append(reference_epoch(cfg, args.workers))
        print(f"  repeat {i}: luckbench {clock.wall:.2f} ({clock.cpu:.2f}; metrics {metric_seconds:.2f}), "
              f"reference {ref[-1].wall:.2f} ({ref[-1].cpu:.2f}), ratio {ref[-1].wall / clock.wall:.2f}x", flush=True)
    med = lambda clocks, what: statistics.median(getattr(c, what) for c in clocks)  # noqa: E731
    o_wall, o_cpu, r_wall, r_cpu = med(ours, "wall"), med(ours, "cpu"), med(ref, "wall"), med(ref, "cpu")
    print(f"  luckbench (stream + metrics on {cfg.valid_samples} samples), median: {o_wall:8.2f} s wall, "
          f"{o_cpu:8.2f} s CPU (metrics {statistics.median(metric_parts):.2f} s)")
    print(f"  reference (DataLoader x{args.workers} + metrics on 192), median:      {r_wall:8.2f} s wall, "
          f"{r_cpu:8.2f} s CPU")
    print(f"  speed-up (ratio of medians): {r_wall / o_wall:.2f}x wall, {r_cpu / o_cpu:.2f}x CPU")
    share = o_cpu / o_wall / torch.get_num_threads()
    if share < 0.8:  # the reference's 4 worker processes win a larger share of a busy CPU than one process does
        print(f"  machine busy: luckbench got {share:.0%} of its {torch.get_num_threads()} thread(s); "
              "wall ratios measure the scheduler, compare the CPU ratio or re-run on a quiet machine")
    if args.steps == FULL_STEPS:
        met = r_wall / o_wall >= GOAL_RATIO and o_wall <= GOAL_SECONDS
        print(f"  goal >= {GOAL_RATIO}x and <= {GOAL_SECONDS:g} s: {'met' if met else 'not met'}")


if __name__ == "__main__":
    main()
