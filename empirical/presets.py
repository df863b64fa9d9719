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
import math
import os

from luckbench.errors import InputError

DATA = ("gaus", "digits", "cifar10")
BN = ("none", "before", "after")
SCHEDULES = ("constant", "cosine", "step")


def _f(default, help_text, choices=None):
    meta = {"help": help_text}
    if choices:
        meta["choices"] = choices
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one teacher-student run (each field is a ``--flag``)."""

    data: str = _f("gaus", "training inputs: gaus (x ~ N(0, std^2 I)), digits, cifar10", DATA)
    data_dir: str = _f("", "folder with the CIFAR-10 python batches (data=cifar10)")
    kind: str = _f("fc", "network kind", ("fc", "conv"))
    teacher: tuple[int, ...] = _f((20, 50, 75, 100, 125, 100),
                                  "teacher widths: input (conv: channels), hidden..., outputs")
    image_size: int = _f(16, "conv: input side (GAUS images), or the resize of digits images")
    width_mult: int = _f(10, "student hidden widths = width_mult x the teacher's")
    bn: str = _f("none", "student BatchNorm: none, before or after the ReLU", BN)
    teacher_bn: str = _f("none", "teacher BatchNorm placement", BN)
    bias: bool = _f(True, "linear layers have biases")
    teacher_normalize: bool = _f(True, "scale each teacher row (bias included) to unit norm")
    gaus_std: float = _f(10.0, "GAUS input standard deviation")
    finite: int = _f(0, "GAUS: pre-drawn training set of N samples instead of the infinite stream (0 = stream)")
    epochs: int = _f(40, "training epochs")
    steps_per_epoch: int = _f(1563, "SGD steps per epoch (0 = one pass over a finite training set)")
    batch_size: int = _f(64, "mini-batch size")
    lr: float = _f(0.01, "learning rate")
    lr_schedule: str = _f("constant", "learning-rate schedule", SCHEDULES)
    lr_step: int = _f(10, "schedule=step: epochs between decays")
    lr_gamma: float = _f(0.1, "schedule=step: decay factor")
    momentum: float = _f(0.0, "SGD momentum")
    weight_decay: float = _f(0.0, "SGD weight decay")
    loss: str = _f("mse", "student loss against the teacher's outputs (ce = soft-target cross-entropy)",
                   ("mse", "ce"))
    teacher_epochs: int = _f(0, "real data: epochs of teacher pre-training on the labels")
    teacher_lr: float = _f(0.05, "real data: teacher pre-training learning rate (momentum 0.9)")
    valid_samples: int = _f(10240, "GAUS validation samples for the correlations")
    eval_batch: int = _f(2048, "samples per evaluation chunk")
    beta_samples: int = _f(512, "samples for the beta*/H* snapshots (0 = none; FC only)")
    beta_every: int = _f(0, "beta*/H* snapshot every K epochs besides the first and last (0 = only those)")
    matching: str = _f("argmax", "student-teacher matching for ranks and alignment",
                       ("argmax", "hungarian"))
    seed: int = _f(0, "random seed (teacher, student, data)")
    device: str = _f("auto", "device: auto (CUDA when present), cpu or cuda", ("auto", "cpu", "cuda"))
    dtype: str = _f("float32", "network dtype", ("float32", "float64"))
    threads: int = _f(0, "torch CPU threads (0 = auto: 1 for small students, else torch's default)")
    progress: bool = _f(True, "show a progress bar (only on a terminal)")
    fused_sgd: bool = _f(True, "hand-written SGD step for plain SGD + MSE on BN-free FC students (same maths, faster)")

    def __post_init__(self):
        for name, choices in (("data", DATA), ("bn", BN), ("teacher_bn", BN), ("lr_schedule", SCHEDULES),
                              ("kind", ("fc", "conv")), ("loss", ("mse", "ce")),
                              ("matching", ("argmax", "hungarian")), ("device", ("auto", "cpu", "cuda")),
                              ("dtype", ("float32", "float64"))):
            if getattr(self, name) not in choices:
                raise InputError(f"--{_flag(name)}: expected one of {', '.join(choices)}, got {getattr(self, name)!r}")
        positive = ("width_mult", "batch_size", "valid_samples", "eval_batch", "image_size", "lr_step")
        for name in positive:
            if int(getattr(self, name)) <= 0:
                raise InputError(f"--{_flag(name)}: must be a positive integer, got {getattr(self, name)!r}")
        non_negative = ("epochs", "finite", "steps_per_epoch", "teacher_epochs", "beta_samples", "beta_every", "threads",
                        "seed")
        for name in non_negative:
            if int(getattr(self, name)) < 0:
                raise InputError(f"--{_flag(name)}: must be >= 0, got {getattr(self, name)!r}")
        for name in ("lr", "teacher_lr", "gaus_std", "lr_gamma"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise InputError(f"--{_flag(name)}: must be a finite positive number, got {v!r}")
        for name in ("momentum", "weight_decay"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise InputError(f"--{_flag(name)}: must be a finite number >= 0, got {v!r}")
        if len(self.teacher) < 3 or any(int(w) <= 0 for w in self.teacher):
            raise InputError(f"--teacher: need input, at least one hidden layer and outputs, all positive; got {self.teacher}")
        if self.threads > usable_cpus():
            raise InputError(f"--threads: must be in [1, {usable_cpus()}] (the CPUs this process may use; 0 = auto), "
                             f"got {self.threads}")
        if self.data == "gaus" and self.steps_per_epoch == 0:
            raise InputError("--steps-per-epoch: must be positive for GAUS data")

    @property
    def student(self) -> tuple[int, ...]:
        """Student widths: the teacher's with every hidden width times ``width_mult``."""
        t = self.teacher
        return (t[0], *(self.width_mult * w for w in t[1:-1]), t[-1])


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _flag(name: str) -> str:
    return name.replace("_", "-")


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
