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
from luckbench.config import NonNegativeFloat, PositiveInt, Seed, validate_fields
from luckbench.store import atomic_path

ARCH = "vgg_digits_bn"


@dataclasses.dataclass(frozen=True)
class DigitsTrainConfig:
    """Hyper-parameters of one ``vgg_digits_bn`` training run (each becomes a CLI flag)."""

    epochs: PositiveInt = dataclasses.field(default=15, metadata={"help": "passes over the 1,347 training images"})
    seed: Seed = dataclasses.field(default=0, metadata={"help": "initialisation and shuffling seed"})
    lr: NonNegativeFloat = dataclasses.field(default=0.05, metadata={"help": "initial SGD learning rate (cosine decay)"})
    momentum: NonNegativeFloat = dataclasses.field(default=0.9, metadata={"help": "SGD momentum"})
    weight_decay: NonNegativeFloat = dataclasses.field(default=5e-4, metadata={"help": "L2 weight decay (BN included)"})
    batch_size: PositiveInt = dataclasses.field(default=64, metadata={"help": "mini-batch size"})

    def validate(self) -> None:
        validate_fields(self)


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
