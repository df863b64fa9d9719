"""The stored form of a training run: an xarray Dataset with ``result_kind = "train"``."""
from __future__ import annotations

import numpy as np
import xarray as xr

from luckbench.empirical import metrics
from luckbench.store import to_json

# (long_name, units) of every coordinate and data variable; "1" = dimensionless
ATTRS = {
    "epoch": ("training epoch (0 = before training)", "1"),
    "layer": ("hidden layer (0 = nearest the input)", "1"),
    "teacher_node": ("teacher node of the layer", "1"),
    "match_row": ("row of an aligned matrix: the final winner of teacher node match_row", "1"),
    "snapshot": ("epoch of a beta*/H* snapshot", "1"),
    "seed": ("random seed of the run", "1"),
    "rho_bar": ("mean over teachers of the best student correlation", "1"),
    "mean_rank": ("mean normalised rank of the final winners (0 = first)", "1"),
    "rho_max": ("best student correlation of each teacher node", "1"),
    "rank": ("normalised rank of the teacher node's final winner (0 = first)", "1"),
    "winner": ("student node that finally best matches the teacher node (-1 = none)", "1"),
    "loss": ("validation loss, student vs teacher", "1"),
    "train_loss": ("mean mini-batch training loss of the epoch", "1"),
    "lr": ("learning rate of the epoch", "1"),
    "student_acc": ("student accuracy on the validation labels", "1"),
    "teacher_acc": ("teacher accuracy on the validation labels", "1"),
    "agreement": ("fraction of validation samples where student and teacher argmax agree", "1"),
    "epoch_seconds": ("wall time of the epoch, metrics included", "s"),
    "n_teacher": ("teacher width of the layer", "1"),
    "n_student": ("student width of the layer", "1"),
    "beta_star": ("E[beta*] (student-major), rows = final winners of each teacher", "1"),
    "d_star": ("D* = E[f' f'*] (student-major), rows = final winners of each teacher", "1"),
    "h_star": ("H* = E[beta*] o D* (student-major), rows = final winners of each teacher", "1"),
}


def _attrs(name: str, **extra) -> dict:
    long_name, units = ATTRS[name]
    return {"long_name": long_name, "units": units, **extra}


