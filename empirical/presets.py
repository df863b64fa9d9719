"""Training configurations: one frozen :class:`TrainConfig` per run, and the named presets.

Every field of :class:`TrainConfig` becomes a ``luckbench train`` flag
(``luckbench.config.add_dataclass_arguments``); a preset is a :class:`TrainConfig` whose fields
the flags override. Presets (Sec. 4.2 of the paper unless said otherwise):

* ``paper-fc``       - GAUS (d = 20, std 10), teacher 50-75-100-125 with 100 outputs, 10x student.
* ``paper-small-fc`` - the same with the small teacher 10-15-20-25 (Fig. 9(a)).
* ``paper-cnn``      - GAUS images 1x16x16, teacher 64-64-64-64 channels (3x3 conv, no padding),
  10x student (640 channels). About 0.4 TFLOP per SGD step: meant for a GPU.
* ``cifar-fc`` / ``cifar-cnn`` - a BN teacher pre-trained on CIFAR-10 labels, then the student is
  trained on the teacher's outputs on the training images; needs ``--data-dir`` (python batches).
* ``digits-fc``      - the same real-data protocol on scikit-learn's bundled 8x8 digits (offline).
* ``smoke``          - a tiny GAUS run, seconds on a CPU (the demo and the tests use it).

Student BatchNorm, when on, goes after the ReLU (Linear -> ReLU -> BN), as in the paper.
"""
from __future__ import annotations

import dataclasses
from typing import Literal, get_args

from luckbench.config import flag_field as _f
from luckbench.config import (NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Seed, Threads,
                              validate_fields)
from luckbench.errors import InputError

Data = Literal["gaus", "digits", "cifar10"]
BNPlacement = Literal["none", "before", "after"]
Schedule = Literal["constant", "cosine", "step"]
DATA, BN, SCHEDULES = get_args(Data), get_args(BNPlacement), get_args(Schedule)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one teacher-student run (each field is a ``--flag``; types give the ranges)."""

    data: Data = _f("gaus", "training inputs: gaus (x ~ N(0, std^2 I)), digits, cifar10")
    data_dir: str = _f("", "folder with the CIFAR-10 python batches (data=cifar10)")
    kind: Literal["fc", "conv"] = _f("fc", "network kind")
    teacher: tuple[PositiveInt, ...] = _f((20, 50, 75, 100, 125, 100),
                                          "teacher widths: input (conv: channels), hidden..., outputs")
    image_size: PositiveInt = _f(16, "conv: input side (GAUS images), or the resize of digits images")
    width_mult: PositiveInt = _f(10, "student hidden widths = width_mult x the teacher's")
    bn: BNPlacement = _f("none", "student BatchNorm: none, before or after the ReLU")
    teacher_bn: BNPlacement = _f("none", "teacher BatchNorm placement")
    bias: bool = _f(True, "linear layers have biases")
    teacher_normalize: bool = _f(True, "scale each teacher row (bias included) to unit norm")
    gaus_std: PositiveFloat = _f(10.0, "GAUS input standard deviation")
    finite: NonNegativeInt = _f(0, "GAUS: pre-drawn training set of N samples instead of the infinite stream (0 = stream)")
    epochs: NonNegativeInt = _f(40, "training epochs")
    steps_per_epoch: NonNegativeInt = _f(1563, "SGD steps per epoch (0 = one pass over a finite training set)")
    batch_size: PositiveInt = _f(64, "mini-batch size")
    lr: PositiveFloat = _f(0.01, "learning rate")
    lr_schedule: Schedule = _f("constant", "learning-rate schedule")
    lr_step: PositiveInt = _f(10, "schedule=step: epochs between decays")
    lr_gamma: PositiveFloat = _f(0.1, "schedule=step: decay factor")
    momentum: NonNegativeFloat = _f(0.0, "SGD momentum")
    weight_decay: NonNegativeFloat = _f(0.0, "SGD weight decay")
    loss: Literal["mse", "ce"] = _f("mse", "student loss against the teacher's outputs (ce = soft-target cross-entropy)")
    teacher_epochs: NonNegativeInt = _f(0, "real data: epochs of teacher pre-training on the labels")
    teacher_lr: PositiveFloat = _f(0.05, "real data: teacher pre-training learning rate (momentum 0.9)")
    valid_samples: PositiveInt = _f(10240, "GAUS validation samples for the correlations")
    eval_batch: PositiveInt = _f(2048, "samples per evaluation chunk")
    beta_samples: NonNegativeInt = _f(512, "samples for the beta*/H* snapshots (0 = none; FC only)")
    beta_every: NonNegativeInt = _f(0, "beta*/H* snapshot every K epochs besides the first and last (0 = only those)")
    matching: Literal["argmax", "hungarian"] = _f("argmax", "student-teacher matching for ranks and alignment")
    seed: Seed = _f(0, "random seed (teacher, student, data)")
    device: Literal["auto", "cpu", "cuda"] = _f("auto", "device: auto (CUDA when present), cpu or cuda")
    dtype: Literal["float32", "float64"] = _f("float32", "network dtype")
    threads: Threads = _f(0, "torch CPU threads, at most the CPUs this process may use "
                             "(0 = auto: 1 for small students, else torch's default)")
    progress: bool = _f(True, "show a progress bar (only on a terminal)")
    fused_sgd: bool = _f(True, "hand-written SGD step for plain SGD + MSE on BN-free FC students (same maths, faster)")

    def __post_init__(self):
        validate_fields(self)
        if len(self.teacher) < 3:
            raise InputError(f"--teacher: need input, at least one hidden layer and outputs, all positive; got {self.teacher}")
        if self.data == "gaus" and self.steps_per_epoch == 0:
            raise InputError("--steps-per-epoch: must be positive for GAUS data")

    @property
    def student(self) -> tuple[int, ...]:
        """Student widths: the teacher's with every hidden width times ``width_mult``."""
        t = self.teacher
        return (t[0], *(self.width_mult * w for w in t[1:-1]), t[-1])


