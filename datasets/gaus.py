"""GAUS: the paper's synthetic inputs x ~ N(0, std^2 I) with std = 10 (Sec. 4.2).

Two forms, both a pure function of an integer seed:

* :func:`gaus_batches` - the *infinite* stream. Each epoch draws fresh samples on the training
  device in chunks of ``CHUNK_STEPS`` mini-batches (one ``torch.randn`` per chunk, never the whole
  epoch), from a generator seeded by ``derive_seed(seed, STREAM_TRAIN, epoch)``. Because every epoch
  has its own seed, epoch ``e`` can be regenerated without replaying epochs ``0..e-1`` (this is
  what makes resumed runs bit-identical to uninterrupted ones).
* :func:`gaus_set` - a *finite* pre-drawn set of ``n`` samples (the released code's fixed
  100,000-sample training set, the ``--finite N`` ablation of Fig. 9(b), the validation set).
  :func:`finite_chunks` walks such a set in seeded random order, one fresh permutation per pass.

``shape`` is the shape of one sample: ``(20,)`` for the FC presets, ``(1, 16, 16)`` for the CNN.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

DEFAULT_STD = 10.0
CHUNK_STEPS = 256  # mini-batches drawn per torch.randn call in the stream

# stream identifiers for derive_seed: one independent random stream per purpose
STREAM_TRAIN = 1
STREAM_VALID = 2
STREAM_TEACHER = 3
STREAM_STUDENT = 4
STREAM_FINITE = 5
STREAM_ORDER = 6


def derive_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed for the sub-stream ``keys`` of run seed ``seed`` (numpy SeedSequence)."""
    state = np.random.SeedSequence([int(seed), *(int(k) for k in keys)]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator on ``device`` seeded with ``seed``."""
    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(int(seed))
    return gen


def gaus_set(n: int, shape: tuple[int, ...], *, seed: int, std: float = DEFAULT_STD,
             device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
             stream: int = STREAM_FINITE) -> torch.Tensor:
    """A pre-drawn set of ``n`` samples x ~ N(0, std^2 I), shape ``(n, *shape)``."""
    gen = make_generator(derive_seed(seed, stream), device)
    x = torch.randn((int(n), *shape), generator=gen, device=device, dtype=dtype)
    return x.mul_(std)


def gaus_chunks(shape: tuple[int, ...], *, batch_size: int, steps: int, seed: int, epoch: int,
                std: float = DEFAULT_STD, device: torch.device | str = "cpu",
                dtype: torch.dtype = torch.float32) -> Iterator[torch.Tensor]:
    """The infinite stream for ``epoch``: ``steps * batch_size`` fresh samples, yielded as
    tensors of up to ``CHUNK_STEPS * batch_size`` samples each (one ``torch.randn`` per chunk,
    drawn on ``device``). The chunk size is part of the stream's definition."""
    gen = make_generator(derive_seed(seed, STREAM_TRAIN, epoch), device)
    done = 0
    while done < steps:
        k = min(CHUNK_STEPS, steps - done)
        yield torch.randn((k * batch_size, *shape), generator=gen, device=device, dtype=dtype).mul_(std)
        done += k


def gaus_batches(shape: tuple[int, ...], *, batch_size: int, steps: int, **kwargs) -> Iterator[torch.Tensor]:
    """:func:`gaus_chunks` split into ``steps`` mini-batches ``(batch_size, *shape)``."""
    for chunk in gaus_chunks(shape, batch_size=batch_size, steps=steps, **kwargs):
        yield from chunk.split(batch_size)


def finite_chunks(data: torch.Tensor, *, batch_size: int, steps: int, seed: int, epoch: int,
                  stream: int = STREAM_ORDER) -> Iterator[torch.Tensor]:
    """``steps * batch_size`` samples of a finite set in the order of fresh seeded permutations,
    yielded in chunks of up to ``CHUNK_STEPS`` mini-batches.

    The order of epoch ``e`` depends only on ``(seed, stream, e)``; consecutive permutations are
    chained so no sample repeats before every sample was seen once (within the epoch).
    """
    n = data.shape[0]
    gen = make_generator(derive_seed(seed, stream, epoch), "cpu")
    need = steps * batch_size
    order = torch.cat([torch.randperm(n, generator=gen) for _ in range(-(-need // n))])[:need]
    for idx in order.to(data.device).split(CHUNK_STEPS * batch_size):
        yield data.index_select(0, idx)
