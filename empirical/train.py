"""Teacher-student training with the paper's per-epoch metrics (Sec. 4.2): the run itself.

One run (:func:`train`) of a :class:`~luckbench.empirical.presets.TrainConfig`; the pieces live in
their own modules:

* :mod:`~luckbench.empirical.train_data` - data on the device, the two networks, epoch inputs,
  teacher pre-training on real data;
* :mod:`~luckbench.empirical.sgd` - one training epoch (the fused hand-written SGD step for the
  paper's setting, else autograd + ``torch.optim.SGD``);
* :mod:`~luckbench.empirical.history` / :mod:`~luckbench.empirical.checkpoint` - what is recorded
  per epoch, and checkpoints (atomic, ``weights_only``, validated on read);
* :mod:`~luckbench.empirical.train_result` - the stored Dataset;
* :mod:`~luckbench.empirical.train_memory` - the memory estimate checked before allocating.

Each epoch runs ``steps_per_epoch`` SGD steps (lr schedule, momentum, weight decay) on the loss
between student and teacher outputs; after every epoch (and at epoch 0, before training) the
metrics of :mod:`luckbench.empirical.metrics` on the validation set, and beta*/H* snapshots at the
first and last epoch (and every ``beta_every`` epochs).

Divergence: an epoch whose training or validation loss is NaN/inf ends the run; the result holds
the epochs before it and ``TrainResult.diverged_epoch`` says which epoch diverged.

Determinism and resume: every random stream is derived from ``(seed, purpose, epoch)``, so an
epoch's data never depend on earlier epochs; a checkpoint (written after an epoch at most every
``checkpoint_seconds`` and after the last one) holds the networks, the optimizer state and the
metric history. On CPU a resumed run reproduces an uninterrupted one bit for bit.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import xarray as xr
from tqdm import tqdm

from luckbench.empirical import checkpoint as ckpt
from luckbench.empirical import metrics
from luckbench.empirical.history import History
from luckbench.empirical.presets import TrainConfig
from luckbench.empirical.sgd import run_epoch
from luckbench.empirical.train_data import (RunData, build_networks, epoch_chunks, load_data, pretrain_teacher,
                                            steps_per_epoch)
from luckbench.empirical.train_memory import check_memory
from luckbench.empirical.train_result import result_dataset
from luckbench.errors import InputError
from luckbench.theory.network import ReLUNet

# the public face of the training path (the CLI, benchmarks and notebooks import these from here)
__all__ = ["TrainResult", "build_networks", "load_data", "result_dataset", "run", "train"]

SMALL_STEP_MACS = 20_000_000  # below this many multiply-adds per student step, train on one CPU thread


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an InputError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available")
    return torch.device(name)


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of training epoch ``epoch`` (1-based): constant, cosine or step decay."""
    e = epoch - 1
    if cfg.lr_schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * e / max(cfg.epochs, 1)))
    if cfg.lr_schedule == "step":
        return cfg.lr * cfg.lr_gamma ** (e // cfg.lr_step)
    return cfg.lr


def step_macs(cfg: TrainConfig) -> int:
    """Multiply-adds of one student forward pass on a mini-batch (FC; conv counted per position)."""
    w = cfg.student
    area = cfg.image_size ** 2 if cfg.kind == "conv" else 1
    return cfg.batch_size * area * sum(a * b for a, b in zip(w[:-1], w[1:]))


def cpu_threads(cfg: TrainConfig) -> int:
    """``cfg.threads``, or (0) one thread for small students - below ``SMALL_STEP_MACS`` per step the
    second thread's synchronisation costs more than it saves, badly so on a busy machine - else
    torch's default."""
    if cfg.threads:
        return cfg.threads
    return 1 if step_macs(cfg) < SMALL_STEP_MACS else torch.get_num_threads()


@dataclasses.dataclass
class TrainResult:
    """A finished run: its configuration, history and final networks; ``diverged_epoch`` is the
    epoch whose loss became NaN/inf (the history stops before it), None when training converged."""

    cfg: TrainConfig
    history: History
    teacher: ReLUNet
    student: ReLUNet
    device: str
    diverged_epoch: int | None = None


def _beta_snapshot(cfg: TrainConfig, data: RunData, teacher, student) -> list | None:
    if not cfg.beta_samples or cfg.kind != "fc":
        return None
    x = data.valid_x[: cfg.beta_samples]
    return [(torch.from_numpy(b.beta), torch.from_numpy(b.d)) for b in metrics.beta_h_star(student, teacher, x)]


def _evaluate(cfg: TrainConfig, data: RunData, teacher, student) -> metrics.Evaluation:
    return metrics.evaluate(student, teacher, data.valid_x, labels=data.valid_y, loss=cfg.loss,
                            batch_size=cfg.eval_batch)


def _show_progress(cfg: TrainConfig) -> bool:
    return bool(cfg.progress) and sys.stderr.isatty()


def train(cfg: TrainConfig, *, checkpoint: Path | None = None, resume: bool = False,
          on_epoch_end: Callable[[int], None] | None = None, checkpoint_seconds: float = 60.0) -> TrainResult:
    """Run ``cfg``, resuming from ``checkpoint`` when ``resume`` and it exists.

    Without ``resume`` an existing ``checkpoint`` is never replaced (InputError saying how to resume
    it or what to remove). The checkpoint is rewritten after an epoch once ``checkpoint_seconds``
    have passed since the last write (0: after every epoch), and always after the last epoch; the
    correlation history it carries grows with every epoch, so short epochs would otherwise spend
    their time saving. A diverged epoch is never checkpointed.
    """
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if checkpoint is not None and not resume and checkpoint.exists():
        ckpt.refuse_existing(checkpoint, cfg)
    check_memory(cfg)
    device = resolve_device(cfg.device)
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads(cfg))
    try:
        return _train(cfg, device, checkpoint, resume, on_epoch_end, checkpoint_seconds)
    finally:
        torch.set_num_threads(threads)


