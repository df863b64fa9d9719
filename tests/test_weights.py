"""Safe weight loading: layouts, mismatches, corrupt and code-carrying files, URL + SHA-256 cache."""
import builtins
import pickle
import urllib.error

import pytest
import torch

from luckbench.empirical import weights as W
from luckbench.empirical.architectures import build
from luckbench.errors import InputError


@pytest.fixture(scope="module")
def digits_state():
    torch.manual_seed(0)
    model = build("vgg_digits_bn")
    with torch.no_grad():
        for name, bn in model.named_modules():
            if isinstance(bn, torch.nn.BatchNorm2d):
                bn.bias.normal_()
    return {k: v.clone() for k, v in model.state_dict().items()}


def _save(obj, path):
    torch.save(obj, path)
    return path


def _same(model, state):
    loaded = model.state_dict()
    return set(loaded) == set(state) and all(torch.equal(loaded[k], state[k]) for k in state)


@pytest.mark.parametrize("wrap", [
    lambda sd: sd,
    lambda sd: {"state_dict": sd, "epoch": 7},
    lambda sd: {"model": sd, "optimizer": {"lr": 0.1}},
    lambda sd: {"model_state_dict": sd},
    lambda sd: {"checkpoint": 1, "state_dict": {"module." + k: v for k, v in sd.items()}},
], ids=["bare", "state_dict", "model", "model_state_dict", "dataparallel"])
def test_bare_and_wrapped_files_load(tmp_path, digits_state, wrap):
    path = _save(wrap(digits_state), tmp_path / "w.pt")
    model = W.load_model("vgg_digits_bn", W.read_state_dict(path), str(path))
    assert _same(model, digits_state)


def test_missing_num_batches_tracked_is_tolerated(digits_state):
    old_style = {k: v for k, v in digits_state.items() if not k.endswith("num_batches_tracked")}
    model = W.load_model("vgg_digits_bn", old_style)
    assert int(model.features[1].num_batches_tracked) == 0
    assert torch.equal(model.features[1].bias, digits_state["features.1.bias"])


def test_wrong_architecture_lists_missing_and_unexpected(digits_state):
    with pytest.raises(InputError) as exc:
        W.load_model("resnet18", digits_state, "w.pt")
    msg = str(exc.value)
    assert "\n" not in msg
    assert "missing (conv1.weight" in msg and "unexpected (features.0.weight" in msg


def test_mis_shaped_key_is_named(digits_state):
    bad = dict(digits_state, **{"classifier.0.weight": torch.zeros(7, 128)})
    with pytest.raises(InputError, match=r"1 mis-shaped \(classifier.0.weight \(7, 128\) vs \(10, 128\)\)"):
        W.load_model("vgg_digits_bn", bad)


def test_nan_weight_is_refused(digits_state):
    bad = dict(digits_state)
    bad["features.4.bias"] = bad["features.4.bias"].clone()
    bad["features.4.bias"][3] = float("nan")
    with pytest.raises(InputError, match="features.4.bias"):
        W.load_model("vgg_digits_bn", bad)


def test_truncated_empty_foreign_and_missing_files(tmp_path, digits_state):
    good = _save(digits_state, tmp_path / "good.pt").read_bytes()
    cases = {"trunc.pt": good[: len(good) // 2], "empty.pt": b"", "text.pt": b"hello world\n"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match="not a readable PyTorch weight file"):
            W.read_state_dict(tmp_path / name)
    _save({"epoch": 3, "note": "no tensors"}, tmp_path / "meta.pt")
    with pytest.raises(InputError, match="no state dict found"):
        W.read_state_dict(tmp_path / "meta.pt")
    with pytest.raises(InputError, match="not found"):
        W.read_state_dict(tmp_path / "absent.pt")


class _Payload:
    """Unpickling this calls open(marker, "w"): it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


def test_payload_is_live_under_plain_pickle(tmp_path):
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps({"w": _Payload(marker)}))["w"].close()
    assert marker.exists()  # so the refusal test below could fail


@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_code_carrying_file_is_refused_and_never_runs(tmp_path, writer):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    obj = {"features.1.bias": torch.zeros(3), "x": _Payload(marker)}
    if writer == "torch.save":
        torch.save(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj, protocol=2))
    with pytest.raises(InputError, match="refused: unpickling would run code"):
        W.read_state_dict(path)
    assert not marker.exists()


def test_sha256_checks(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # SHA-256("abc")
    assert W.verify_sha256(path, digest) == digest
    assert W.verify_sha256(path, digest[:8].upper()) == digest
    with pytest.raises(InputError, match="mismatch"):
        W.verify_sha256(path, "0" * 64)
    with pytest.raises(InputError, match="--sha256"):
        W.check_digest("xyz")


def test_fetch_url_caches_and_checks_digest(tmp_path, digits_state, monkeypatch):
    src = _save(digits_state, tmp_path / "src.pt")
    digest = W.file_sha256(src)
    cache = tmp_path / "hub"
    got = W.fetch_url(src.as_uri(), digest, cache_dir=cache)
    assert got == cache / "src.pt" and got.read_bytes() == src.read_bytes()

    def offline(*args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    assert W.fetch_url(src.as_uri(), digest, cache_dir=cache) == got  # served from the cache
    with pytest.raises(InputError, match="could not download"):
        W.fetch_url("https://example.invalid/other.pt", cache_dir=cache)
    with pytest.raises(InputError, match="does not match .* removed it"):  # a cached file that no longer matches
        W.fetch_url(src.as_uri(), "f" * 64, cache_dir=cache)
    assert not got.exists() and src.is_file()


def test_fetch_url_bad_download_never_enters_cache(tmp_path, digits_state):
    src = _save(digits_state, tmp_path / "src.pt")
    cache = tmp_path / "hub"
    with pytest.raises(InputError, match="invalid hash"):
        W.fetch_url(src.as_uri(), "0" * 64, cache_dir=cache)
    named = _save(digits_state, tmp_path / "net-deadbeef.pt")  # torch.hub-style name, wrong hash
    with pytest.raises(InputError, match="invalid hash"):
        W.fetch_url(named.as_uri(), cache_dir=cache)
    assert list(cache.iterdir()) == []
    with pytest.raises(InputError, match="--url"):
        W.fetch_url("ftp://host/x.pt", cache_dir=cache)
