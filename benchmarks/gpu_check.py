"""Prepared check for a machine with a CUDA GPU: ``--device cuda`` training, timed and checked.

Run once there: ``python benchmarks/gpu_check.py`` (a few minutes on one GPU). It prints one line
per measurement and exits 1 on any disagreement; without CUDA it prints ``no CUDA device`` and
exits 0 (so ``make bench`` passes on CPU-only machines).

1. ``sync``: one short epoch of each preset (fc: the fused SGD step; cnn: autograd + SGD) under
   ``torch.cuda.set_sync_debug_mode("error")`` - the training loop must never wait for the GPU.
2. ``time``: one full epoch (1,563 steps + the metrics) of ``paper-fc`` and ``paper-cnn`` through
   ``luckbench.empirical.train.train(device="cuda")`` - the time ``luckbench train`` spends per epoch.
3. ``agree``: the same networks and the same CPU-drawn inputs trained for a few steps on the CPU
   and on the GPU; rho-bar per layer (before and after) within ``RHO_TOL`` and the validation loss
   within ``LOSS_RTOL`` (relative). The GPU uses torch's defaults, TF32 convolutions included.
4. ``sim``: v4 Sec. 4.2 cells (``sim protocol42 --device cuda``, 32 seeds, ``SIM_ITERS`` iterations)
   timed on the GPU in float64 and float32, the widest against the CPU (numpy) run of the same cell:
   row norms within ``SIM_TOL``, and the full grid's time extrapolated from the GPU's per-iteration cost.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time

import torch

import numpy as np

from luckbench.datasets import gaus
from luckbench.empirical import metrics, presets, sgd, train, train_data
from luckbench.sim import protocol

RHO_TOL = 5e-3
LOSS_RTOL = 2e-2
# steps and validation samples of the CPU/GPU agreement runs (the CPU side must stay short)
AGREE = {"paper-fc": (200, 2048), "paper-cnn": (4, 256)}
SIM_ITERS, SIM_TOL = 1000, 1e-9  # iterations per timed protocol42 cell; CPU/GPU row-norm agreement (float64)


def _cfg(name: str, **changes) -> presets.TrainConfig:
    return dataclasses.replace(presets.preset(name), progress=False, **changes)


def check_no_sync(name: str) -> bool:
    """A short epoch on the GPU with synchronising calls turned into errors."""
    cfg = _cfg(name, steps_per_epoch=8, device="cuda")
    dev = torch.device("cuda")
    data = train_data.load_data(cfg, dev)
    teacher, student = train_data.build_networks(cfg, dev)
    opt = torch.optim.SGD(student.parameters(), lr=cfg.lr)
    teacher.eval()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        loss = sgd.run_epoch(cfg, student, teacher, opt, train_data.epoch_chunks(cfg, data, 1, dev))
        ok, note = True, "no synchronisation"
    except RuntimeError as exc:
        ok, note = False, str(exc).splitlines()[0]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    if ok:
        note += f", mean loss {loss.mean():.4g}"
    print(f"sync  {name:10s} {'ok  ' if ok else 'FAIL'} {note}", flush=True)
    return ok


def time_epoch(name: str) -> None:
    """One full epoch through ``train.train`` on the GPU (epoch 0 metrics first, so CUDA is warm)."""
    cfg = _cfg(name, epochs=1, device="cuda")
    res = train.train(cfg)
    secs = res.history.epoch_seconds
    rho = ", ".join(f"{metrics.rho_bar(c.double().numpy()):.4f}" for c in res.history.corr[-1])
    print(f"time  {name:10s} epoch 1 ({cfg.steps_per_epoch} steps + metrics on {cfg.valid_samples}): {secs[1]:.2f} s "
          f"on {torch.cuda.get_device_name()}; metrics alone {secs[0]:.2f} s; rho-bar [{rho}]", flush=True)


def _train_and_evaluate(cfg, teacher, student, chunks, valid, device) -> tuple[metrics.Evaluation, metrics.Evaluation]:
    teacher, student = copy.deepcopy(teacher).to(device), copy.deepcopy(student).to(device)
    valid = valid.to(device)
    before = metrics.evaluate(student, teacher, valid, batch_size=cfg.eval_batch)
    opt = torch.optim.SGD(student.parameters(), lr=cfg.lr)
    teacher.eval()
    student.train()
    sgd.run_epoch(cfg, student, teacher, opt, (c.to(device) for c in chunks)).mean()
    return before, metrics.evaluate(student, teacher, valid, batch_size=cfg.eval_batch)


def check_agreement(name: str, device: str = "cuda", steps: int | None = None, n_valid: int | None = None) -> bool:
    """CPU and ``device`` runs of ``name`` agree (``steps``/``n_valid`` default to ``AGREE``)."""
    steps, n_valid = steps or AGREE[name][0], n_valid or AGREE[name][1]
    cfg = _cfg(name, steps_per_epoch=steps, valid_samples=n_valid, device="cpu")
    cpu = torch.device("cpu")
    data = train_data.load_data(cfg, cpu)
    teacher, student = train_data.build_networks(cfg, cpu)
    chunks = list(gaus.gaus_chunks(data.sample_shape, batch_size=cfg.batch_size, steps=steps, seed=cfg.seed,
                                   epoch=1, std=cfg.gaus_std))
    runs = {dev: _train_and_evaluate(cfg, teacher, student, chunks, data.valid_x, torch.device(dev))
            for dev in ("cpu", device)}
    ok = True
    for i, when in enumerate(("before", f"after {steps} steps")):
        a, b = runs["cpu"][i], runs[device][i]
        rho_diff = max(abs(metrics.rho_bar(x) - metrics.rho_bar(y)) for x, y in zip(a.corr, b.corr))
        loss_diff = abs(a.loss - b.loss) / max(abs(a.loss), 1e-30)
        good = rho_diff <= RHO_TOL and loss_diff <= LOSS_RTOL
        ok &= good
        print(f"agree {name:10s} {'ok  ' if good else 'FAIL'} {when}: max |rho-bar cpu - {device}| {rho_diff:.2e} "
              f"(tol {RHO_TOL:g}), loss {a.loss:.5g} vs {b.loss:.5g} (rel {loss_diff:.1e}, tol {LOSS_RTOL:g})",
              flush=True)
    return ok


def check_sim(device: str = "cuda", iters: int = SIM_ITERS, seeds: int = 32) -> bool:
    """protocol42 cells on ``device`` (float64, float32) against the CPU run of the widest cell."""
    base = protocol.ProtocolConfig(alpha_ws=(1.0,), alpha_vs=(1.0,), seeds=seeds, iters=iters,
                                   snapshot_every=max(1, iters // 10))
    per_iteration, norms = 0.0, {}  # seconds of one float64 iteration of all seeds, summed over the widths
    for k in base.node_multis:
        for dtype in ("float64", "float32"):
            cfg = dataclasses.replace(base, device=device, dtype=dtype)
            t0 = time.perf_counter()
            norms[k, dtype] = protocol.cell_row_norms((cfg, k, 0))
            secs = time.perf_counter() - t0
            if dtype == "float64":
                per_iteration += secs / iters
            print(f"sim   node_multi {k:3d} {dtype} on {device}: {secs:.2f} s for {iters} iterations x {seeds} seeds",
                  flush=True)
    widest = max(base.node_multis)
    t0 = time.perf_counter()
    cpu = protocol.cell_row_norms((base, widest, 0))
    cpu_secs = time.perf_counter() - t0
    diff = float(np.max(np.abs(norms[widest, "float64"] - cpu)))
    ok = diff <= SIM_TOL
    full = protocol.ProtocolConfig()  # the paper's grid: 4 pairs x 32 seeds x 20,000 iterations per width
    grid = per_iteration * full.iters * len(full.alpha_ws) * full.seeds / seeds / 60
    print(f"sim   {'ok  ' if ok else 'FAIL'} node_multi {widest} float64: max |row norm cpu - {device}| {diff:.2e} (tol "
          f"{SIM_TOL:g}); CPU (numpy, one BLAS thread) {cpu_secs:.2f} s; full grid extrapolated on "
          f"one {device} device, cells one after another: {grid:.1f} min", flush=True)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-timing", action="store_true", help="skip the two full-epoch timings")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: GPU check skipped")
        return 0
    ok = True
    for name in ("paper-fc", "paper-cnn"):
        ok &= check_no_sync(name)
    if not args.no_timing:
        for name in ("paper-fc", "paper-cnn"):
            t0 = time.perf_counter()
            time_epoch(name)
            print(f"      {name:10s} whole call incl. set-up {time.perf_counter() - t0:.1f} s", flush=True)
    for name in ("paper-fc", "paper-cnn"):
        ok &= check_agreement(name)
    ok &= check_sim()
    print("GPU check: " + ("all agree" if ok else "DISAGREEMENT (see FAIL lines)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