_PAPER = TrainConfig()
PRESETS: dict[str, TrainConfig] = {
    "paper-fc": _PAPER,
    "paper-small-fc": dataclasses.replace(_PAPER, teacher=(20, 10, 15, 20, 25, 100), epochs=20, lr=0.05),
    "paper-cnn": dataclasses.replace(_PAPER, kind="conv", teacher=(1, 64, 64, 64, 64, 100), image_size=16,
                                     valid_samples=1024, beta_samples=0),
    "cifar-fc": dataclasses.replace(_PAPER, data="cifar10", data_dir="", teacher=(3072, 50, 75, 100, 125, 10),
                                    bn="after", teacher_bn="after", teacher_epochs=20, steps_per_epoch=0,
                                    epochs=40),
    "cifar-cnn": dataclasses.replace(_PAPER, data="cifar10", data_dir="", kind="conv",
                                     teacher=(3, 64, 64, 64, 64, 10), image_size=32, bn="after",
                                     teacher_bn="after", teacher_epochs=20, steps_per_epoch=0, epochs=40,
                                     beta_samples=0, valid_samples=1024),
    "digits-fc": dataclasses.replace(_PAPER, data="digits", teacher=(64, 50, 75, 100, 125, 10), image_size=8,
                                     bn="after", teacher_bn="after", teacher_epochs=30, teacher_lr=0.05,
                                     steps_per_epoch=0, epochs=60, lr=0.01, momentum=0.9),
    "smoke": dataclasses.replace(_PAPER, teacher=(20, 5, 8, 10), width_mult=4, epochs=3, steps_per_epoch=150,
                                 lr=0.01, valid_samples=1024, beta_samples=128),
}


def preset(name: str) -> TrainConfig:
    """The named preset (InputError naming the known ones otherwise).

    ``cifar-*`` presets have an empty ``data_dir``; the run asks for ``--data-dir`` when it loads data.
    """
    if name not in PRESETS:
        raise InputError(f"--preset: unknown preset {name!r} (known: {', '.join(PRESETS)})")
    return PRESETS[name]
