"""The shared bad-input mechanisms: typed config fields, the resource guard, and --overwrite."""
from __future__ import annotations

import argparse
import dataclasses
import os
import resource
from typing import Annotated, Literal

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

from luckbench import config, estimates, resources, store
from luckbench.config import Range, Seed
from luckbench.errors import InputError
from luckbench.sim import overparam, protocol, thm4, thm5


@dataclasses.dataclass(frozen=True)
class _Cfg:
    seed: Seed = 0
    count: config.PositiveInt = 3
    angle: Annotated[float, Range(gt=0, lt=180, unit="degrees")] = 30.0
    mode: Literal["a", "b"] = "a"
    widths: tuple[config.PositiveInt, ...] = (2, 3)
    scale: float | None = None

    def __post_init__(self):
        config.validate_fields(self)


def _parser():
    p = argparse.ArgumentParser(exit_on_error=False)  # errors raise ArgumentError instead of exiting
    config.add_dataclass_arguments(p, _Cfg)
    return p


def _parse_error(argv) -> str:
    with pytest.raises(argparse.ArgumentError) as exc:
        _parser().parse_args(argv)
    return str(exc.value)


@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_seed_flag_accepts_exactly_0_to_2_63(seed):
    if 0 <= seed < 2**63:
        assert config.from_args(_Cfg, _parser().parse_args(["--seed", str(seed)])).seed == seed
        assert _Cfg(seed=seed).seed == seed
    else:
        assert "--seed" in _parse_error(["--seed", str(seed)])
        with pytest.raises(InputError, match="--seed"):  # the Python API applies the same rule
            _Cfg(seed=seed)


@pytest.mark.parametrize("argv, words", [
    (["--count", "0"], "must be >= 1, got 0"),
    (["--count", "1.5"], "expected an integer"),
    (["--angle", "nan"], "must be finite"),
    (["--angle", "200"], "must be < 180 degrees, got 200 degrees"),
    (["--mode", "c"], "expected one of a, b"),
    (["--widths", "2,0"], "must be >= 1"),
    (["--scale", "inf"], "must be finite"),
])
def test_flags_are_checked_while_parsing(argv, words):
    message = _parse_error(argv)
    assert words in message and argv[0] in message


def test_literal_types_become_argparse_choices():
    choices = {a.dest: a.choices for a in _parser()._actions}
    assert choices["mode"] == ("a", "b") and choices["count"] is None


def test_threads_bounded_by_the_cpus_this_process_may_use():
    rule = config.field_rule(config.Threads)
    assert config.value_problem(config.cpu_count(), rule) is None
    assert "<=" in config.value_problem(config.cpu_count() + 1, rule)
    assert config.value_problem(-1, rule)


def test_guard_names_the_largest_contributor_and_both_numbers():
    lim = resources.Limits(memory=1e9, work=1e12, memory_source="test", work_source="test")
    resources.guard([resources.Need("--a", bytes=4e8), resources.Need("--b", bytes=5e8)], lim)  # 0.9 GB fits
    with pytest.raises(InputError) as exc:
        resources.guard([resources.Need("--a", bytes=4e8), resources.Need("--b", bytes=7e8)], lim)
    assert str(exc.value) == "--b: needs about 1.1 GB of memory, above the limit of 1 GB (test)"
    with pytest.raises(InputError, match="^--w: needs about 2e\\+03 GFLOP of work"):
        resources.guard([resources.Need("--w", flops=2e12), resources.Need("--v", flops=1)], lim)
    with pytest.raises(InputError, match="--huge"):  # Python ints beyond the float range still compare
        resources.guard([resources.Need("--huge", bytes=10**400)], lim)


def test_max_memory_flag_moves_the_limit():
    args = argparse.Namespace(max_memory=2.5, max_work=None)
    lim = resources.limits(args)
    assert lim.memory == 2.5e9 and lim.memory_source == "--max-memory"
    assert lim.work == resources.DEFAULT_MAX_WORK


