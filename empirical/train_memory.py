"""Memory a training run will need, estimated from its sizes before anything is allocated.

:func:`check_memory` refuses a configuration whose estimate exceeds the memory this machine has
available (``MemAvailable``), in one line naming the flags of the largest part, the estimate and
the limit. The estimate counts what the run keeps at once: both networks with the student's
gradient and momentum buffers, the validation set, a finite training set and its epoch order,
one chunk of training inputs with the teacher's outputs, the activations of a training step and
of an evaluation chunk (float64 correlation sums included), and the correlation history.
Integers are Python ints, so absurd sizes give an estimate, never an overflow.
"""
from __future__ import annotations

import os

from luckbench.datasets.gaus import CHUNK_STEPS
from luckbench.empirical.presets import TrainConfig
from luckbench.errors import InputError

KERNEL_AREA = 9  # 3x3 convolutions (luckbench.theory.network.NetSpec default)
REAL_DATA = {"digits": (1348, 449), "cifar10": (50_000, 10_000)}  # (train, test) images


def _map_sides(cfg: TrainConfig) -> list[int]:
    """Spatial side of the input and every hidden map (conv, no padding); 1 for FC."""
    depth = len(cfg.teacher) - 2
    if cfg.kind != "conv":
        return [1] * (depth + 1)
    return [max(cfg.image_size - 2 * l, 1) for l in range(depth + 1)]


def _params(widths: tuple[int, ...], sides: list[int], conv: bool, bias: bool, bn: bool) -> int:
    """Parameters and BN buffers (weight, bias, running mean and variance) of a network."""
    per_unit = int(bias) + 4 * int(bn)
    hidden = sum(a * b * (KERNEL_AREA if conv else 1) + per_unit * b for a, b in zip(widths[:-2], widths[1:-1]))
    return hidden + widths[-2] * sides[-1] ** 2 * widths[-1] + int(bias) * widths[-1]


def _units(widths: tuple[int, ...], sides: list[int]) -> int:
    """Activations of one sample: every hidden map and the output."""
    return sum(w * s * s for w, s in zip(widths[1:-1], sides[1:])) + widths[-1]


def estimate(cfg: TrainConfig) -> dict[str, tuple[str, int]]:
    """Bytes per part of the run: ``{part: (flags that size it, bytes)}``."""
    item = 8 if cfg.dtype == "float64" else 4
    sides = _map_sides(cfg)
    conv = cfg.kind == "conv"
    sample = cfg.teacher[0] * (cfg.image_size ** 2 if conv else 1)
    student, teacher = cfg.student, tuple(cfg.teacher)
    units_s, units_t = _units(student, sides), _units(teacher, sides)
    widest = max(w * side * side for w, side in zip(student[1:-1], sides[1:]))
    hidden_pairs = sum(a * b for a, b in zip(student[1:-1], teacher[1:-1]))
    n_train, n_valid = (cfg.finite, cfg.valid_samples) if cfg.data == "gaus" else REAL_DATA[cfg.data]
    steps = cfg.steps_per_epoch or -(-max(n_train, 1) // cfg.batch_size)
    chunk = min(steps, CHUNK_STEPS) * cfg.batch_size
    img = "/--image-size" if conv or cfg.data != "gaus" else ""
    return {
        "networks": ("--teacher/--width-mult" + img,
                     item * (4 * _params(student, sides, conv, cfg.bias, cfg.bn != "none")
                             + _params(teacher, sides, conv, cfg.bias, cfg.teacher_bn != "none"))),
        "validation set": ("--valid-samples/--teacher" + img, item * n_valid * sample),
        "training set": ("--finite/--teacher" + img,
                         item * n_train * sample + (8 * steps * cfg.batch_size if n_train else 0)),
        "input chunk": ("--batch-size/--teacher" + img, item * chunk * (sample + teacher[-1])),
        "training step": ("--batch-size/--teacher/--width-mult" + img, 3 * item * cfg.batch_size * (units_s + sample)),
        # the traces keep pre-activation, gate and activation of every layer; float64 copies of one layer
        "evaluation chunk": ("--eval-batch/--teacher/--width-mult" + img,
                             min(cfg.eval_batch, n_valid) * (3 * item * (units_s + units_t) + 16 * widest)),
        "correlation history": ("--epochs/--teacher/--width-mult", 4 * (cfg.epochs + 1) * hidden_pairs + 16 * hidden_pairs),
    }


def available_bytes() -> int:
    """Memory available to a new allocation: ``MemAvailable`` of /proc/meminfo, else physical memory."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _gb(n: int) -> str:
    return f"{n / 2**30:.3g} GiB" if n < 2**70 else f"{n:.2e} bytes"


def check_memory(cfg: TrainConfig, limit: int | None = None) -> int:
    """The run's estimated bytes; an InputError naming the largest part when over ``limit``
    (default: 90 % of :func:`available_bytes`)."""
    parts = estimate(cfg)
    total = sum(b for _, b in parts.values())
    limit = int(0.9 * available_bytes()) if limit is None else limit
    if total > limit:
        part, (flags, size) = max(parts.items(), key=lambda kv: kv[1][1])
        raise InputError(f"{flags}: the run needs about {_gb(total)} of memory ({part} {_gb(size)}), "
                         f"more than the {_gb(limit)} available")
    return total
