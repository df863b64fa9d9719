"""The paper's teacher-student metrics (Sec. 4.2, Fig. 7-10), computed on a validation set.

Activations. ``f_j`` is the ReLU output of hidden node ``j`` (``relu`` of the ReLU's input,
whether BatchNorm sits before or after the ReLU); the gate is ``f'_j = 1(input > 0)``. Networks
are evaluated in eval mode (BatchNorm uses its running statistics).

* **Correlation** (footnote 1): ``rho_{j j°}`` is the Pearson correlation of ``f_j`` and
  ``f*_{j°}`` over the validation samples, accumulated in float64 in a streaming pass
  (:class:`CorrAccumulator`; sums of shifted values, so there is no cancellation). A student
  unit that is constant on the set gets correlation 0; a constant ("dead") teacher unit gets NaN
  and is left out of rho-bar and r-bar (no student can correlate with it). **Conv layers**: a node is a *channel*; its
  correlation is taken over (samples x spatial positions), i.e. every position of every image
  counts as one observation of the channel (teacher and student layers have the same spatial
  size).
* **rho-bar** = mean over live teachers ``j°`` of max over students ``j`` of ``rho_{j j°}``.
* **Matching**: the winner of teacher ``j°`` is ``argmax_j rho_{j j°}`` (the paper's rule; two
  teachers may share a winner), or a one-to-one Hungarian assignment maximising total correlation.
* **Mean rank r-bar**: for each teacher, its final winner's rank among all students in the
  ordering of ``rho_{. j°}`` at some earlier time (0 = first; ties count in the winner's favour),
  divided by ``n - 1`` so it lies in [0, 1]; averaged over teachers.
* **beta* and H*** (Eq. 3, Fig. 10): ``beta*_{l}(x) = E_{l+1}^T diag(f'_{l+1}) beta*_{l+1}(x)
  diag(f'*_{l+1}) E*_{l+1}`` with ``beta* = I`` at the linear output (products in the
  networks' dtype, sums in float64), where ``E_{l+1}`` is the
  effective matrix from layer-l activations to layer-(l+1) ReLU inputs with eval-mode BatchNorm
  folded in (so the BN Jacobian is included). ``E[beta*]`` is averaged over samples,
  ``D*_{j j°} = E[f'_j f'*_{j°}]`` and ``H* = E[beta*] o D*`` (student-major, n x m; the paper's
  figure shows the transpose). Computed batched with matrix products, FC networks only.
* **Alignment** (Fig. 10): rows of an (n x m) matrix are re-indexed by the teachers' winners,
  giving an (m x m) matrix whose diagonal holds each teacher's winner.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from luckbench.errors import InputError
from luckbench.theory.network import eval_bn_affine


def unit_view(a: torch.Tensor) -> torch.Tensor:
    """(N, C) -> itself; (N, C, *spatial) -> (N * positions, C): one column per unit/channel."""
    if a.dim() == 2:
        return a
    return a.movedim(1, -1).reshape(-1, a.shape[1])


def _float64_copy(a: torch.Tensor) -> torch.Tensor:
    """A float64 tensor the caller may modify in place (a new one even when ``a`` is float64)."""
    return a.to(torch.float64, copy=True)


class CorrAccumulator:
    """Streaming Pearson correlation between n student units and m teacher units (float64)."""

    def __init__(self) -> None:
        self.count = 0
        self._shift = None
        self._sums = None

    def update(self, s: torch.Tensor, t: torch.Tensor) -> None:
        """Add observations: ``s`` (N, n) or (N, n, H, W); ``t`` likewise with m units."""
        s, t = _float64_copy(unit_view(s)), _float64_copy(unit_view(t))
        if self._shift is None:
            self._shift = (s.mean(0), t.mean(0))
            zs, zt = s.new_zeros(s.shape[1]), t.new_zeros(t.shape[1])
            self._sums = [zs.clone(), zt.clone(), zs.clone(), zt.clone(), s.new_zeros(s.shape[1], t.shape[1])]
        s.sub_(self._shift[0])
        t.sub_(self._shift[1])
        sums = self._sums
        sums[0] += s.sum(0)
        sums[1] += t.sum(0)
        sums[2] += torch.linalg.vecdot(s, s, dim=0)  # sum of squares without a squared copy
        sums[3] += torch.linalg.vecdot(t, t, dim=0)
        sums[4].addmm_(s.T, t)
        self.count += s.shape[0]

    def result(self) -> np.ndarray:
        """The (n, m) correlation matrix: 0 in the row of a constant student unit, NaN in the
        column of a constant ("dead") teacher unit."""
        if not self.count:
            raise ValueError("no observations")
        n = float(self.count)
        s1, t1, s2, t2, st = (v.cpu().numpy() for v in self._sums)
        ms, mt = s1 / n, t1 / n
        var_s, var_t = s2 / n - ms**2, t2 / n - mt**2
        live_s = var_s > 1e-12 * (s2 / n) + 1e-300
        live_t = var_t > 1e-12 * (t2 / n) + 1e-300
        cov = st / n - np.outer(ms, mt)
        denom = np.sqrt(np.outer(np.where(live_s, var_s, 1.0), np.where(live_t, var_t, 1.0)))
        corr = np.clip(cov / denom, -1.0, 1.0)
        corr[~live_s, :] = 0.0
        corr[:, ~live_t] = np.nan
        return corr


def live_teachers(corr: np.ndarray) -> np.ndarray:
    """Boolean (m,): teacher units that are not constant on the validation set."""
    return ~np.isnan(corr).all(axis=0)


def rho_bar(corr: np.ndarray) -> float:
    """Mean over live teachers (columns) of the max over students (rows) of the correlation."""
    live = live_teachers(corr)
    return float(np.mean(np.max(corr[:, live], axis=0))) if live.any() else float("nan")


def match(corr: np.ndarray, method: str = "argmax") -> np.ndarray:
    """Winner student of each teacher: per-column argmax, or a Hungarian one-to-one assignment
    maximising the total correlation; -1 for a dead teacher."""
    live = live_teachers(corr)
    filled = np.where(np.isnan(corr), -2.0, corr)
    if method == "argmax":
        out = np.argmax(filled, axis=0)
    elif method == "hungarian":
        from scipy.optimize import linear_sum_assignment

        n, m = corr.shape
        if n < m:
            raise InputError(f"hungarian matching needs at least as many students as teachers ({n} < {m})")
        rows, cols = linear_sum_assignment(filled, maximize=True)
        out = np.empty(m, dtype=np.int64)
        out[cols] = rows
    else:
        raise InputError(f"matching must be 'argmax' or 'hungarian', got {method!r}")
    return np.where(live, out, -1)


def ranks(corr: np.ndarray, students: np.ndarray) -> np.ndarray:
    """Rank of ``students[j°]`` in column j° of ``corr`` (0 = highest, ties in its favour),
    normalised by n - 1; NaN for a dead teacher or a winner of -1."""
    n, m = corr.shape
    students = np.asarray(students)
    ok = (students >= 0) & live_teachers(corr)
    own = corr[np.where(ok, students, 0), np.arange(m)]
    with np.errstate(invalid="ignore"):
        above = np.sum(corr > own[None, :], axis=0)
    return np.where(ok, above / max(n - 1, 1), np.nan)


def mean_rank(corr: np.ndarray, students: np.ndarray) -> float:
    """r-bar: the mean over live teachers of :func:`ranks`."""
    r = ranks(corr, students)
    return float(np.nanmean(r)) if np.isfinite(r).any() else float("nan")


def align(mat: np.ndarray, students: np.ndarray) -> np.ndarray:
    """Fig. 10 alignment: rows ``students`` of the (n x m) ``mat`` -> (m x m), winners on the
    diagonal; the row of a dead teacher (winner -1) is NaN."""
    students = np.asarray(students)
    out = mat[np.maximum(students, 0), :].astype(np.float64)
    out[students < 0, :] = np.nan
    return out


# --------------------------------------------------------------------------- evaluation pass


def _relu_inputs(net: nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    trace = net.forward_all(x)
    return list(trace.pre), trace.out


@dataclasses.dataclass
class Evaluation:
    """One pass over the validation set: per-layer correlations, loss and accuracies."""

    corr: list  # per hidden layer, (n_l, m_l) float64
    loss: float
    student_acc: float = float("nan")
    teacher_acc: float = float("nan")
    agreement: float = float("nan")  # fraction of samples where student and teacher argmax agree


def output_loss(out: torch.Tensor, target: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Training/validation loss of student outputs against the teacher's: MSE, or soft-target CE."""
    if kind == "mse":
        return F.mse_loss(out, target)
    if kind == "ce":
        return F.cross_entropy(out, target.softmax(dim=1))
    raise InputError(f"loss must be 'mse' or 'ce', got {kind!r}")


