"""One epoch of ``paper-fc`` (1,563 SGD steps at batch 64, teacher 50-75-100-125, 10x student)
plus the per-epoch metrics, against a reference loop built like the authors' released code.

* luckbench: ``empirical.train.run_epoch`` (the hand-written fused SGD step) on the GAUS stream
  drawn on the device in chunks (teacher labels a chunk per call), then ``metrics.evaluate`` on 10,240 validation samples
  (float64 correlation sums) - the work one epoch of ``luckbench train --preset paper-fc`` does.
* reference: a ``DataLoader`` with 4 worker processes over a fixed 100,000-sample tensor, the
  teacher called on every mini-batch, the same SGD step, then metrics on 3 mini-batches
  (192 samples), as ``recon_multilayer.py`` does.

Both use the same networks, initial weights and thread count, in the same process, one after the
other (``--repeats`` alternates them and keeps the fastest of each: the honest figure on a shared
machine); the script prints both times and the ratio. ``--steps`` shortens both loops alike.
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import platform
import resource
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from luckbench.datasets import gaus
from luckbench.empirical import metrics, presets, train


def _setup(cfg):
    device = torch.device("cpu")
    data = train.load_data(cfg, device)
    teacher, student = train.build_networks(cfg, device)
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


def luckbench_epoch(cfg) -> Clock:
    data, teacher, student, opt = _setup(cfg)
    with Clock() as clock:
        train.run_epoch(cfg, student, teacher, opt, train.epoch_chunks(cfg, data, 1, torch.device("cpu")))
        metrics.evaluate(student, teacher, data.valid_x, batch_size=cfg.eval_batch)
    return clock


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
    parser.add_argument("--steps", type=int, default=1563, help="SGD steps per epoch (default: 1563)")
    parser.add_argument("--workers", type=int, default=4, help="reference DataLoader workers (default: 4)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="alternate the two loops this many times and report the fastest of each")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for both loops (default 0: what `luckbench train` picks)")
    args = parser.parse_args()
    cfg = dataclasses.replace(presets.preset("paper-fc"), steps_per_epoch=args.steps, device="cpu",
                              threads=args.threads)
    torch.set_num_threads(train.cpu_threads(cfg))
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"torch threads {torch.get_num_threads()}, torch {torch.__version__}")
    print(f"paper-fc epoch, {cfg.steps_per_epoch} steps at batch {cfg.batch_size}; wall s (CPU s)")
    runs = []
    for i in range(args.repeats):
        runs.append((luckbench_epoch(cfg), reference_epoch(cfg, args.workers)))
        a, b = runs[-1]
        print(f"  repeat {i}: luckbench {a.wall:.2f} ({a.cpu:.2f}), reference {b.wall:.2f} ({b.cpu:.2f})", flush=True)
    ours = min(r[0].wall for r in runs), min(r[0].cpu for r in runs)
    ref = min(r[1].wall for r in runs), min(r[1].cpu for r in runs)
    print(f"  luckbench (stream on device + metrics on {cfg.valid_samples} samples): "
          f"{ours[0]:8.2f} s wall, {ours[1]:8.2f} s CPU")
    print(f"  reference (DataLoader x{args.workers} over 100,000 samples + metrics on 192): "
          f"{ref[0]:8.2f} s wall, {ref[1]:8.2f} s CPU")
    print(f"  speed-up: {ref[0] / ours[0]:.2f}x wall, {ref[1] / ours[1]:.2f}x CPU")


if __name__ == "__main__":
    main()
