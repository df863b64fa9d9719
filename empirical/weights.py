"""Safe loading of torchvision-format weight files into the in-house architectures.

* Local files are read with ``torch.load(path, weights_only=True, map_location="cpu")`` only: a
  pickle that would import or call anything beyond tensors and plain containers is refused
  before any of its code runs.
* Zip-format files (``torch.save`` since PyTorch 1.6) have every member's CRC-32 checked before
  ``torch.load`` reads them (``torch.load`` does not): a flipped byte in tensor data is refused.
* Accepted layouts: a bare state dict, or one wrapped as ``{"state_dict": ...}``,
  ``{"model": ...}`` or ``{"model_state_dict": ...}``, nested up to ``MAX_NESTING`` levels (a
  wrapper that contains itself is refused, never followed); non-tensor entries such as ``epoch``
  or ``char2idx`` are ignored; a ``module.`` prefix left by ``nn.DataParallel`` is stripped.
* URLs are fetched through torch.hub's cache (``<torch.hub.get_dir()>/checkpoints``) with
  ``torch.hub.download_url_to_file``: downloads are atomic and a file whose SHA-256 does not
  start with the expected digest never enters the cache. The expected digest is ``sha256`` if
  given, else the hash prefix in a torch.hub-style file name (``resnet18-f37072fd.pth``), as
  ``load_state_dict_from_url(check_hash=True)`` does. ``file://`` sources are copied here
  (atomically, checked against the digest) keeping the source's permission bits, so a private
  file stays private; :func:`discard_cached` removes a cached copy that was refused.
* Every problem (missing, truncated, foreign or code-carrying file; wrong architecture; NaN
  weights; bad digest) is a one-line :class:`~luckbench.errors.InputError`.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import re
import stat
import tempfile
import zipfile
import zlib
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from luckbench.empirical.architectures import build
from luckbench.errors import InputError

WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")
MAX_NESTING = 8  # wrapper levels followed before a file is refused as too deeply nested
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
    name; a download that does not match never enters the cache. A cached file that no longer
    matches is removed and named in the error (run again to download it afresh).
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
        if parts.scheme == "file":
            _copy_local(_local_source(url), dst, expected)
        else:
            _download(url, dst, expected, progress)
    if expected is not None:
        try:
            verify_sha256(dst, expected)
        except InputError:
            removed = discard_cached(dst, url)
            raise InputError(f"--url: cached {dst} does not match the expected SHA-256 {expected}"
                             + ("; removed it, run again to download it afresh" if removed else "")) from None
    return dst


def _local_source(url: str) -> Path:
    return Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))


def _download(url: str, dst: Path, expected: str | None, progress: bool) -> None:
    try:
        torch.hub.download_url_to_file(url, str(dst), hash_prefix=expected, progress=progress)
    except RuntimeError as exc:  # torch.hub's "invalid hash value" (the temp file is removed)
        raise InputError(f"--url: {url}: {str(exc).splitlines()[0]}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise InputError(f"--url: could not download {url}: {reason}") from None


def _copy_local(src: Path, dst: Path, expected: str | None) -> None:
    """Copy ``src`` to ``dst`` atomically with ``src``'s permission bits, refusing a digest mismatch."""
    if not src.is_file():
        raise InputError(f"--url: could not download {src.as_uri()}: file not found")
    fd, tmp = tempfile.mkstemp(prefix=dst.name + ".", suffix=".partial", dir=dst.parent)  # mode 0600
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        if expected is not None and not actual.startswith(expected):
            raise InputError(f"--url: {src.as_uri()}: invalid hash value (expected {expected}..., got {actual})")
        os.chmod(tmp, stat.S_IMODE(src.stat().st_mode))
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def discard_cached(path: Path, url: str) -> bool:
    """Remove a refused cached copy ``path`` of ``url``; never the ``file://`` source itself."""
    if urllib.parse.urlparse(url).scheme == "file":
        src = _local_source(url)
        if src.exists() and path.exists() and os.path.samefile(src, path):
            return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def verify_zip_crc(path: Path) -> None:
    """InputError naming the first member of a zip-format weight file whose CRC-32 is wrong.

    Files in the legacy (pre-1.6, non-zip) format carry no checksum; they are read as they are.
    """
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise InputError(f"{path}: corrupt zip archive ({type(exc).__name__}{': ' + first if first else ''})") from None
    if bad is not None:
        raise InputError(f"{path}: corrupt: CRC-32 mismatch in {bad} (the file was damaged after it was written)")


def load_checkpoint(path: str | os.PathLike) -> object:
    """``torch.load(path, weights_only=True, map_location="cpu")`` after the zip CRC check.

    Refuses (InputError) code-carrying pickles, truncated, damaged or non-torch files.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--weights: file not found: {path}")
    verify_zip_crc(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, weights_only=True, map_location="cpu")
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


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """:func:`load_checkpoint` and unwrap to a state dict (:func:`extract_state_dict`)."""
    return extract_state_dict(load_checkpoint(path), str(Path(path)))


def _tensors(obj: Mapping) -> dict[str, torch.Tensor]:
    return {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}


def extract_state_dict(obj: object, source: str) -> dict[str, torch.Tensor]:
    """The name -> tensor entries of ``obj``, unwrapped from ``state_dict``/``model``/``model_state_dict``.

    Wrappers are followed up to ``MAX_NESTING`` levels and a wrapper that contains itself is
    refused; a ``module.`` prefix on every name is stripped.
    """
    seen: set[int] = set()
    for _ in range(MAX_NESTING + 1):
        if not isinstance(obj, Mapping):
            break
        if id(obj) in seen:
            raise InputError(f"{source}: the checkpoint refers to itself ({'/'.join(WRAPPER_KEYS)} nesting loops)")
        seen.add(id(obj))
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            state = _tensors(obj)
            if not state:
                break
            if all(k.startswith("module.") for k in state):
                state = {k[len("module."):]: v for k, v in state.items()}
            return state
        obj = inner
    else:
        raise InputError(f"{source}: state dict nested deeper than {MAX_NESTING} wrapper levels")
    raise InputError(f"{source}: no state dict found (expected a mapping of names to tensors, "
                     f"or one under {'/'.join(WRAPPER_KEYS)})")


def tensor_problem(value: torch.Tensor) -> str | None:
    """Why ``value`` cannot be read as real floating-point weights, or None if it can."""
    if value.device.type == "meta":
        return "a meta tensor (shape only, no data)"
    if value.layout != torch.strided:
        return f"a sparse tensor ({str(value.layout).replace('torch.', '')})"
    if value.is_complex():
        return f"complex-valued ({str(value.dtype).replace('torch.', '')})"
    if not value.is_floating_point():
        return f"of dtype {str(value.dtype).replace('torch.', '')}, not floating point"
    return None


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
        if expected[key].is_floating_point():
            problem = tensor_problem(value)
        else:  # integer buffers (num_batches_tracked)
            problem = None if (value.device.type != "meta" and value.layout == torch.strided and not value.is_complex()
                               and not value.is_floating_point() and value.dtype != torch.bool) \
                else tensor_problem(value) or f"of dtype {str(value.dtype).replace('torch.', '')}, not an integer"
        if problem:
            raise InputError(f"{source}: {key} is {problem}")
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
