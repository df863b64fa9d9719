"""The inputs and networks of a training run: data on the device, teacher and student, epoch inputs.

* GAUS: a finite set (``--finite``) or the infinite stream drawn fresh on the training device per
  epoch (``luckbench.datasets.gaus``); validation samples from their own stream.
* Real data (digits, CIFAR-10): images flattened for FC networks; the teacher gets PyTorch's
  default init and is pre-trained on the labels (SGD, momentum 0.9, weight decay 5e-4, cosine
  schedule, cross-entropy) by :func:`pretrain_teacher`.
* Networks (``luckbench.theory.network``): the teacher gets the paper's weights
  (``teacher_init_``) on GAUS; the student (``width_mult`` x wider hidden layers) PyTorch's default
  init. Every random stream is derived from ``(seed, purpose, epoch)``.
"""
from __future__ import annotations

import dataclasses
import math

import torch

from luckbench.datasets import gaus
from luckbench.empirical.presets import TrainConfig
from luckbench.errors import InputError
from luckbench.theory.network import NetSpec, ReLUNet, student_init_, teacher_init_

TEACHER_STREAM = 7  # derive_seed key of the teacher pre-training order


@dataclasses.dataclass
class RunData:
    """Inputs of a run: ``train_x`` (None = GAUS stream), validation inputs and labels."""

    sample_shape: tuple[int, ...]
    train_x: torch.Tensor | None
    train_y: torch.Tensor | None
    valid_x: torch.Tensor
    valid_y: torch.Tensor | None


def _image_input(cfg: TrainConfig, x: torch.Tensor, what: str) -> torch.Tensor:
    """Real images (N, C, S, S) as the network's input: flattened for FC, checked for conv."""
    c, s = x.shape[1], x.shape[2]
    if cfg.kind == "fc":
        if cfg.teacher[0] != c * s * s:
            raise InputError(f"--teacher: {what} inputs have {c * s * s} features, the teacher's input width is {cfg.teacher[0]}")
        return x.reshape(x.shape[0], -1)
    if cfg.teacher[0] != c or cfg.image_size != s:
        raise InputError(f"--teacher/--image-size: {what} images are {c}x{s}x{s}, the config says "
                         f"{cfg.teacher[0]}x{cfg.image_size}x{cfg.image_size}")
    return x


def _check_labels(cfg: TrainConfig, *labels: torch.Tensor) -> None:
    """Labels must index the teacher's outputs (the pre-training cross-entropy needs it)."""
    lo = min(int(y.min()) for y in labels)
    hi = max(int(y.max()) for y in labels)
    if lo < 0 or hi >= cfg.teacher[-1]:
        raise InputError(f"--teacher: {cfg.data} labels run from {lo} to {hi}, the teacher has {cfg.teacher[-1]} "
                         f"outputs; its last width must be at least {hi + 1}")


def load_data(cfg: TrainConfig, device: torch.device) -> RunData:
    """The training and validation inputs ``cfg`` asks for, on ``device``."""
    dtype = getattr(torch, cfg.dtype)
    if cfg.data == "gaus":
        shape = (cfg.teacher[0],) if cfg.kind == "fc" else (cfg.teacher[0], cfg.image_size, cfg.image_size)
        train_x = None
        if cfg.finite:
            train_x = gaus.gaus_set(cfg.finite, shape, seed=cfg.seed, std=cfg.gaus_std, device=device, dtype=dtype)
        valid = gaus.gaus_set(cfg.valid_samples, shape, seed=cfg.seed, std=cfg.gaus_std, device=device,
                              dtype=dtype, stream=gaus.STREAM_VALID)
        return RunData(shape, train_x, None, valid, None)
    if cfg.data == "digits":
        from luckbench.datasets.digits import load_digits

        (xtr, ytr), (xte, yte) = (load_digits(s, size=cfg.image_size, seed=cfg.seed) for s in ("train", "test"))
    else:
        from luckbench.datasets.cifar10 import load_cifar10

        if not cfg.data_dir:
            raise InputError("--data-dir: data=cifar10 needs the folder holding the CIFAR-10 python batches")
        (xtr, ytr), (xte, yte) = (load_cifar10(cfg.data_dir, s) for s in ("train", "test"))
    _check_labels(cfg, ytr, yte)
    xtr, xte = _image_input(cfg, xtr, cfg.data), _image_input(cfg, xte, cfg.data)
    return RunData(tuple(xtr.shape[1:]), xtr.to(device, dtype), ytr.to(device), xte.to(device, dtype), yte.to(device))