def _padded(rows: list[np.ndarray], width: int, fill=np.nan) -> np.ndarray:
    out = np.full((len(rows), width), fill, dtype=np.int64 if isinstance(fill, int) else np.float64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def _beta_variables(hist, winners: list[np.ndarray], m: list[int], width: int) -> dict:
    """``beta_star``, ``d_star``, ``h_star`` (snapshot, layer, match_row, teacher_node), aligned."""
    snaps = sorted(hist.beta)
    out = {}
    for name, pick in (("beta_star", lambda b, d: b), ("d_star", lambda b, d: d), ("h_star", lambda b, d: b * d)):
        arr = np.full((len(snaps), len(m), width, width), np.nan)
        for i, s in enumerate(snaps):
            for l, (b, d) in enumerate(hist.beta[s]):
                arr[i, l, : m[l], : m[l]] = metrics.align(pick(b.numpy(), d.numpy()), winners[l])
        out[name] = xr.Variable(("snapshot", "layer", "match_row", "teacher_node"), arr, _attrs(name))
    return out


def result_dataset(res) -> xr.Dataset:
    """The stored form of a :class:`~luckbench.empirical.train.TrainResult`.

    Dimensions: ``epoch`` (0 = before training), ``layer`` (hidden layer, 0 = nearest the input),
    ``teacher_node`` (padded with NaN / -1 beyond a layer's width), ``match_row`` (the rows of an
    aligned matrix: the winner of teacher ``match_row``), ``snapshot`` (epochs with beta*/H*);
    ``seed`` is a 0-d coordinate.

    Variables: ``rho_bar(epoch, layer)``; ``mean_rank(epoch, layer)`` in [0, 1];
    ``rho_max(epoch, layer, teacher_node)`` (each teacher's best correlation);
    ``rank(epoch, layer, teacher_node)`` (normalised rank of its final winner);
    ``winner(layer, teacher_node)`` (final winner's student index); ``loss(epoch)`` (validation
    loss), ``train_loss(epoch)`` (mean mini-batch loss, NaN at 0), ``lr(epoch)``;
    ``student_acc(epoch)``, ``teacher_acc(epoch)``, ``agreement(epoch)`` (NaN without labels);
    ``epoch_seconds(epoch)``; ``beta_star``, ``d_star``, ``h_star`` ``(snapshot, layer, match_row,
    teacher_node)`` aligned to the final winners (Fig. 10); ``n_teacher(layer)``, ``n_student(layer)``.
    Every variable and coordinate has ``long_name`` and ``units``.

    Attributes: ``config`` (JSON) and ``seed`` of the run; ``diverged`` (1 when the loss became
    NaN/inf; the stored epochs are those before ``diverged_epoch``, which is -1 otherwise).
    """
    cfg, hist = res.cfg, res.history
    n_layers = len(hist.corr[0])
    final = [c.double().numpy() for c in hist.corr[-1]]
    winners = [metrics.match(c, cfg.matching) for c in final]
    m = [c.shape[1] for c in final]
    width = max(m)
    corr = [[c.double().numpy() for c in row] for row in hist.corr]
    rank = np.stack([_padded([metrics.ranks(c, w) for c, w in zip(row, winners)], width) for row in corr])
    data = {
        "rho_bar": (("epoch", "layer"), np.array([[metrics.rho_bar(c) for c in row] for row in corr])),
        "mean_rank": (("epoch", "layer"), np.nanmean(rank, axis=2)),
        "rho_max": (("epoch", "layer", "teacher_node"), np.stack([_padded([c.max(0) for c in row], width) for row in corr])),
        "rank": (("epoch", "layer", "teacher_node"), rank),
        "winner": (("layer", "teacher_node"), _padded(winners, width, fill=-1)),
        "loss": (("epoch",), np.array(hist.loss)),
        "train_loss": (("epoch",), np.array(hist.train_loss)),
        "lr": (("epoch",), np.array(hist.lr)),
        "student_acc": (("epoch",), np.array(hist.student_acc)),
        "teacher_acc": (("epoch",), np.array(hist.teacher_acc)),
        "agreement": (("epoch",), np.array(hist.agreement)),
        "epoch_seconds": (("epoch",), np.array(hist.epoch_seconds)),
        "n_teacher": (("layer",), np.array(m)),
        "n_student": (("layer",), np.array([c.shape[0] for c in final])),
    }
    variables = {k: xr.Variable(dims, values, _attrs(k)) for k, (dims, values) in data.items()}
    variables["loss"].attrs["long_name"] = f"validation {cfg.loss} loss, student vs teacher"
    coords = {"epoch": np.arange(len(hist.corr)), "layer": np.arange(n_layers), "teacher_node": np.arange(width)}
    if hist.beta:
        variables.update(_beta_variables(hist, winners, m, width))
        coords.update(snapshot=np.array(sorted(hist.beta)), match_row=np.arange(width))
    ds = xr.Dataset(variables, coords={k: xr.Variable((k,), v, _attrs(k)) for k, v in coords.items()})
    ds.coords["seed"] = xr.Variable((), np.int64(cfg.seed), _attrs("seed"))
    ds.attrs.update({
        "result_kind": "train", "config": to_json(cfg), "seed": int(cfg.seed),
        "teacher_widths": list(cfg.teacher), "student_widths": list(cfg.student),
        "device": res.device, "teacher_train_acc": float(hist.teacher_train_acc), "matching": cfg.matching,
        "diverged": int(res.diverged_epoch is not None),
        "diverged_epoch": -1 if res.diverged_epoch is None else int(res.diverged_epoch),
    })
    return ds