@torch.no_grad()
def evaluate(student: nn.Module, teacher: nn.Module, x: torch.Tensor, *, labels: torch.Tensor | None = None,
             loss: str = "mse", batch_size: int = 2048) -> Evaluation:
    """Correlations of every hidden layer, mean loss and (with ``labels``) accuracies on ``x``."""
    modes = (student.training, teacher.training)
    student.eval()
    teacher.eval()
    try:
        accs = None
        loss_sum, count = 0.0, 0
        hits = torch.zeros(3, dtype=torch.int64, device=x.device)  # student, teacher right; they agree
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size]
            pre_s, out_s = _relu_inputs(student, xb)
            pre_t, out_t = _relu_inputs(teacher, xb)
            if accs is None:
                accs = [CorrAccumulator() for _ in pre_s]
            for acc, a, b in zip(accs, pre_s, pre_t):
                acc.update(a.clamp_(min=0), b.clamp_(min=0))  # the trace is not used again: ReLU in place
            # sums stay on the device: one synchronisation per evaluation, not per chunk
            loss_sum = loss_sum + output_loss(out_s.double(), out_t.double(), loss) * xb.shape[0]
            count += xb.shape[0]
            ps, pt = out_s.argmax(1), out_t.argmax(1)
            hits[2] += (ps == pt).sum()
            if labels is not None:
                yb = labels[start:start + batch_size].to(ps.device)
                hits[0] += (ps == yb).sum()
                hits[1] += (pt == yb).sum()
    finally:
        student.train(modes[0])
        teacher.train(modes[1])
    right = hits.cpu().numpy()
    ev = Evaluation(corr=[a.result() for a in accs], loss=float(loss_sum) / count, agreement=right[2] / count)
    if labels is not None:
        ev.student_acc, ev.teacher_acc = right[0] / count, right[1] / count
    return ev


