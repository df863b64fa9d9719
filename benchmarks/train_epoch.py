"""One epoch of ``paper-fc`` (1,563 SGD steps at batch 64, teacher 50-75-100-125, 10x student)
plus the per-epoch metrics, against a reference loop built like the authors' released code.

* luckbench: ``empirical.train.train_epoch`` on the GAUS stream drawn on the device in chunks
  (teacher labels a chunk per call), then ``metrics.evaluate`` on 10,240 validation samples
  (float64 correlation sums) - the work one epoch of ``luckbench train --preset paper-fc`` does.
* reference: a ``DataLoader`` with 4 worker processes over a fixed 100,000-sample tensor, the
  teacher called on every mini-batch, the same SGD step, then metrics on 3 mini-batches
  (192 samples), as ``recon_multilayer.py`` does.

Both use the same networks, initial weights and thread count, in the same process, one after the
other; the script prints both times and the ratio. ``--steps`` shortens both loops alike.
"""
from __future__ import annotations

import argparse
import dataclasses
import platform
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


def luckbench_epoch(cfg) -> float:
    data, teacher, student, opt = _setup(cfg)
    t0 = time.perf_counter()
    train.train_epoch(student, teacher, opt, train.epoch_chunks(cfg, data, 1, torch.device("cpu")),
                      batch_size=cfg.batch_size, loss=cfg.loss)
    metrics.evaluate(student, teacher, data.valid_x, batch_size=cfg.eval_batch)
    return time.perf_counter() - t0


def reference_epoch(cfg, workers: int = 4) -> float:
    _, teacher, student, opt = _setup(cfg)
    x = gaus.gaus_set(100_000, (cfg.teacher[0],), seed=cfg.seed)
    loader = DataLoader(TensorDataset(x), batch_size=cfg.batch_size, shuffle=True, num_workers=workers,
                        generator=torch.Generator().manual_seed(0))
    t0 = time.perf_counter()
    for step, (xb,) in enumerate(loader):
        if step == cfg.steps_per_epoch:
            break
        with torch.no_grad():
            target = teacher(xb)
        loss = torch.nn.functional.mse_loss(student(xb), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    metrics.evaluate(student, teacher, x[: 3 * cfg.batch_size], batch_size=cfg.batch_size)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1563, help="SGD steps per epoch (default: 1563)")
    parser.add_argument("--workers", type=int, default=4, help="reference DataLoader workers (default: 4)")
    args = parser.parse_args()
    cfg = dataclasses.replace(presets.preset("paper-fc"), steps_per_epoch=args.steps, device="cpu")
    torch.set_num_threads(train.cpu_threads(cfg))
    ours = luckbench_epoch(cfg)
    ref = reference_epoch(cfg, args.workers)
    print(f"machine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
          f"torch {torch.__version__}")
    print(f"paper-fc epoch, {cfg.steps_per_epoch} steps at batch {cfg.batch_size}")
    print(f"  luckbench (stream on device + metrics on {cfg.valid_samples} samples): {ours:8.2f} s")
    print(f"  reference (DataLoader x{args.workers} over 100,000 samples + metrics on 192): {ref:8.2f} s")
    print(f"  speed-up: {ref / ours:.2f}x")


if __name__ == "__main__":
    main()