def test_available_memory_respects_the_address_space_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    size = resources.proc_bytes("/proc/self/status", "VmSize")
    cap = size + 2**30
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    try:
        assert resources.available_memory() <= 2**30 + 2**20
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.mark.parametrize("needs, work", [
    (estimates.thm4_needs(thm4.Thm4Config()), resources.DEFAULT_MAX_WORK),
    (estimates.thm5_needs(thm5.Thm5Config(), 2), resources.DEFAULT_MAX_WORK),
    (estimates.overparam_needs(overparam.OverparamConfig(), 2), resources.DEFAULT_MAX_WORK),
    (estimates.protocol_needs(protocol.ProtocolConfig(), 2), resources.DEFAULT_MAX_WORK),
    (estimates.check_needs((20, 10, 15, 4), (20, 20, 30, 4)), estimates.CHECK_MAX_WORK),
], ids=["thm4", "thm5", "overparam", "protocol42", "check"])
def test_default_sizes_pass_a_modest_machine(needs, work):
    """The defaults (and so the README's and the demo's sizes, which are smaller) are never refused on
    a 4 GB budget with the default work limits."""
    resources.guard(needs, resources.limits(max_memory_gb=4.0, default_work=work))


@given(st.integers(1, 10**6), st.integers(1, 10**6))
def test_thm4_estimate_grows_with_the_number_of_teachers(small, extra):
    def total(m):
        needs = estimates.thm4_needs(thm4.Thm4Config(teachers=m))
        return sum(n.bytes for n in needs), sum(n.flops for n in needs)

    a, b = total(small), total(small + extra)
    assert b[0] > a[0] and b[1] > a[1]


def _result(path, **kw):
    return store.write_dataset(xr.Dataset({"y": ("t", np.arange(3.0))}), path, config={}, seed=0, **kw)


def test_existing_result_is_replaced_only_with_overwrite(tmp_path):
    path = _result(tmp_path / "r.nc")
    before = path.read_bytes()
    with pytest.raises(InputError) as exc:
        _result(path)
    assert str(exc.value) == f"{path} exists; pass --overwrite to replace it"
    assert path.read_bytes() == before
    _result(path, overwrite=True)
    assert store.is_luckbench_result(path)


@pytest.mark.parametrize("content", [b"my notes\n", b"", b"\x89HDF\r\n\x1a\n" + b"\0" * 64])
def test_foreign_file_is_never_replaced(tmp_path, content):
    path = tmp_path / "r.nc"
    path.write_bytes(content)
    with pytest.raises(InputError, match="not a luckbench result"):
        _result(path, overwrite=True)
    assert path.read_bytes() == content


def test_output_names_refused_before_any_work(tmp_path):
    with pytest.raises(InputError, match="--out: need a file name"):
        store.prepare_output("")
    with pytest.raises(InputError, match="too long"):
        store.prepare_output(tmp_path / ("x" * 250 + ".nc"))
    store.prepare_output(tmp_path / ("x" * (255 - store.TEMP_SUFFIX_LEN - 3) + ".nc"))  # the longest that fits
    with pytest.raises(InputError, match="folder"):
        store.prepare_output(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        store.prepare_output(tmp_path / "file" / "r.nc")
    result = _result(tmp_path / "in.nc")
    with pytest.raises(InputError, match="input of this run"):
        store.prepare_output(result, overwrite=True, inputs=(str(result),))


def test_huge_declared_result_is_refused_before_loading(tmp_path):
    import netCDF4

    path = tmp_path / "huge.nc"
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("x", 10**12)
        nc.createVariable("v", "f8", ("x",))
        nc.setncatts({a: "0" for a in store.REQUIRED_ATTRS})
    assert os.path.getsize(path) < 100_000
    with pytest.raises(InputError, match="declares 8 TB of data"):
        store.read_dataset(path)


def test_text_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "index.md"
    store.write_text(path, "old")

    def boom(self, *a, **k):
        raise OSError("disk full")

    from pathlib import Path

    monkeypatch.setattr(Path, "write_text", boom)
    with pytest.raises(OSError):
        store.write_text(path, "new")
    monkeypatch.undo()
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["index.md"]