# --------------------------------------------------------------------------- beta* and H*


def _bn_scale(bn: nn.Module | None) -> torch.Tensor | None:
    if not isinstance(bn, nn.modules.batchnorm._BatchNorm):
        return None
    return eval_bn_affine(bn)[0]


def effective_maps(net: nn.Module) -> list[torch.Tensor]:
    """``E_{l+1}`` for l = 0..L-1: the matrix from layer-l activations to the next ReLU inputs
    (the output for the last hidden layer), with eval-mode BatchNorm scales folded in."""
    blocks = list(net.hidden)
    if any(not isinstance(b.linear, nn.Linear) for b in blocks):
        raise InputError("beta*/H* are defined for fully connected networks only")
    where = net.spec.bn
    maps = []
    for l in range(len(blocks)):
        nxt = blocks[l + 1].linear.weight if l + 1 < len(blocks) else net.head.weight
        mat = nxt.detach().double()
        if where == "after":
            s = _bn_scale(getattr(blocks[l], "bn", None))
            mat = mat * s.double()[None, :] if s is not None else mat
        elif where == "before" and l + 1 < len(blocks):
            s = _bn_scale(getattr(blocks[l + 1], "bn", None))
            mat = s.double()[:, None] * mat if s is not None else mat
        maps.append(mat)
    return maps


@dataclasses.dataclass
class BetaH:
    """Per hidden layer (student-major, n x m, float64): E[beta*], D* = E[f' f'*^T], H* = E[beta*] o D*."""

    beta: np.ndarray
    d: np.ndarray
    h: np.ndarray


@torch.no_grad()
def beta_h_star(student: nn.Module, teacher: nn.Module, x: torch.Tensor, *, batch_size: int = 32
                ) -> list[BetaH]:
    """E[beta*] (Eq. 3), D* and H* of every hidden layer on the samples ``x`` (FC nets)."""
    maps_s, maps_t = effective_maps(student), effective_maps(teacher)
    modes = (student.training, teacher.training)
    student.eval()
    teacher.eval()
    n_layers = len(maps_s)
    sum_b = [None] * n_layers
    sum_d = [None] * n_layers
    try:
        dev = maps_s[0].device
        ms = [m.to(x.dtype) for m in maps_s]
        mt = [m.to(x.dtype) for m in maps_t]
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size]
            gs = [(p > 0).to(x.dtype) for p in _relu_inputs(student, xb)[0]]
            gt = [(p > 0).to(x.dtype) for p in _relu_inputs(teacher, xb)[0]]
            top = (ms[-1].T @ mt[-1]).to(dev)
            b = top.expand(xb.shape[0], *top.shape)
            for l in range(n_layers - 1, -1, -1):
                if l < n_layers - 1:
                    inner = gs[l + 1][:, :, None] * b * gt[l + 1][:, None, :]
                    b = ms[l].T @ inner @ mt[l]
                sb = b.double().sum(0)
                sd = gs[l].double().T @ gt[l].double()
                sum_b[l] = sb if sum_b[l] is None else sum_b[l] + sb
                sum_d[l] = sd if sum_d[l] is None else sum_d[l] + sd
    finally:
        student.train(modes[0])
        teacher.train(modes[1])
    n = float(x.shape[0])
    out = []
    for sb, sd in zip(sum_b, sum_d):
        beta, d = (sb / n).cpu().numpy(), (sd / n).cpu().numpy()
        out.append(BetaH(beta=beta, d=d, h=beta * d))
    return out
