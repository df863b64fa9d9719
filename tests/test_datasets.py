"""GAUS stream and sets, the safe CIFAR-10 reader, the shipped digits."""
import pickle

import numpy as np
import pytest
import torch

from luckbench.datasets import cifar10, digits, gaus
from luckbench.errors import InputError


# --------------------------------------------------------------------------- GAUS


def test_stream_is_seeded_and_fresh_per_epoch():
    kw = dict(batch_size=16, steps=300, seed=3)
    a = torch.cat(list(gaus.gaus_batches((5,), epoch=1, **kw)))
    b = torch.cat(list(gaus.gaus_batches((5,), epoch=1, **kw)))
    c = torch.cat(list(gaus.gaus_batches((5,), epoch=2, **kw)))
    d = torch.cat(list(gaus.gaus_batches((5,), epoch=1, batch_size=16, steps=300, seed=4)))
    assert a.shape == (300 * 16, 5)
    assert torch.equal(a, b)
    assert not torch.equal(a, c) and not torch.equal(a, d)


def test_stream_chunks_and_batches_agree():
    kw = dict(batch_size=8, steps=gaus.CHUNK_STEPS + 7, seed=0, epoch=5)
    chunks = list(gaus.gaus_chunks((3,), **kw))
    batches = list(gaus.gaus_batches((3,), **kw))
    assert [c.shape[0] for c in chunks] == [gaus.CHUNK_STEPS * 8, 7 * 8]
    assert len(batches) == kw["steps"] and all(b.shape == (8, 3) for b in batches)
    assert torch.equal(torch.cat(chunks), torch.cat(batches))


def test_gaus_moments_match_std_10():
    x = gaus.gaus_set(20000, (10,), seed=1).double()
    n = x.numel()
    z_mean = x.mean() / (10.0 / np.sqrt(n))
    var = x.var()
    z_var = (var - 100.0) / (100.0 * np.sqrt(2.0 / (n - 1)))
    assert abs(float(z_mean)) < 4.5 and abs(float(z_var)) < 4.5


def test_sets_depend_on_stream_and_seed_only():
    a = gaus.gaus_set(50, (1, 4, 4), seed=2)
    assert a.shape == (50, 1, 4, 4)
    assert torch.equal(a, gaus.gaus_set(50, (1, 4, 4), seed=2))
    assert not torch.equal(a, gaus.gaus_set(50, (1, 4, 4), seed=2, stream=gaus.STREAM_VALID))


def test_finite_chunks_visit_every_sample_once_per_pass():
    data = torch.arange(10.0).unsqueeze(1)
    seen = torch.cat(list(gaus.finite_chunks(data, batch_size=4, steps=5, seed=0, epoch=1))).squeeze(1)
    assert seen.shape == (20,)
    assert sorted(seen[:10].tolist()) == list(range(10))
    again = torch.cat(list(gaus.finite_chunks(data, batch_size=4, steps=5, seed=0, epoch=1))).squeeze(1)
    assert torch.equal(seen, again)


# --------------------------------------------------------------------------- CIFAR-10


