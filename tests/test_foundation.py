"""The import root, the CLI shell, atomic storage and dataclass flags."""
import argparse
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

import luckbench
from luckbench import cli, config, store
from luckbench.errors import InputError
from luckbench.theory import Verdict


def test_layers_import_under_one_root():
    import luckbench.datasets
    import luckbench.empirical
    import luckbench.reports
    import luckbench.sim
    import luckbench.theory

    for mod in (luckbench.theory, luckbench.sim, luckbench.empirical, luckbench.datasets, luckbench.reports):
        assert mod.__name__.startswith("luckbench.")


def test_theory_imports_no_higher_layer():
    code = ("import sys, luckbench.theory, pkgutil, importlib\n"
            "for m in pkgutil.iter_modules(luckbench.theory.__path__): importlib.import_module('luckbench.theory.' + m.name)\n"
            "bad = [m for m in sys.modules if m.split('.')[:2] in (['luckbench','sim'], ['luckbench','empirical'], ['luckbench','reports'])]\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_cli_help_and_version(capsys):
    assert cli.main(["--version"]) == 0
    assert luckbench.__version__ in capsys.readouterr().out
    assert cli.main([]) == 0
    assert "usage" in capsys.readouterr().out.lower()


HELP_COMMANDS = ["check", "sim thm4", "sim thm5", "sim overparam", "sim protocol42", "train", "audit bn",
                 "audit train-digits", "report", "sweep", "demo", "beyond lottery", "beyond hessian",
                 "beyond prune", "reproduce"]


def test_every_subcommand_has_a_help_page():
    """--help of every (sub)command prints and exits 0 (argparse %-formats each help text)."""
    assert {c.split()[0] for c in HELP_COMMANDS} == set(cli.COMMANDS)
    for command in HELP_COMMANDS:
        out = subprocess.run([sys.executable, "-m", "luckbench.cli", *command.split(), "--help"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and "usage:" in out.stdout, (command, out.stderr[-300:])


def test_cli_unknown_command_is_one_line_exit_2():
    proc = subprocess.run([sys.executable, "-m", "luckbench.cli", "frobnicate"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "frobnicate" in proc.stderr


def _small_ds():
    return xr.Dataset({"x": ("time", np.arange(5.0))}, coords={"time": np.arange(5)})


def test_write_is_atomic_and_carries_provenance(tmp_path):
    out = tmp_path / "sub" / "r.nc"
    store.write_dataset(_small_ds(), out, config={"a": 1, "flag": True}, seed=3, command="luckbench x")
    ds = store.read_dataset(out)
    for attr in store.REQUIRED_ATTRS:
        assert attr in ds.attrs
    assert store.stored_config(ds) == {"a": 1, "flag": True}
    assert int(ds.attrs["seed"]) == 3
    assert list(tmp_path.joinpath("sub").iterdir()) == [out]
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's owner-only 0600


def test_failed_write_keeps_the_old_result(tmp_path, monkeypatch):
    out = tmp_path / "r.nc"
    store.write_dataset(_small_ds(), out, config={}, seed=0)
    before = out.read_bytes()

    def boom(self, *a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(RuntimeError):
        store.write_dataset(_small_ds() * 2, out, config={}, seed=0, overwrite=True)
    assert out.read_bytes() == before
    assert list(tmp_path.iterdir()) == [out]


@pytest.mark.parametrize("content", [b"", b"not a netcdf file at all", b"\x89HDF\r\n\x1a\n" + b"\0" * 64])
def test_corrupt_result_is_named(tmp_path, content):
    bad = tmp_path / "bad.nc"
    bad.write_bytes(content)
    with pytest.raises(InputError, match="bad.nc"):
        store.read_dataset(bad)


def test_foreign_netcdf_is_named(tmp_path):
    path = tmp_path / "foreign.nc"
    _small_ds().to_netcdf(path)
    with pytest.raises(InputError, match="not a luckbench result"):
        store.read_dataset(path)


@dataclasses.dataclass(frozen=True)
class _Cfg:
    epochs: int = 3
    lr: float = 0.1
    bn: str = dataclasses.field(default="none", metadata={"choices": ("none", "before", "after")})
    bias: bool = True
    widths: tuple[int, ...] = (2, 3)


def test_dataclass_flags_round_trip():
    parser = argparse.ArgumentParser()
    config.add_dataclass_arguments(parser, _Cfg)
    args = parser.parse_args(["--epochs", "7", "--no-bias", "--widths", "4,5,6", "--bn", "after"])
    cfg = config.from_args(_Cfg, args)
    assert cfg == _Cfg(epochs=7, lr=0.1, bn="after", bias=False, widths=(4, 5, 6))
    assert config.config_hash(cfg) == config.config_hash(_Cfg(7, 0.1, "after", False, (4, 5, 6)))
    assert config.config_hash(cfg) != config.config_hash(_Cfg())


def test_dataclass_flag_help_shows_each_default_once():
    @dataclasses.dataclass(frozen=True)
    class Cfg:
        dim: int | None = dataclasses.field(default=None, metadata={"help": "input size (default max(10, m))"})
        widths: tuple[int, ...] = (2, 3)

    parser = argparse.ArgumentParser()
    config.add_dataclass_arguments(parser, Cfg)
    helps = {a.dest: a.help for a in parser._actions}
    assert helps["dim"] == "input size (default max(10, m))"
    assert helps["widths"] == "(default: 2,3)"


@pytest.mark.parametrize("text", ["", "20", "20,x", "20,0,4", "20,-3,4"])
def test_parse_widths_rejects_bad_input(text):
    with pytest.raises(InputError, match="teacher"):
        config.parse_widths(text, "teacher")


def test_verdict_to_dict_is_json_safe():
    v = Verdict("lemma4", "C0 exists", "bound", None, value=np.float64(np.inf), bound=np.float32(2.0),
                details={"k": np.int64(3), "arr": np.array([1.0, np.nan])})
    d = json.loads(json.dumps(v.to_dict()))
    assert d["holds"] is None and d["value"] == "inf" and d["bound"] == 2.0
    assert d["details"] == {"k": 3, "arr": [1.0, "nan"]}