def build_networks(cfg: TrainConfig, device: torch.device) -> tuple[ReLUNet, ReLUNet]:
    """(teacher, student) initialised from ``cfg.seed`` (on the CPU, so every device starts from
    the same weights), then moved to ``device``."""
    common = dict(kind=cfg.kind, bias=cfg.bias, image_size=cfg.image_size, dtype=cfg.dtype)
    teacher = ReLUNet(NetSpec(tuple(cfg.teacher), bn=cfg.teacher_bn, **common))
    student = ReLUNet(NetSpec(cfg.student, bn=cfg.bn, **common))
    t_seed = gaus.derive_seed(cfg.seed, gaus.STREAM_TEACHER)
    if cfg.data == "gaus":
        teacher_init_(teacher, t_seed, normalize=cfg.teacher_normalize)
    else:
        student_init_(teacher, t_seed)  # default init, then pre-training on the labels
    student_init_(student, gaus.derive_seed(cfg.seed, gaus.STREAM_STUDENT))
    return teacher.to(device), student.to(device)


def steps_per_epoch(cfg: TrainConfig, data: RunData) -> int:
    """``cfg.steps_per_epoch``, or one pass over a finite training set when it is 0."""
    if cfg.steps_per_epoch:
        return cfg.steps_per_epoch
    return max(1, math.ceil(data.train_x.shape[0] / cfg.batch_size))


def epoch_chunks(cfg: TrainConfig, data: RunData, epoch: int, device: torch.device):
    """The training inputs of ``epoch`` (1-based), in chunks of whole mini-batches."""
    steps = steps_per_epoch(cfg, data)
    if data.train_x is None:
        return gaus.gaus_chunks(data.sample_shape, batch_size=cfg.batch_size, steps=steps, seed=cfg.seed,
                                epoch=epoch, std=cfg.gaus_std, device=device, dtype=getattr(torch, cfg.dtype))
    return gaus.finite_chunks(data.train_x, batch_size=cfg.batch_size, steps=steps, seed=cfg.seed, epoch=epoch)


def pretrain_teacher(teacher: ReLUNet, cfg: TrainConfig, data: RunData) -> float:
    """Real data: train the teacher on the labels (cross-entropy); returns its training accuracy."""
    opt = torch.optim.SGD(teacher.parameters(), lr=cfg.teacher_lr, momentum=0.9, weight_decay=5e-4)
    steps = math.ceil(data.train_x.shape[0] / cfg.batch_size)
    n = data.train_x.shape[0]
    teacher.train()
    for e in range(cfg.teacher_epochs):
        for group in opt.param_groups:
            group["lr"] = cfg.teacher_lr * 0.5 * (1.0 + math.cos(math.pi * e / cfg.teacher_epochs))
        gen = gaus.make_generator(gaus.derive_seed(cfg.seed, TEACHER_STREAM, e), "cpu")
        order = torch.randperm(n, generator=gen).to(data.train_x.device)
        for idx in order[: steps * cfg.batch_size].split(cfg.batch_size):
            loss = torch.nn.functional.cross_entropy(teacher(data.train_x[idx]), data.train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    teacher.eval()
    with torch.no_grad():
        hits = sum((teacher(xb).argmax(1) == yb).sum()
                   for xb, yb in zip(data.train_x.split(cfg.eval_batch), data.train_y.split(cfg.eval_batch)))
    return float(hits) / n
