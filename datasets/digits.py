"""Real image data with no download: scikit-learn's bundled UCI handwritten digits.

``sklearn.datasets.load_digits`` ships 1,797 grey 8 x 8 images of the digits 0-9 (pixel values
0..16) inside the scikit-learn wheel. :func:`load_digits` splits them with a seeded permutation,
optionally resizes to 16 x 16 or 32 x 32 (bilinear), and standardises with the *training*
split's mean and standard deviation (one scalar each), so train and test share one transform.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from luckbench.errors import InputError

SIZES = (8, 16, 32)


def _split_indices(n: int, seed: int, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return perm[n_test:], perm[:n_test]


def load_digits(split: str = "train", size: int = 8, seed: int = 0, test_fraction: float = 0.25
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Digits ``split`` ("train" | "test") as ``x`` float32 (N, 1, size, size), ``y`` int64 (N,).

    The split is a seeded random permutation (``test_fraction`` of the 1,797 images go to test);
    ``x`` is standardised with the train split's scalar mean and std after resizing.
    """
    if split not in ("train", "test"):
        raise InputError(f"digits split must be 'train' or 'test', got {split!r}")
    if size not in SIZES:
        raise InputError(f"digits size must be one of {SIZES}, got {size!r}")
    if not 0.0 < test_fraction < 1.0:
        raise InputError(f"digits test_fraction must be in (0, 1), got {test_fraction!r}")
    from sklearn.datasets import load_digits as _sk_load

    bunch = _sk_load()
    images = torch.from_numpy(bunch.images.astype(np.float32)).unsqueeze(1)  # (N, 1, 8, 8)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    train_idx, test_idx = _split_indices(images.shape[0], seed, test_fraction)
    train = images[torch.from_numpy(train_idx)]
    mean, std = train.mean(), train.std()
    idx = torch.from_numpy(train_idx if split == "train" else test_idx)
    x = (images[idx] - mean) / std
    return x.contiguous(), labels[idx]
