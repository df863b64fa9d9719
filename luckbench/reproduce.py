"""The paper's experiments as sweep specs (``experiments/*.toml``), listed with a CPU-time estimate
and run through the sweep machinery (``luckbench reproduce``).

Where the specs live: ``experiments/`` at the repository root, found relative to this package's
source (``<repo>/luckbench/reproduce.py`` -> ``<repo>/experiments``). That one rule covers an editable
install and a fresh clone (``PYTHONPATH=.``), keeps the specs where users read and edit them (next
to README.md, not inside a package), and needs no package-data machinery; a non-editable install
that has no source tree passes ``--experiments DIR``.

A spec is an ordinary ``luckbench sweep`` file plus an ``[about]`` table: ``title``, ``source`` (the
paper's section/figure), ``ledger`` (the ledger row ids the experiment decides) and ``device``
(``cpu`` or ``gpu``).

The CPU-time estimate is a cost model, not a measurement of the experiment: per run, the number of
SGD steps (or simulated seed-iterations) times a per-unit cost taken from a few measured runs
(constants below, with where they come from). It is meant to tell minutes from days.
"""
from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

from luckbench import sweep
from luckbench.errors import InputError

SPEC_DIR = Path(__file__).resolve().parents[1] / "experiments"

# --- cost model (seconds) ---------------------------------------------------------------------
# FC training step: a paper-fc epoch (1,563 steps at batch 64, student 2.5 M parameters, metrics
# included) took 21.5-22.8 s on a quiet 2-core machine (issue 13, item 6): ~5.6e-9 s per parameter
# and step, plus a per-step floor for small students (Python and kernel-launch overhead).
FC_SECONDS_PER_PARAM_STEP = 5.6e-9
STEP_FLOOR_SECONDS = 3e-4
# Conv steps from their FLOPs at the FC step's throughput: 6 x 2.5 M parameters x 64 samples per
# 14 ms, about 69 GFLOP/s on 2 cores.
CPU_FLOPS = 69e9
# Seed-batched Thm 5 mini-batch step, per seed and iteration a + b n^2: fitted to the full protocol42
# grid in float64 on a quiet 2-core machine (2026-12-01: 1,704 CPU s in all; cells of n = 40 / 100 /
# 200 took about 54 / 112 / 265 s).
SIM_STEP_A, SIM_STEP_B = 7e-5, 9e-9
# --dtype float32 against float64: CPU seconds of the full protocol42 grid on 2 cores, 1,136 s vs 1,704 s
SIM_FLOAT32_FACTOR = 0.67
OTHER_RUN_SECONDS = 2.0  # any other command: a nominal per-run cost (the Thm 4 sims take ~1-2 s)
START_SECONDS = 3.0  # Python + torch start-up of each run's subprocess


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One spec of ``experiments/``: its name (file stem), the sweep spec and its ``[about]`` table."""

    name: str
    path: Path
    spec: sweep.SweepSpec
    title: str
    source: str
    ledger: tuple[str, ...]
    device: str


def spec_dir(experiments: str | Path | None = None) -> Path:
    """The folder of specs: ``experiments`` if given, else the repository's ``experiments/``."""
    folder = Path(experiments) if experiments is not None else SPEC_DIR
    if not folder.is_dir():
        raise InputError(f"--experiments: no spec folder {folder} (give --experiments DIR outside a source tree)")
    return folder


def load(path: Path) -> Experiment:
    """Parse one spec (InputError naming the file on any problem)."""
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML ({str(exc).splitlines()[0]})") from None
    about = raw.get("about", {})
    if not isinstance(about, dict):
        raise InputError(f"{path}: [about] must be a table")
    ledger = about.get("ledger", [])
    if not isinstance(ledger, list) or not all(isinstance(x, str) for x in ledger):
        raise InputError(f"{path}: about.ledger must be a list of row ids")
    device = about.get("device", "cpu")
    if device not in ("cpu", "gpu"):
        raise InputError(f"{path}: about.device must be cpu or gpu, got {device!r}")
    return Experiment(path.stem, path, sweep.spec_from_dict(raw, where=str(path)), str(about.get("title", path.stem)),
                      str(about.get("source", "")), tuple(ledger), device)


