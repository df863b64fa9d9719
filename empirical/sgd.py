"""One training epoch of the student: the fused hand-written SGD step, or autograd + ``torch.optim.SGD``.

Both take the epoch's inputs in chunks of whole mini-batches; the teacher labels a whole chunk in
one no-grad call. Both return the epoch's summed mini-batch loss and step count as a tensor
(:class:`EpochLoss`), so the hot loop never waits for the device: the caller reads the number once
per epoch.
"""
from __future__ import annotations

import dataclasses

import torch

from luckbench.empirical import metrics
from luckbench.empirical.presets import TrainConfig
from luckbench.theory.network import ReLUNet


@dataclasses.dataclass
class EpochLoss:
    """Sum of the mini-batch losses of an epoch (a 0-d tensor on the training device) and their count."""

    total: torch.Tensor | None
    steps: int

    def mean(self) -> float:
        """The mean mini-batch loss (one device synchronisation); NaN for an empty epoch."""
        return float(self.total) / self.steps if self.steps else float("nan")


def fused_sgd_applies(cfg: TrainConfig) -> bool:
    """The hand-written step of :func:`fused_sgd_epoch` is used for plain SGD with MSE on BN-free
    FC students (the paper's default setting), unless ``cfg.fused_sgd`` is off."""
    return (cfg.fused_sgd and cfg.kind == "fc" and cfg.bn == "none" and cfg.loss == "mse"
            and cfg.momentum == 0 and cfg.weight_decay == 0)


def _count_steps(chunk: torch.Tensor, batch_size: int, bar=None) -> int:
    """Mini-batches in ``chunk`` (the last one may be short); advances the progress ``bar`` by as many."""
    n = -(-chunk.shape[0] // batch_size)
    if bar is not None:
        bar.update(n)
    return n


@torch.no_grad()
def fused_sgd_epoch(student: ReLUNet, teacher: ReLUNet, lr: float, chunks, *, batch_size: int,
                    bar=None) -> EpochLoss:
    """One epoch of plain SGD on the MSE, forward and backward written out by hand.

    Per mini-batch: ``h_{l+1} = relu(h_l W_l^T + b_l)``, ``g = 2 (out - target) / numel`` (the
    gradient of ``F.mse_loss``), then from the top: ``g_in = (g W_l) * 1(h_l > 0)`` (``threshold_backward``) with the
    weights before the update, and the update itself as one in-place ``W_l -= lr g^T h_l``
    (``addmm_``) and ``b_l -= lr sum(g)``. Same mathematics as autograd + ``torch.optim.SGD``,
    without gradient buffers or a separate optimizer pass.
    """
    weights = [lin.weight for lin in student.linears]
    biases = [lin.bias for lin in student.linears]
    total, steps = None, 0
    for xc in chunks:
        tc = teacher(xc)
        for xb, tb in zip(xc.split(batch_size), tc.split(batch_size)):
            acts = [xb]
            for w, b in zip(weights[:-1], biases[:-1]):
                h = acts[-1] @ w.t() if b is None else torch.addmm(b, acts[-1], w.t())
                acts.append(h.clamp_(min=0))
            out = acts[-1] @ weights[-1].t() if biases[-1] is None else torch.addmm(biases[-1], acts[-1], weights[-1].t())
            diff = out.sub_(tb)
            sq = torch.dot(diff.view(-1), diff.view(-1))  # numel * MSE, without a squared copy
            total = sq / diff.numel() if total is None else total.add_(sq, alpha=1.0 / diff.numel())
            g = diff.mul_(2.0 / diff.numel())
            for l in range(len(weights) - 1, -1, -1):
                g_in = g @ weights[l] if l > 0 else None
                if biases[l] is not None:
                    biases[l].sub_(g.sum(0), alpha=lr)
                weights[l].addmm_(g.t(), acts[l], alpha=-lr)
                if l > 0:  # ReLU backward in one pass (no boolean mask tensor)
                    g = torch.ops.aten.threshold_backward(g_in, acts[l], 0)
        steps += _count_steps(xc, batch_size, bar)
    return EpochLoss(total, steps)


def autograd_epoch(student, teacher, opt, chunks, *, batch_size: int, loss: str, bar=None) -> EpochLoss:
    """One epoch of ``opt`` (SGD) on ``loss(student(x), teacher(x))`` through autograd."""
    total, steps = None, 0
    for xc in chunks:
        with torch.no_grad():
            tc = teacher(xc)
        for xb, tb in zip(xc.split(batch_size), tc.split(batch_size)):
            out = metrics.output_loss(student(xb), tb, loss)
            opt.zero_grad(set_to_none=True)
            out.backward()
            opt.step()
            total = out.detach() if total is None else total + out.detach()
        steps += _count_steps(xc, batch_size, bar)
    return EpochLoss(total, steps)


def run_epoch(cfg: TrainConfig, student, teacher, opt, chunks, bar=None) -> EpochLoss:
    """One training epoch at the optimizer's current lr: :func:`fused_sgd_epoch` where it applies,
    else :func:`autograd_epoch`."""
    if fused_sgd_applies(cfg):
        return fused_sgd_epoch(student, teacher, opt.param_groups[0]["lr"], chunks, batch_size=cfg.batch_size, bar=bar)
    return autograd_epoch(student, teacher, opt, chunks, batch_size=cfg.batch_size, loss=cfg.loss, bar=bar)
