"""Safe loading of torchvision-format weight files into the in-house architectures.

* Local files are read with ``torch.load(path, weights_only=True, map_location="cpu")`` only: a
  pickle that would import or call anything beyond tensors and plain containers is refused
  before any of its code runs.
* Accepted layouts: a bare state dict, or one wrapped as ``{"state_dict": ...}``,
  ``{"model": ...}`` or ``{"model_state_dict": ...}`` (other entries such as ``epoch`` or
  ``optimizer`` are ignored); a ``module.`` prefix left by ``nn.DataParallel`` is stripped.
* URLs are fetched through torch.hub's cache (``<torch.hub.get_dir()>/checkpoints``) with
  ``torch.hub.download_url_to_file``: downloads are atomic and a file whose SHA-256 does not
  start with the expected digest never enters the cache. The expected digest is ``sha256`` if
  given, else the hash prefix in a torch.hub-style file name (``resnet18-f37072fd.pth``), as
  ``load_state_dict_from_url(check_hash=True)`` does.
* Every problem (missing, truncated, foreign or code-carrying file; wrong architecture; NaN
  weights; bad digest) is a one-line :class:`~luckbench.errors.InputError`.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import re
import urllib.error
import urllib.parse
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from luckbench.empirical.architectures import build
from luckbench.errors import InputError

WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")
_HEX = re.compile(r"^[0-9a-f]{8,64}$")
_SHOWN = 3  # keys listed per category in a mismatch message


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_digest(text: str) -> str:
    """Validate a ``--sha256`` value: 8 to 64 hex digits (a full digest or a prefix of one)."""
    digest = text.strip().lower()
    if not _HEX.match(digest):
        raise InputError(f"--sha256: expected 8 to 64 hexadecimal digits, got {text!r}")
    return digest


def verify_sha256(path: Path, expected: str) -> str:
    """Return the file's full digest; InputError unless it starts with ``expected``."""
    actual = file_sha256(path)
    if not actual.startswith(check_digest(expected)):
        raise InputError(f"{path}: SHA-256 mismatch (expected {expected}..., got {actual})")
    return actual


def fetch_url(url: str, sha256: str | None = None, *, cache_dir: str | os.PathLike | None = None,
              progress: bool = False) -> Path:
    """Download ``url`` into torch.hub's checkpoint cache (once) and return the cached path.

    The expected digest is ``sha256`` or, failing that, the torch.hub hash prefix in the file
    name; a download that does not match is discarded by ``download_url_to_file``. A cached file
    that no longer matches is an error naming it (delete it to download again).
    """
    parts = urllib.parse.urlparse(url)
    name = os.path.basename(parts.path)
    if parts.scheme not in ("http", "https", "file") or not name:
        raise InputError(f"--url: expected an http(s):// or file:// URL ending in a file name, got {url!r}")
    expected = check_digest(sha256) if sha256 else None
    if expected is None:
        match = torch.hub.HASH_REGEX.search(name)
        expected = match.group(1) if match and len(match.group(1)) >= 8 else None
    cache = Path(cache_dir) if cache_dir is not None else Path(torch.hub.get_dir()) / "checkpoints"
    dst = cache / name
    if not dst.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, str(dst), hash_prefix=expected, progress=progress)
        except RuntimeError as exc:  # torch.hub's "invalid hash value" (the temp file is removed)
            raise InputError(f"--url: {url}: {str(exc).splitlines()[0]}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise InputError(f"--url: could not download {url}: {reason}") from None
    if expected is not None:
        verify_sha256(dst, expected)
    return dst


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """``torch.load(path, weights_only=True, map_location="cpu")`` and unwrap to a state dict.

    Refuses (InputError) code-carrying pickles, truncated or non-torch files, and files whose
    content is not a mapping from names to tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--weights: file not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Weights only load failed" in text:
            detail = next((ln.strip().rstrip(".") for ln in text.splitlines()
                           if "nsupported" in ln or "blocked" in ln), "it imports or calls Python objects")
            raise InputError(f"{path}: refused: unpickling would run code, not only load tensors "
                             f"({detail})") from None
        raise InputError(f"{path}: not a PyTorch weight file ({text.splitlines()[0] if text else 'bad pickle'})") from None
    except Exception as exc:  # truncated zip (RuntimeError), foreign bytes (KeyError), empty (EOFError)
        first = str(exc).splitlines()[0].split(". ")[0] if str(exc) else ""
        raise InputError(f"{path}: not a readable PyTorch weight file, truncated or foreign "
                         f"({type(exc).__name__}{': ' + first if first else ''})") from None
    return extract_state_dict(obj, str(path))


def _is_state_dict(obj: object) -> bool:
    return (isinstance(obj, Mapping) and len(obj) > 0
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()))


def extract_state_dict(obj: object, source: str) -> dict[str, torch.Tensor]:
    """Unwrap ``{"state_dict"|"model"|"model_state_dict": sd}`` (nested too) and strip ``module.``."""
    while not _is_state_dict(obj):
        inner = None
        if isinstance(obj, Mapping):
            inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            raise InputError(f"{source}: no state dict found (expected a mapping of names to tensors, "
                             f"or one under {'/'.join(WRAPPER_KEYS)})")
        obj = inner
    state = dict(obj)
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _listing(label: str, items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN]) + (", ..." if len(items) > _SHOWN else "")
    return f"{len(items)} {label} ({shown})"


def check_fits(model: nn.Module, state: Mapping[str, torch.Tensor], arch: str, source: str) -> None:
    """InputError listing missing / unexpected / mis-shaped keys when ``state`` does not fit ``model``.

    A missing ``num_batches_tracked`` buffer is tolerated (weight files older than PyTorch 0.4.1
    lack it, and ``BatchNorm`` fills it in).
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    misshaped = [f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
                 for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    problems = [_listing(label, items) for label, items in
                (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)) if items]
    if problems:
        raise InputError(f"{source}: weights do not fit --arch {arch}: {'; '.join(problems)}")
    for key, value in state.items():
        if value.is_floating_point() and value.numel() and not _all_finite(value):
            raise InputError(f"{source}: non-finite values (NaN or inf) in {key}")


def _all_finite(value: torch.Tensor) -> bool:
    """All entries finite: max and min propagate NaN and expose inf (no boolean copy of the tensor)."""
    return bool(torch.isfinite(value.amax()) & torch.isfinite(value.amin()))


def load_model(arch: str, state: Mapping[str, torch.Tensor], source: str = "weights") -> nn.Module:
    """Build ``arch`` on the meta device and load ``state`` into it with ``strict=True, assign=True``.

    Nothing is allocated for the architecture itself: the loaded tensors become its parameters.
    """
    model = build(arch, device="meta")
    check_fits(model, state, arch, source)
    full = dict(state)
    for key in model.state_dict():
        if key.endswith("num_batches_tracked") and key not in full:
            full[key] = torch.zeros((), dtype=torch.long)
    model.load_state_dict(full, strict=True, assign=True)
    return model.eval()