def _write_batches(folder, n=6, protocol=2):
    rng = np.random.default_rng(0)
    folder.mkdir(exist_ok=True)
    written = {}
    for name in (*cifar10.TRAIN_FILES, *cifar10.TEST_FILES):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        batch = {b"batch_label": b"fake", b"labels": labels, b"data": data,
                 b"filenames": [b"img%d.png" % i for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
        written[name] = (data, labels)
    return written


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_reader_reads_plain_batches(tmp_path, protocol):
    written = _write_batches(tmp_path / "c", protocol=protocol)
    x, y = cifar10.load_cifar10(tmp_path / "c", "train", normalize=False)
    assert x.shape == (30, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    first = written["data_batch_1"][0][0]
    assert np.allclose(x[0, 0].numpy().ravel() * 255.0, first[:1024])  # channel 0 = the first 1024 values
    assert np.allclose(x[0, 2].numpy().ravel() * 255.0, first[2048:])
    assert y[:6].tolist() == written["data_batch_1"][1]
    xt, yt = cifar10.load_cifar10(tmp_path / "c", "test")
    expected = (written["test_batch"][0][0, :1024] / 255.0 - cifar10.MEAN[0]) / cifar10.STD[0]
    assert np.allclose(xt[0, 0].numpy().ravel(), expected, atol=1e-5)
    assert yt.tolist() == written["test_batch"][1]


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_cifar_reader_refuses_pickles_that_carry_code(tmp_path):
    folder = tmp_path / "c"
    _write_batches(folder)
    marker = tmp_path / "pwned"
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": _Evil(marker), b"labels": []}, protocol=2))
    with pytest.raises(InputError, match="test_batch.*(refusing|not a plain)"):
        cifar10.load_cifar10(folder, "test")
    assert not marker.exists()
    # the same bytes really would run code under plain pickle: the test is not vacuous
    pickle.loads((folder / "test_batch").read_bytes())
    assert marker.exists()


def test_cifar_reader_refuses_other_globals(tmp_path):
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"f": print}, protocol=2))
    with pytest.raises(InputError, match=r"refusing to load global .*print"):
        cifar10.read_batch(path)


def test_cifar_reader_errors_name_the_folder_or_file(tmp_path):
    with pytest.raises(InputError, match="not found.*nowhere"):
        cifar10.load_cifar10(tmp_path / "nowhere")
    folder = tmp_path / "c"
    _write_batches(folder)
    (folder / "data_batch_3").unlink()
    with pytest.raises(InputError, match="lacks data_batch_3"):
        cifar10.load_cifar10(folder)
    (folder / "test_batch").write_bytes(b"\x80\x02}q\x00(U")  # truncated pickle
    with pytest.raises(InputError, match="test_batch.*(corrupt|truncated)"):
        cifar10.load_cifar10(folder, "test")
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(InputError, match="test_batch.*3072"):
        cifar10.load_cifar10(folder, "test")
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}))
    with pytest.raises(InputError, match="0..9"):
        cifar10.load_cifar10(folder, "test")


# --------------------------------------------------------------------------- digits


@pytest.mark.parametrize("size", [8, 16, 32])
def test_digits_shapes_split_and_standardisation(size):
    xtr, ytr = digits.load_digits("train", size=size, seed=1)
    xte, yte = digits.load_digits("test", size=size, seed=1)
    assert xtr.shape[1:] == (1, size, size) and xtr.dtype == torch.float32 and ytr.dtype == torch.int64
    assert xtr.shape[0] + xte.shape[0] == 1797 and xte.shape[0] == round(1797 * 0.25)
    assert abs(float(xtr.mean())) < 1e-5 and abs(float(xtr.std()) - 1.0) < 1e-5
    assert set(ytr.tolist()) == set(range(10))


def test_digits_split_is_a_seeded_partition_of_the_raw_images():
    from sklearn.datasets import load_digits as sk

    raw = torch.from_numpy(sk().images.astype(np.float32)).unsqueeze(1)
    train_idx, test_idx = digits._split_indices(1797, 0, 0.25)
    assert sorted([*train_idx.tolist(), *test_idx.tolist()]) == list(range(1797))
    train_raw = raw[torch.from_numpy(train_idx)]
    mean, std = train_raw.mean(), train_raw.std()
    xtr, ytr = digits.load_digits("train", seed=0)
    xte, yte = digits.load_digits("test", seed=0)
    assert torch.allclose(xtr, (train_raw - mean) / std)
    assert torch.allclose(xte, (raw[torch.from_numpy(test_idx)] - mean) / std)
    assert ytr.tolist() == sk().target[train_idx].tolist() and yte.tolist() == sk().target[test_idx].tolist()
    assert not torch.equal(xtr, digits.load_digits("train", seed=1)[0])


def test_digits_bad_arguments():
    with pytest.raises(InputError, match="size"):
        digits.load_digits(size=12)
    with pytest.raises(InputError, match="split"):
        digits.load_digits("valid")