def experiments(folder: str | Path | None = None) -> dict[str, Experiment]:
    """Every spec of the folder, by name, sorted."""
    return {p.stem: load(p) for p in sorted(spec_dir(folder).glob("*.toml"))}


def experiment(name: str, folder: str | Path | None = None) -> Experiment:
    """The named experiment; an unknown name is an InputError listing the known ones."""
    known = experiments(folder)
    if name not in known:
        raise InputError(f"unknown experiment {name!r} (known: {', '.join(known) or 'none'})")
    return known[name]


# --- estimate -----------------------------------------------------------------------------------
def _train_config(params: dict):
    from luckbench.empirical.presets import TrainConfig, preset

    base = preset(str(params.get("preset", "smoke"))) if "preset" in params else TrainConfig()
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    override = {}
    for key, value in params.items():
        field = key.replace("-", "_")
        if field in names and field != "teacher":
            override[field] = value
    return dataclasses.replace(base, **override)


def _conv_flops_per_sample(cfg) -> float:
    """Forward FLOPs of the student conv stack: 3x3 convolutions without padding, then the linear head."""
    side, cin, flops = cfg.image_size, cfg.student[0], 0.0
    for cout in cfg.student[1:-1]:
        side -= 2
        flops += 2.0 * side * side * cin * cout * 9
        cin = cout
    return flops + 2.0 * side * side * cin * cfg.student[-1]


def _train_seconds(params: dict) -> float:
    cfg = _train_config(params)
    widths = cfg.student
    steps = cfg.epochs * (cfg.steps_per_epoch or max(1, cfg.finite // cfg.batch_size))
    if cfg.kind == "conv":
        step = 3.0 * _conv_flops_per_sample(cfg) * cfg.batch_size / CPU_FLOPS
    else:
        n_params = sum((a + 1) * b for a, b in zip(widths, widths[1:]))
        step = FC_SECONDS_PER_PARAM_STEP * n_params * cfg.batch_size / 64
    return steps * (STEP_FLOOR_SECONDS + step)


def _protocol_seconds(params: dict) -> float:
    from luckbench.sim.protocol import ProtocolConfig

    defaults = ProtocolConfig()
    multis = params.get("node-multis", defaults.node_multis)
    multis = multis if isinstance(multis, (list, tuple)) else [multis]
    seeds = int(params.get("seeds", defaults.seeds))
    iters = int(params.get("iters", defaults.iters))
    pairs = len(params.get("alpha-ws", defaults.alpha_ws))
    m = defaults.teacher[1]
    factor = SIM_FLOAT32_FACTOR if params.get("dtype", defaults.dtype) == "float32" else 1.0
    return factor * sum(pairs * seeds * iters * (SIM_STEP_A + SIM_STEP_B * (int(k) * m) ** 2) for k in multis)


def run_seconds(command: str, params: dict) -> float:
    """Estimated CPU seconds of one run (one core), start-up included."""
    if command == "train":
        return START_SECONDS + _train_seconds(params)
    if command == "sim protocol42":
        return START_SECONDS + _protocol_seconds(params)
    return START_SECONDS + OTHER_RUN_SECONDS


def estimate_seconds(exp: Experiment) -> float:
    """Estimated CPU seconds of the whole experiment on one core (the cost model above)."""
    runs = sweep.plan(exp.spec, "/nonexistent")
    return sum(run_seconds(exp.spec.command, {**exp.spec.fixed, **r.params}) for r in runs)


def describe(seconds: float) -> str:
    """Seconds as the largest sensible unit: '42 s', '12 min', '3.4 h', '5.1 days'."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# --- run ----------------------------------------------------------------------------------------
def result_paths(exp: Experiment, out_dir: str | Path) -> list[Path]:
    """The finished results of this experiment's runs in ``out_dir``."""
    return [Path(r.result) for r in sweep.plan(exp.spec, out_dir) if Path(r.result).is_file()]


def decided_rows(report_dir: Path, ids: tuple[str, ...]) -> list[dict]:
    """The rows of ``report_dir/ledger.json`` with the experiment's ids (all rows if it names none)."""
    path = report_dir / "ledger.json"
    if not path.is_file():
        return []
    rows = json.loads(path.read_text())
    return [r for r in rows if not ids or r.get("id") in ids]