def run(cfg: TrainConfig, **kwargs) -> xr.Dataset:
    """:func:`train` then :func:`result_dataset`: the run as a Dataset (``config`` and ``seed`` in
    its attributes), for notebooks."""
    return result_dataset(train(cfg, **kwargs))


def _start(cfg: TrainConfig, data: RunData, teacher, student) -> History:
    """The history of a fresh run: teacher pre-training (real data) and the epoch-0 metrics."""
    hist = History()
    if data.train_y is not None and cfg.teacher_epochs:
        hist.teacher_train_acc = pretrain_teacher(teacher, cfg, data)
    t0 = time.perf_counter()
    hist.record(_evaluate(cfg, data, teacher, student), train_loss=float("nan"), lr=float("nan"),
                seconds=time.perf_counter() - t0)
    snap = _beta_snapshot(cfg, data, teacher, student)
    if snap is not None:
        hist.beta[0] = snap
    return hist


def _train(cfg: TrainConfig, device: torch.device, checkpoint: Path | None, resume: bool,
           on_epoch_end: Callable[[int], None] | None, checkpoint_seconds: float) -> TrainResult:
    data = load_data(cfg, device)
    teacher, student = build_networks(cfg, device)
    opt = torch.optim.SGD(student.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if resume and checkpoint is not None and checkpoint.is_file():
        start, hist = ckpt.load_checkpoint(checkpoint, cfg, device, teacher, student, opt)
    else:
        start, hist = 0, _start(cfg, data, teacher, student)
    teacher.eval()
    student.train()
    steps = steps_per_epoch(cfg, data)
    bar = tqdm(total=cfg.epochs * steps, initial=start * steps, unit="step", disable=not _show_progress(cfg),
               desc="train", leave=False)
    last_save = time.monotonic()
    diverged = None
    try:
        for epoch in range(start + 1, cfg.epochs + 1):
            t0 = time.perf_counter()
            lr = lr_at(cfg, epoch)
            for group in opt.param_groups:
                group["lr"] = lr
            train_loss = run_epoch(cfg, student, teacher, opt, epoch_chunks(cfg, data, epoch, device), bar).mean()
            ev = _evaluate(cfg, data, teacher, student) if math.isfinite(train_loss) else None
            if ev is None or not math.isfinite(ev.loss):
                diverged = epoch
                break
            snap_due = epoch == cfg.epochs or (cfg.beta_every and epoch % cfg.beta_every == 0)
            snap = _beta_snapshot(cfg, data, teacher, student) if snap_due else None
            if snap is not None:
                hist.beta[epoch] = snap
            hist.record(ev, train_loss=train_loss, lr=lr, seconds=time.perf_counter() - t0)
            bar.set_postfix(rho0=f"{metrics.rho_bar(ev.corr[0]):.3f}", loss=f"{ev.loss:.3g}")
            due = epoch == cfg.epochs or time.monotonic() - last_save >= checkpoint_seconds
            if checkpoint is not None and due:
                ckpt.save_checkpoint(checkpoint, cfg, epoch, teacher, student, opt, hist)
                last_save = time.monotonic()
            if on_epoch_end is not None:
                on_epoch_end(epoch)
    finally:
        bar.close()
    return TrainResult(cfg, hist, teacher, student, str(device), diverged)
