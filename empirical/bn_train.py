"""Train luckbench's small VGG-BN (``vgg_digits_bn``) on the shipped handwritten digits.

No pretrained ImageNet weights can be downloaded here, so the BN-bias audit asks the paper's
question (Sec. 4.1: are most BN biases negative after training?) of a network we can produce:
a Conv-BN-ReLU VGG trained with the usual ImageNet-style recipe (SGD with momentum, weight
decay, cross-entropy, cosine learning-rate decay) on ``luckbench.datasets.digits`` (8x8 images,
1,347 train / 450 test). Same seed, same weights on CPU.
"""
from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import torch
from torch import nn

from luckbench.datasets.digits import load_digits
from luckbench.empirical.architectures import build
from luckbench.errors import InputError
from luckbench.store import atomic_path

ARCH = "vgg_digits_bn"


@dataclasses.dataclass(frozen=True)
class DigitsTrainConfig:
    """Hyper-parameters of one ``vgg_digits_bn`` training run (each becomes a CLI flag)."""

    epochs: int = dataclasses.field(default=15, metadata={"help": "passes over the 1,347 training images"})
    seed: int = dataclasses.field(default=0, metadata={"help": "initialisation and shuffling seed"})
    lr: float = dataclasses.field(default=0.05, metadata={"help": "initial SGD learning rate (cosine decay)"})
    momentum: float = dataclasses.field(default=0.9, metadata={"help": "SGD momentum"})
    weight_decay: float = dataclasses.field(default=5e-4, metadata={"help": "L2 weight decay (BN included)"})
    batch_size: int = dataclasses.field(default=64, metadata={"help": "mini-batch size"})

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise InputError(f"--epochs and --batch-size must be >= 1, got {self.epochs}, {self.batch_size}")
        for name in ("lr", "momentum", "weight_decay"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InputError(f"--{name.replace('_', '-')}: must be a finite number >= 0, got {value}")


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` classified as ``y`` by ``model`` in eval mode (BN running statistics)."""
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).double().mean())


def train_digits(cfg: DigitsTrainConfig) -> tuple[nn.Module, dict[str, float]]:
    """Train ``vgg_digits_bn`` per ``cfg``; return the model and its train/test accuracy and last loss."""
    cfg.validate()
    x_train, y_train = load_digits("train")
    x_test, y_test = load_digits("test")
    torch.manual_seed(cfg.seed)
    model = build(ARCH)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(x_train.shape[0] / cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(cfg.seed)
    loss_fn = nn.CrossEntropyLoss()
    loss = torch.tensor(float("nan"))
    for _ in range(cfg.epochs):
        model.train()
        for idx in torch.randperm(x_train.shape[0], generator=gen).split(cfg.batch_size):
            if idx.numel() < 2:  # BatchNorm needs two samples per batch
                continue
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            sched.step()
    metrics = {"train_accuracy": accuracy(model, x_train, y_train),
               "test_accuracy": accuracy(model, x_test, y_test),
               "final_loss": loss.item()}
    return model, metrics


def save_state_dict(model: nn.Module, path: str | os.PathLike) -> Path:
    """``torch.save(model.state_dict())`` atomically (``luckbench.store.atomic_path``)."""
    with atomic_path(path) as tmp:
        torch.save(model.state_dict(), tmp)
    return Path(path)
