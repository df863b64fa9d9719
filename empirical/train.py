"""Teacher-student training with the paper's per-epoch metrics, checkpoints and resume.

One run (:func:`train`) of a :class:`~luckbench.empirical.presets.TrainConfig`:

1. Networks (``luckbench.theory.network``): the teacher gets the paper's weights
   (:func:`teacher_init_`) on GAUS, or PyTorch's default init followed by pre-training on the
   labels (SGD, momentum 0.9, weight decay 5e-4, cosine schedule, cross-entropy) on real data.
   The student (``width_mult`` x wider hidden layers) gets PyTorch's default init.
2. Each epoch: ``steps_per_epoch`` SGD steps (lr schedule, momentum, weight decay) on the loss
   between student and teacher outputs (MSE by default). Inputs come in chunks of 256
   mini-batches - GAUS drawn fresh on the training device, or a finite set walked in a seeded
   order - and the teacher labels a whole chunk in one no-grad call. Plain SGD with MSE on a
   BN-free FC student (the paper's setting) uses a hand-written step that folds each weight
   update into one in-place matrix product (:func:`fused_sgd_epoch`); everything else goes
   through autograd and ``torch.optim.SGD``.
3. After every epoch (and at epoch 0, before training) the metrics of
   :mod:`luckbench.empirical.metrics` on the validation set: per-layer correlations (kept for the
   mean rank), loss, accuracies; beta*/H* snapshots at the first and last epoch (and every
   ``beta_every`` epochs).

Determinism and resume: every random stream is derived from ``(seed, purpose, epoch)``, so an
epoch's data never depend on earlier epochs; a checkpoint (written atomically after an epoch at
most once a minute and after the last one, loaded with ``torch.load(weights_only=True)``) holds the networks, the optimizer state and the
metric history. On CPU a resumed run reproduces an uninterrupted one bit for bit.
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import xarray as xr
from tqdm import tqdm

from luckbench.datasets import gaus
from luckbench.empirical import metrics
from luckbench.empirical.presets import TrainConfig
from luckbench.errors import InputError
from luckbench.store import atomic_path, to_json
from luckbench.theory.network import NetSpec, ReLUNet, student_init_, teacher_init_

CHECKPOINT_FORMAT = 1
# config fields that do not change the numbers a run produces (ignored when resuming)
_NEUTRAL = ("progress", "threads", "device")
_TEACHER_STREAM = 7  # derive_seed key of the teacher pre-training order
SMALL_STEP_MACS = 20_000_000  # below this many multiply-adds per student step, train on one CPU thread


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an InputError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available")
    return torch.device(name)


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of training epoch ``epoch`` (1-based): constant, cosine or step decay."""
    e = epoch - 1
    if cfg.lr_schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * e / max(cfg.epochs, 1)))
    if cfg.lr_schedule == "step":
        return cfg.lr * cfg.lr_gamma ** (e // cfg.lr_step)
    return cfg.lr


# --------------------------------------------------------------------------- set-up


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
    xtr, xte = _image_input(cfg, xtr, cfg.data), _image_input(cfg, xte, cfg.data)
    return RunData(tuple(xtr.shape[1:]), xtr.to(device, dtype), ytr.to(device), xte.to(device, dtype), yte.to(device))


def build_networks(cfg: TrainConfig, device: torch.device) -> tuple[ReLUNet, ReLUNet]:
    """(teacher, student) initialised from ``cfg.seed``, on ``device``."""
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
        gen = gaus.make_generator(gaus.derive_seed(cfg.seed, _TEACHER_STREAM, e), "cpu")
        order = torch.randperm(n, generator=gen).to(data.train_x.device)
        for idx in order[: steps * cfg.batch_size].split(cfg.batch_size):
            loss = torch.nn.functional.cross_entropy(teacher(data.train_x[idx]), data.train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    teacher.eval()
    with torch.no_grad():
        hits = sum(int((teacher(xb).argmax(1) == yb).sum())
                   for xb, yb in zip(data.train_x.split(cfg.eval_batch), data.train_y.split(cfg.eval_batch)))
    return float(hits / n)


# --------------------------------------------------------------------------- state and checkpoints


@dataclasses.dataclass
class History:
    """Everything recorded per epoch (index 0 = before training); see :func:`result_dataset`."""

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

    def to_state(self) -> dict:
        state = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        state["beta"] = {str(k): v for k, v in self.beta.items()}
        return state

    @classmethod
    def from_state(cls, state: dict) -> "History":
        state = dict(state)
        state["beta"] = {int(k): v for k, v in state["beta"].items()}
        return cls(**state)


def _comparable(cfg_json: str) -> dict:
    d = json.loads(cfg_json)
    for key in _NEUTRAL:
        d.pop(key, None)
    if d.get("lr_schedule") != "cosine":
        d.pop("epochs", None)
    return d


def save_checkpoint(path: Path, cfg: TrainConfig, epoch: int, teacher, student, opt, hist: History) -> None:
    """Atomically write the run state after ``epoch`` (``luckbench.store.atomic_path``)."""
    state = {"format": CHECKPOINT_FORMAT, "config": to_json(cfg), "epoch": epoch,
             "teacher": teacher.state_dict(), "student": student.state_dict(),
             "optimizer": opt.state_dict(), "history": hist.to_state()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, cfg: TrainConfig, device: torch.device) -> dict:
    """Read a checkpoint (weights_only) and check it belongs to ``cfg``."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise InputError(f"checkpoint {path} is unreadable ({type(exc).__name__}); delete it to start over") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"checkpoint {path} is not a luckbench training checkpoint")
    if _comparable(state["config"]) != _comparable(to_json(cfg)):
        raise InputError(f"checkpoint {path} was written by a different configuration; delete it or drop --resume")
    return state


# --------------------------------------------------------------------------- the run


@dataclasses.dataclass
class TrainResult:
    """A finished run: its configuration, history and final networks."""

    cfg: TrainConfig
    history: History
    teacher: ReLUNet
    student: ReLUNet
    device: str


def _record(hist: History, ev: metrics.Evaluation, *, train_loss: float, lr: float, seconds: float) -> None:
    hist.loss.append(float(ev.loss))
    hist.train_loss.append(float(train_loss))
    hist.lr.append(float(lr))
    hist.student_acc.append(float(ev.student_acc))
    hist.teacher_acc.append(float(ev.teacher_acc))
    hist.agreement.append(float(ev.agreement))
    hist.epoch_seconds.append(float(seconds))
    hist.corr.append([torch.from_numpy(c.astype(np.float32)) for c in ev.corr])


def _beta_snapshot(cfg: TrainConfig, data: RunData, teacher, student) -> list | None:
    if not cfg.beta_samples or cfg.kind != "fc":
        return None
    x = data.valid_x[: cfg.beta_samples]
    return [(torch.from_numpy(b.beta), torch.from_numpy(b.d)) for b in metrics.beta_h_star(student, teacher, x)]


def _evaluate(cfg: TrainConfig, data: RunData, teacher, student) -> metrics.Evaluation:
    return metrics.evaluate(student, teacher, data.valid_x, labels=data.valid_y, loss=cfg.loss,
                            batch_size=cfg.eval_batch)


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
def fused_sgd_epoch(student: ReLUNet, teacher: ReLUNet, lr: float, chunks, *, batch_size: int, bar=None) -> float:
    """One epoch of plain SGD on the MSE, forward and backward written out by hand.

    Per mini-batch: ``h_{l+1} = relu(h_l W_l^T + b_l)``, ``g = 2 (out - target) / numel`` (the
    gradient of ``F.mse_loss``), then from the top: ``g_in = (g W_l) * 1(h_l > 0)`` with the
    weights before the update, and the update itself as one in-place ``W_l -= lr g^T h_l``
    (``addmm_``) and ``b_l -= lr sum(g)``. Same mathematics as autograd + ``torch.optim.SGD``,
    without gradient buffers or a separate optimizer pass. Returns the mean mini-batch loss.
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
            mse = diff.pow(2).mean()
            total = mse if total is None else total + mse
            g = diff.mul_(2.0 / diff.numel())
            for l in range(len(weights) - 1, -1, -1):
                g_in = g @ weights[l] if l > 0 else None
                if biases[l] is not None:
                    biases[l].sub_(g.sum(0), alpha=lr)
                weights[l].addmm_(g.t(), acts[l], alpha=-lr)
                if l > 0:
                    g = g_in.mul_(acts[l] > 0)
        steps += _count_steps(xc, batch_size, bar)
    return float(total) / steps


def train_epoch(student, teacher, opt, chunks, *, batch_size: int, loss: str, bar=None) -> float:
    """One epoch of SGD on ``loss(student(x), teacher(x))``; returns the mean mini-batch loss."""
    total = None
    steps = 0
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
    return float(total) / steps


def run_epoch(cfg: TrainConfig, student, teacher, opt, chunks, bar=None) -> float:
    """One training epoch: :func:`fused_sgd_epoch` where it applies, else :func:`train_epoch`."""
    if fused_sgd_applies(cfg):
        return fused_sgd_epoch(student, teacher, opt.param_groups[0]["lr"], chunks, batch_size=cfg.batch_size, bar=bar)
    return train_epoch(student, teacher, opt, chunks, batch_size=cfg.batch_size, loss=cfg.loss, bar=bar)


def _show_progress(cfg: TrainConfig) -> bool:
    return bool(cfg.progress) and sys.stderr.isatty()


def step_macs(cfg: TrainConfig) -> int:
    """Multiply-adds of one student forward pass on a mini-batch (FC; conv counted per position)."""
    w = cfg.student
    area = cfg.image_size ** 2 if cfg.kind == "conv" else 1
    return cfg.batch_size * area * sum(a * b for a, b in zip(w[:-1], w[1:]))


def cpu_threads(cfg: TrainConfig) -> int:
    """``cfg.threads``, or (0) one thread for small students - below ``SMALL_STEP_MACS`` per step the
    second thread's synchronisation costs more than it saves, badly so on a busy machine - else
    torch's default."""
    if cfg.threads:
        return cfg.threads
    return 1 if step_macs(cfg) < SMALL_STEP_MACS else torch.get_num_threads()


def train(cfg: TrainConfig, *, checkpoint: Path | None = None, resume: bool = False,
          on_epoch_end: Callable[[int], None] | None = None, checkpoint_seconds: float = 60.0) -> TrainResult:
    """Run ``cfg`` (resuming from ``checkpoint`` when ``resume`` and it exists).

    The checkpoint is rewritten after an epoch once ``checkpoint_seconds`` have passed since the
    last write (0: after every epoch), and always after the last epoch; the correlation history
    it carries grows with every epoch, so short epochs would otherwise spend their time saving.
    """
    device = resolve_device(cfg.device)
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads(cfg))
    try:
        return _train(cfg, device, checkpoint, resume, on_epoch_end, checkpoint_seconds)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: TrainConfig, device: torch.device, checkpoint: Path | None, resume: bool,
           on_epoch_end: Callable[[int], None] | None, checkpoint_seconds: float) -> TrainResult:
    data = load_data(cfg, device)
    teacher, student = build_networks(cfg, device)
    opt = torch.optim.SGD(student.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    hist = History()
    start = 0
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if resume and checkpoint is not None and checkpoint.is_file():
        state = load_checkpoint(checkpoint, cfg, device)
        teacher.load_state_dict(state["teacher"])
        student.load_state_dict(state["student"])
        opt.load_state_dict(state["optimizer"])
        hist = History.from_state(state["history"])
        start = int(state["epoch"])
    else:
        if data.train_y is not None and cfg.teacher_epochs:
            hist.teacher_train_acc = pretrain_teacher(teacher, cfg, data)
        t0 = time.perf_counter()
        _record(hist, _evaluate(cfg, data, teacher, student), train_loss=float("nan"), lr=float("nan"),
                seconds=time.perf_counter() - t0)
        snap = _beta_snapshot(cfg, data, teacher, student)
        if snap is not None:
            hist.beta[0] = snap
    teacher.eval()
    student.train()
    steps = steps_per_epoch(cfg, data)
    bar = tqdm(total=cfg.epochs * steps, initial=start * steps, unit="step", disable=not _show_progress(cfg),
               desc="train", leave=False)
    last_save = time.monotonic()
    try:
        for epoch in range(start + 1, cfg.epochs + 1):
            t0 = time.perf_counter()
            lr = lr_at(cfg, epoch)
            for group in opt.param_groups:
                group["lr"] = lr
            train_loss = run_epoch(cfg, student, teacher, opt, epoch_chunks(cfg, data, epoch, device), bar)
            if not math.isfinite(train_loss):
                raise InputError(f"training diverged at epoch {epoch} (loss {train_loss}); lower --lr")
            ev = _evaluate(cfg, data, teacher, student)
            snap_due = epoch == cfg.epochs or (cfg.beta_every and epoch % cfg.beta_every == 0)
            snap = _beta_snapshot(cfg, data, teacher, student) if snap_due else None
            if snap is not None:
                hist.beta[epoch] = snap
            _record(hist, ev, train_loss=train_loss, lr=lr, seconds=time.perf_counter() - t0)
            bar.set_postfix(rho0=f"{metrics.rho_bar(ev.corr[0]):.3f}", loss=f"{ev.loss:.3g}")
            due = epoch == cfg.epochs or time.monotonic() - last_save >= checkpoint_seconds
            if checkpoint is not None and due:
                save_checkpoint(checkpoint, cfg, epoch, teacher, student, opt, hist)
                last_save = time.monotonic()
            if on_epoch_end is not None:
                on_epoch_end(epoch)
    finally:
        bar.close()
    return TrainResult(cfg, hist, teacher, student, str(device))


# --------------------------------------------------------------------------- stored result


def _padded(rows: list[np.ndarray], width: int, fill=np.nan) -> np.ndarray:
    out = np.full((len(rows), width), fill, dtype=np.int64 if isinstance(fill, int) else np.float64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def result_dataset(res: TrainResult) -> xr.Dataset:
    """The stored form of a run (``result_kind = "train"``).

    Dimensions: ``epoch`` (0 = before training), ``layer`` (hidden layer, 0 = nearest the input),
    ``teacher_node`` (padded with NaN / -1 beyond a layer's width), ``match_row`` (the rows of an
    aligned matrix: the winner of teacher ``match_row``), ``snapshot`` (epochs with beta*/H*).

    Variables: ``rho_bar(epoch, layer)``; ``mean_rank(epoch, layer)`` in [0, 1];
    ``rho_max(epoch, layer, teacher_node)`` (each teacher's best correlation);
    ``rank(epoch, layer, teacher_node)`` (normalised rank of its final winner);
    ``winner(layer, teacher_node)`` (final winner's student index); ``loss(epoch)`` (validation
    loss), ``train_loss(epoch)`` (mean mini-batch loss, NaN at 0), ``lr(epoch)``;
    ``student_acc(epoch)``, ``teacher_acc(epoch)``, ``agreement(epoch)`` (NaN without labels);
    ``epoch_seconds(epoch)``; ``beta_star``, ``d_star``, ``h_star`` ``(snapshot, layer, match_row,
    teacher_node)`` aligned to the final winners (Fig. 10); ``n_teacher(layer)``, ``n_student(layer)``.
    """

    cfg, hist = res.cfg, res.history
    n_layers = len(hist.corr[0])
    final = [c.double().numpy() for c in hist.corr[-1]]
    winners = [metrics.match(c, cfg.matching) for c in final]
    m = [c.shape[1] for c in final]
    width = max(m)
    epochs = np.arange(len(hist.corr))
    rho_bar = np.array([[metrics.rho_bar(c.double().numpy()) for c in row] for row in hist.corr])
    rho_max = np.stack([_padded([c.double().numpy().max(0) for c in row], width) for row in hist.corr])
    rank = np.stack([_padded([metrics.ranks(c.double().numpy(), w) for c, w in zip(row, winners)], width)
                     for row in hist.corr])
    data = {
        "rho_bar": (("epoch", "layer"), rho_bar, {"long_name": "mean over teachers of the best student correlation"}),
        "mean_rank": (("epoch", "layer"), np.nanmean(rank, axis=2),
                      {"long_name": "mean normalised rank of the final winners (0 = first)"}),
        "rho_max": (("epoch", "layer", "teacher_node"), rho_max),
        "rank": (("epoch", "layer", "teacher_node"), rank),
        "winner": (("layer", "teacher_node"), _padded(winners, width, fill=-1)),
        "loss": (("epoch",), np.array(hist.loss), {"long_name": f"validation {cfg.loss} loss, student vs teacher"}),
        "train_loss": (("epoch",), np.array(hist.train_loss)),
        "lr": (("epoch",), np.array(hist.lr)),
        "student_acc": (("epoch",), np.array(hist.student_acc)),
        "teacher_acc": (("epoch",), np.array(hist.teacher_acc)),
        "agreement": (("epoch",), np.array(hist.agreement)),
        "epoch_seconds": (("epoch",), np.array(hist.epoch_seconds), {"units": "s"}),
        "n_teacher": (("layer",), np.array(m)),
        "n_student": (("layer",), np.array([c.shape[0] for c in final])),
    }
    coords = {"epoch": epochs, "layer": np.arange(n_layers), "teacher_node": np.arange(width)}
    if hist.beta:
        snaps = sorted(hist.beta)
        for name, pick in (("beta_star", lambda b, d: b), ("d_star", lambda b, d: d), ("h_star", lambda b, d: b * d)):
            arr = np.full((len(snaps), n_layers, width, width), np.nan)
            for i, s in enumerate(snaps):
                for l, (b, d) in enumerate(hist.beta[s]):
                    aligned = metrics.align(pick(b.numpy(), d.numpy()), winners[l])
                    arr[i, l, : m[l], : m[l]] = aligned
            data[name] = (("snapshot", "layer", "match_row", "teacher_node"), arr,
                          {"long_name": f"{name} (student-major) with rows = final winners of each teacher"})
        coords["snapshot"] = np.array(snaps)
        coords["match_row"] = np.arange(width)
    ds = xr.Dataset({k: xr.Variable(v[0], v[1], v[2] if len(v) > 2 else None) for k, v in data.items()},
                    coords=coords)
    ds.attrs.update({
        "result_kind": "train", "teacher_widths": list(cfg.teacher), "student_widths": list(cfg.student),
        "device": res.device, "teacher_train_acc": float(hist.teacher_train_acc),
        "matching": cfg.matching,
    })
    return ds
