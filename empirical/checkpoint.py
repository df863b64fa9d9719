"""Training checkpoints: written atomically, read with ``torch.load(weights_only=True)``, validated.

A checkpoint is a dict ``{format, config, epoch, teacher, student, optimizer, history}``: the run's
configuration as JSON, the number of training epochs done, the two networks' and the optimizer's
state dicts and the metric history (:meth:`History.to_state`). :func:`load_checkpoint` refuses,
in one line naming what is wrong, a file that is not such a dict, another format version, another
configuration, an epoch that is not a non-negative integer or exceeds ``--epochs``, state dicts
whose keys, shapes or dtypes differ from the networks the configuration builds, or a history
whose lengths, shapes or dtypes do not fit that epoch.
"""
from __future__ import annotations

import json
import numbers
from pathlib import Path

import torch

from luckbench.empirical.history import SERIES, History
from luckbench.empirical.presets import TrainConfig
from luckbench.errors import InputError
from luckbench.store import atomic_path, to_json

FORMAT = 1
# config fields that do not change the numbers a run produces (ignored when resuming)
NEUTRAL = ("progress", "threads", "device")
KEYS = ("format", "config", "epoch", "teacher", "student", "optimizer", "history")


def save_checkpoint(path: Path, cfg: TrainConfig, epoch: int, teacher, student, opt, hist: History) -> None:
    """Atomically write the run state after ``epoch`` (``luckbench.store.atomic_path``)."""
    state = {"format": FORMAT, "config": to_json(cfg), "epoch": epoch,
             "teacher": teacher.state_dict(), "student": student.state_dict(),
             "optimizer": opt.state_dict(), "history": hist.to_state()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict:
    """The raw checkpoint dict (weights_only); only its type and format version are checked."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # zip, pickle and unpickler errors all mean "not readable"
        raise InputError(f"checkpoint {path} is unreadable ({type(exc).__name__}); remove it to start over") from None
    if not isinstance(state, dict) or "format" not in state:
        raise InputError(f"checkpoint {path} is not a luckbench training checkpoint; remove it or choose another --out")
    if state["format"] != FORMAT:
        raise InputError(f"checkpoint {path} has format {state['format']!r}, this version reads {FORMAT}")
    return state


def comparable(config: dict) -> dict:
    """The fields of a config that must agree for a resume (``epochs`` only under a cosine schedule,
    whose lr depends on it)."""
    d = {k: v for k, v in config.items() if k not in NEUTRAL}
    if d.get("lr_schedule") != "cosine":
        d.pop("epochs", None)
    return d


def config_difference(stored: dict, cfg: TrainConfig) -> list[str]:
    """``name stored -> cfg`` for every field that differs (empty: the checkpoint fits ``cfg``)."""
    mine, theirs = comparable(json.loads(to_json(cfg))), comparable(stored)
    return [f"{k} {theirs.get(k, '(missing)')} -> {mine.get(k, '(missing)')}"
            for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]


def stored_config(state: dict, path: Path) -> dict:
    """The checkpoint's configuration (a JSON object), or an InputError."""
    try:
        config = json.loads(state["config"])
    except (KeyError, TypeError, ValueError):
        raise InputError(f"checkpoint {path}: no readable config") from None
    if not isinstance(config, dict):
        raise InputError(f"checkpoint {path}: config is not a JSON object")
    return config


def _check_tensor(path: Path, what: str, t, shape: tuple, dtype: torch.dtype) -> None:
    if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape or t.dtype != dtype:
        shown = (tuple(t.shape), t.dtype) if isinstance(t, torch.Tensor) else type(t).__name__
        raise InputError(f"checkpoint {path}: {what} is {shown}, expected {(shape, dtype)}")


def _check_state_dict(path: Path, what: str, got, expected: dict) -> None:
    if not isinstance(got, dict) or set(got) != set(expected):
        raise InputError(f"checkpoint {path}: {what} state has other entries than the configured network")
    for key, ref in expected.items():
        _check_tensor(path, f"{what} {key}", got[key], tuple(ref.shape), ref.dtype)


def _check_optimizer(path: Path, got, opt: torch.optim.Optimizer) -> None:
    params = [p for group in opt.param_groups for p in group["params"]]
    if (not isinstance(got, dict) or not isinstance(got.get("state"), dict)
            or not isinstance(got.get("param_groups"), list) or len(got["param_groups"]) != len(opt.param_groups)):
        raise InputError(f"checkpoint {path}: optimizer state is malformed")
    ids = [i for g in got["param_groups"] if isinstance(g, dict) for i in g.get("params", [])]
    if sorted(ids) != list(range(len(params))):
        raise InputError(f"checkpoint {path}: optimizer state covers other parameters than the student's")
    for i, entry in got["state"].items():
        buf = entry.get("momentum_buffer") if isinstance(entry, dict) else None
        if not isinstance(i, int) or not 0 <= i < len(params) or (
                buf is not None and (not isinstance(buf, torch.Tensor) or buf.shape != params[i].shape
                                     or buf.dtype != params[i].dtype)):
            raise InputError(f"checkpoint {path}: optimizer momentum buffer {i} does not fit the student")


def _check_history(path: Path, hist, epoch: int, shapes: list[tuple[int, int]]) -> None:
    """Every series has ``epoch + 1`` numbers; every correlation / beta matrix its layer's shape."""
    fields = (*SERIES, "corr", "beta", "teacher_train_acc")
    if not isinstance(hist, dict) or set(hist) != set(fields):
        raise InputError(f"checkpoint {path}: history lacks or adds entries (expected {', '.join(fields)})")
    for name in (*SERIES, "corr"):
        if not isinstance(hist[name], list) or len(hist[name]) != epoch + 1:
            n = len(hist[name]) if isinstance(hist[name], list) else type(hist[name]).__name__
            raise InputError(f"checkpoint {path}: history {name} has {n} entries, epoch {epoch} needs {epoch + 1}")
    for name in SERIES:
        if not all(isinstance(v, numbers.Real) for v in hist[name]):
            raise InputError(f"checkpoint {path}: history {name} holds non-numbers")
    if not isinstance(hist["teacher_train_acc"], numbers.Real):
        raise InputError(f"checkpoint {path}: history teacher_train_acc is not a number")
    for e, row in enumerate(hist["corr"]):
        if not isinstance(row, list) or len(row) != len(shapes):
            raise InputError(f"checkpoint {path}: history corr of epoch {e} does not have {len(shapes)} layers")
        for l, c in enumerate(row):
            _check_tensor(path, f"history corr[{e}][{l}]", c, shapes[l], torch.float32)
    if not isinstance(hist["beta"], dict):
        raise InputError(f"checkpoint {path}: history beta is not a dict")
    for key, layers in hist["beta"].items():
        if not (isinstance(key, str) and key.isdigit() and int(key) <= epoch):
            raise InputError(f"checkpoint {path}: history beta snapshot {key!r} is not an epoch in 0..{epoch}")
        if not isinstance(layers, list) or len(layers) != len(shapes):
            raise InputError(f"checkpoint {path}: history beta of epoch {key} does not have {len(shapes)} layers")
        for l, pair in enumerate(layers):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise InputError(f"checkpoint {path}: history beta[{key}][{l}] is not a (beta, d) pair")
            for part, t in zip(("beta", "d"), pair):
                _check_tensor(path, f"history {part}[{key}][{l}]", t, shapes[l], torch.float64)


def load_checkpoint(path: Path, cfg: TrainConfig, device: torch.device, teacher, student, opt) -> tuple[int, History]:
    """Validate the checkpoint at ``path`` against ``cfg`` and the freshly built networks and
    optimizer, load it into them and return ``(epoch, history)``."""
    state = read_checkpoint(path, device)
    missing = [k for k in KEYS if k not in state]
    if missing:
        raise InputError(f"checkpoint {path} lacks {', '.join(missing)}; remove it to start over")
    differs = config_difference(stored_config(state, path), cfg)
    if differs:
        raise InputError(f"checkpoint {path} was written by a different configuration ({'; '.join(differs)}); "
                         "kept: drop --resume and remove it, or choose another --out")
    epoch = state["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise InputError(f"checkpoint {path}: epoch {epoch!r} is not a non-negative integer")
    if epoch > cfg.epochs:
        raise InputError(f"checkpoint {path} holds {epoch} epochs but --epochs is {cfg.epochs}; "
                         f"give --epochs {epoch} or more to extend it (a stored result never has more "
                         "epochs than its config says)")
    _check_state_dict(path, "teacher", state["teacher"], teacher.state_dict())
    _check_state_dict(path, "student", state["student"], student.state_dict())
    _check_optimizer(path, state["optimizer"], opt)
    shapes = [tuple(lin.weight.shape[:1]) + tuple(t.weight.shape[:1])
              for lin, t in zip(student.linears[:-1], teacher.linears[:-1])]
    _check_history(path, state["history"], epoch, shapes)
    teacher.load_state_dict(state["teacher"])
    student.load_state_dict(state["student"])
    opt.load_state_dict(state["optimizer"])
    return epoch, History.from_state(state["history"])


def refuse_existing(path: Path, cfg: TrainConfig) -> None:
    """A run without ``--resume`` never replaces a checkpoint: an InputError saying how to resume
    it (same configuration) or that it is kept and what to remove (anything else)."""
    try:
        state = read_checkpoint(path)
        same = not config_difference(stored_config(state, path), cfg)
    except InputError:
        state, same = None, False
    if same:
        raise InputError(f"checkpoint {path} exists (epoch {state.get('epoch')!r} of this configuration): "
                         "add --resume to continue it, or remove it to start over")
    raise InputError(f"checkpoint {path} exists and belongs to another configuration or is unreadable; "
                     "it is kept: remove it or choose another --out")
