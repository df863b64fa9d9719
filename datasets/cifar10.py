"""CIFAR-10 from the standard *python* batches in a local folder, without running pickled code.

The official ``cifar-10-batches-py`` folder holds ``data_batch_1`` ... ``data_batch_5`` and
``test_batch``: Python-2 pickles of a dict with ``b"data"`` (a numpy uint8 array, 10000 x 3072,
rows = 1024 red, 1024 green, 1024 blue values of a 32 x 32 image) and ``b"labels"`` (ints 0..9).

A pickle is a program: loading one with :mod:`pickle` can call any importable function. This
reader uses :class:`SafeUnpickler`, whose ``find_class`` resolves *only* the numpy callables that
rebuild an ndarray (``_reconstruct``, ``ndarray``, ``dtype``, ``_frombuffer``, under both their
numpy-1 and numpy-2 module paths) plus a latin-1-only stand-in for ``_codecs.encode`` (how Python
3 writes bytes at protocol 2), and refuses every other global before anything runs. Plain dicts,
lists, bytes, str and numbers need no globals at all. Nothing is downloaded.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import torch

from luckbench.errors import InputError

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
# per-channel mean / std of the CIFAR-10 training images (values in [0, 1])
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as Python 3 protocol-2 pickles use it for bytes; latin-1 only."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("refusing _codecs.encode with arguments other than (str, 'latin1')")
    return text.encode("latin1")


def _allowed() -> dict[tuple[str, str], object]:
    try:
        from numpy._core.multiarray import _reconstruct
        from numpy._core.numeric import _frombuffer
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct
        from numpy.core.numeric import _frombuffer
    table = {("_codecs", "encode"): _latin1}
    for root in ("numpy.core", "numpy._core"):
        table[(f"{root}.multiarray", "_reconstruct")] = _reconstruct
        table[(f"{root}.numeric", "_frombuffer")] = _frombuffer
    table[("numpy", "ndarray")] = np.ndarray
    table[("numpy", "dtype")] = np.dtype
    return table


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only numpy's array-reconstruction callables."""

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        allowed = _allowed()
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def safe_load(path: Path) -> object:
    """Unpickle ``path`` with :class:`SafeUnpickler` (bytes keys, as the Python-2 files need)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read CIFAR-10 file {path}: {exc.strerror or exc}") from None
    try:
        return SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise InputError(f"CIFAR-10 file {path} is not a plain data pickle: {exc}") from None
    except Exception as exc:  # truncated/garbled bytes raise EOFError, ValueError, KeyError, ...
        raise InputError(f"CIFAR-10 file {path} is corrupt ({type(exc).__name__})") from None


def _get(batch: dict, key: str):
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    return None


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (uint8 images (N, 3, 32, 32), int64 labels (N,)), validated."""
    batch = safe_load(path)
    if not isinstance(batch, dict):
        raise InputError(f"CIFAR-10 file {path} does not hold a dict")
    data, labels = _get(batch, "data"), _get(batch, "labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise InputError(f"CIFAR-10 file {path}: 'data' is not a uint8 array of shape (N, 3072)")
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise InputError(f"CIFAR-10 file {path}: 'labels' is not a list of integers") from None
    if y.shape != (data.shape[0],) or (y.size and (y.min() < 0 or y.max() > 9)):
        raise InputError(f"CIFAR-10 file {path}: 'labels' must be {data.shape[0]} integers in 0..9")
    return data.reshape(-1, 3, 32, 32), y


def load_cifar10(folder: str | Path, split: str = "train", *, normalize: bool = True
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 ``split`` ("train": 5 batches, "test") from ``folder``.

    Returns ``x`` float32 (N, 3, 32, 32) - scaled to [0, 1] and, with ``normalize``, standardised
    per channel with the training-set :data:`MEAN`/:data:`STD` - and ``y`` int64 (N,).
    """
    if split not in ("train", "test"):
        raise InputError(f"CIFAR-10 split must be 'train' or 'test', got {split!r}")
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"CIFAR-10 folder not found: {root} (expected the python batches, "
                         f"data_batch_1..5 and test_batch)")
    names = TRAIN_FILES if split == "train" else TEST_FILES
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        raise InputError(f"CIFAR-10 folder {root} lacks {', '.join(missing)}")
    parts = [read_batch(root / n) for n in names]
    x = torch.from_numpy(np.concatenate([p[0] for p in parts])).float().div_(255.0)
    y = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    if normalize:
        x.sub_(torch.tensor(MEAN).view(1, 3, 1, 1)).div_(torch.tensor(STD).view(1, 3, 1, 1))
    return x, y
