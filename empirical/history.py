"""What a training run records per epoch (index 0 = before training), in memory and in checkpoints."""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from luckbench.empirical import metrics

# the per-epoch scalar series, in the order they are recorded
SERIES = ("loss", "train_loss", "lr", "student_acc", "teacher_acc", "agreement", "epoch_seconds")


@dataclasses.dataclass
class History:
    """Everything recorded per epoch; see :func:`luckbench.empirical.train_result.result_dataset`."""

    loss: list = dataclasses.field(default_factory=list)
    train_loss: list = dataclasses.field(default_factory=list)
    lr: list = dataclasses.field(default_factory=list)
    student_acc: list = dataclasses.field(default_factory=list)
    teacher_acc: list = dataclasses.field(default_factory=list)
    agreement: list = dataclasses.field(default_factory=list)
    epoch_seconds: list = dataclasses.field(default_factory=list)
    corr: list = dataclasses.field(default_factory=list)  # [epoch][layer] float32 tensors (n_l, m_l)
    beta: dict = dataclasses.field(default_factory=dict)  # epoch -> [layer] (beta, d) float64 tensors
    teacher_train_acc: float = float("nan")

    @property
    def epochs(self) -> int:
        """Training epochs recorded (epoch 0 is the state before training)."""
        return len(self.loss) - 1

    def record(self, ev: metrics.Evaluation, *, train_loss: float, lr: float, seconds: float) -> None:
        """Append one epoch's evaluation and training figures."""
        values = dict(loss=ev.loss, train_loss=train_loss, lr=lr, student_acc=ev.student_acc,
                      teacher_acc=ev.teacher_acc, agreement=ev.agreement, epoch_seconds=seconds)
        for name in SERIES:
            getattr(self, name).append(float(values[name]))
        self.corr.append([torch.from_numpy(c.astype(np.float32)) for c in ev.corr])

    def to_state(self) -> dict:
        """Plain containers of tensors and numbers (what ``torch.load(weights_only=True)`` reads)."""
        state = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        state["beta"] = {str(k): v for k, v in self.beta.items()}
        return state

    @classmethod
    def from_state(cls, state: dict) -> "History":
        """Inverse of :meth:`to_state`; the state is trusted (``checkpoint.validate`` checks it)."""
        state = dict(state)
        state["beta"] = {int(k): v for k, v in state["beta"].items()}
        return cls(**state)
