"""The trained student every ``luckbench beyond`` experiment starts from, and the shared guards.

A :class:`StudentRun` is a small GAUS teacher-student run (``luckbench.empirical.presets.TrainConfig``
with the fields below overridden); seed ``s`` of an experiment is the training run with
``TrainConfig.seed = seed + s``, so its teacher, student initialisation and data are those of
``luckbench train --seed ...`` with the same settings. Training goes through
``luckbench.empirical.train`` (the full network) and the same SGD epochs
(``luckbench.empirical.sgd``) for the sub-networks of the lottery experiment (:func:`fit`).
Evaluation uses ``luckbench.empirical.metrics`` on the run's validation set (float64 sums).
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from luckbench.empirical import metrics, presets, train
from luckbench.empirical.sgd import run_epoch
from luckbench.empirical.train_data import RunData, build_networks, epoch_chunks, load_data
from luckbench.config import NonNegativeInt, PositiveFloat, PositiveInt, Seed, flag_field
from luckbench.errors import InputError
from luckbench.theory.network import ReLUNet

MAX_SEEDS = 1000
MAX_PARAMS = 20_000_000  # student parameters; a larger network is refused before anything is allocated


@dataclass(frozen=True)
class StudentRun:
    """A teacher-student training run for N seeds (every field is a ``luckbench beyond`` flag)."""

    teacher: tuple[PositiveInt, ...] = flag_field((20, 10, 15, 10), "teacher widths: input, hidden..., outputs")
    width_mult: PositiveInt = flag_field(5, "student hidden widths = width_mult x the teacher's")
    epochs: NonNegativeInt = flag_field(10, "training epochs")
    steps_per_epoch: PositiveInt = flag_field(400, "SGD steps per epoch (GAUS stream)")
    batch_size: PositiveInt = flag_field(64, "mini-batch size")
    lr: PositiveFloat = flag_field(0.01, "learning rate (plain SGD on the MSE)")
    valid_samples: PositiveInt = flag_field(4096, "validation samples for losses and correlations")
    seeds: PositiveInt = flag_field(3, "number of seeds (seed, seed + 1, ...)")
    seed: Seed = flag_field(0, "first seed")

    def __post_init__(self):
        check_seeds(self.seeds, self.seed)
        self.train_config(0)  # every training field checked once, by TrainConfig's own rules
        n = student_params(self.train_config(0).student)
        if n > MAX_PARAMS:
            raise InputError(f"--teacher/--width-mult: the student would have {n:,} parameters "
                             f"(limit {MAX_PARAMS:,})")

    def train_config(self, index: int) -> presets.TrainConfig:
        """The training run of seed number ``index``: small GAUS defaults, no beta*/H* snapshots."""
        return dataclasses.replace(
            presets.preset("smoke"), teacher=tuple(self.teacher), width_mult=self.width_mult, epochs=self.epochs,
            steps_per_epoch=self.steps_per_epoch, batch_size=self.batch_size, lr=self.lr,
            valid_samples=self.valid_samples, beta_samples=0, seed=self.seed + index, device="cpu",
            dtype="float32", progress=False)

    @property
    def seed_values(self) -> np.ndarray:
        return self.seed + np.arange(self.seeds)


def check_seeds(seeds: int, seed: int) -> None:
    """``--seeds`` in [1, MAX_SEEDS] and ``--seed`` >= 0."""
    if isinstance(seeds, bool) or not 1 <= int(seeds) <= MAX_SEEDS:
        raise InputError(f"--seeds: need 1 to {MAX_SEEDS} seeds, got {seeds}")
    if int(seed) < 0:
        raise InputError(f"--seed: must be >= 0, got {seed}")


def student_params(widths: tuple[int, ...]) -> int:
    """Weights and biases of a fully connected network with these widths."""
    return sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))


def check_fractions(fractions: tuple[float, ...], what: str = "--fractions") -> np.ndarray:
    """A non-empty list of numbers in [0, 1], returned sorted and without repeats."""
    arr = np.asarray(fractions, dtype=float)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
        raise InputError(f"{what}: need fractions in [0, 1], got {list(fractions)}")
    return np.unique(arr)


@contextlib.contextmanager
def one_thread():
    """Small networks train faster on one CPU thread (the second one's synchronisation costs more)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@dataclass
class Trained:
    """One seed: the run's config, data, teacher, the student at initialisation and after training."""

    cfg: presets.TrainConfig
    data: RunData
    teacher: ReLUNet
    initial: ReLUNet
    final: ReLUNet


def train_student(run: StudentRun, index: int) -> Trained:
    """Seed number ``index``: ``luckbench.empirical.train.train`` on the run's config, plus the
    student's initial weights (rebuilt from the same seed)."""
    cfg = run.train_config(index)
    device = torch.device("cpu")
    res = train.train(cfg)
    _, initial = build_networks(cfg, device)
    return Trained(cfg, load_data(cfg, device), res.teacher, initial, res.student)


def fit(student: ReLUNet, trained: Trained) -> ReLUNet:
    """Train ``student`` (in place) on the teacher with the run's own SGD epochs and data stream."""
    cfg = trained.cfg
    opt = torch.optim.SGD(student.parameters(), lr=cfg.lr)
    student.train()
    for epoch in range(1, cfg.epochs + 1):
        opt.param_groups[0]["lr"] = train.lr_at(cfg, epoch)
        chunks = epoch_chunks(cfg, trained.data, epoch, torch.device("cpu"))
        loss = run_epoch(cfg, student, trained.teacher, opt, chunks).mean()
        if not math.isfinite(loss):
            raise InputError(f"training diverged at epoch {epoch} (loss {loss}); lower --lr")
    return student


def evaluate(student: ReLUNet, trained: Trained) -> tuple[float, np.ndarray]:
    """(validation MSE, rho-bar per hidden layer) of ``student`` against the run's teacher."""
    ev = metrics.evaluate(student, trained.teacher, trained.data.valid_x, batch_size=trained.cfg.eval_batch)
    return float(ev.loss), np.array([metrics.rho_bar(c) for c in ev.corr])


def correlations(student: ReLUNet, trained: Trained) -> list[np.ndarray]:
    """Per hidden layer, the (student, teacher) correlation matrix on the validation set."""
    return metrics.evaluate(student, trained.teacher, trained.data.valid_x, batch_size=trained.cfg.eval_batch).corr


def winners(corr: np.ndarray) -> np.ndarray:
    """The distinct students that are some live teacher's best match (the paper's argmax rule)."""
    w = metrics.match(corr, "argmax")
    return np.unique(w[w >= 0])
