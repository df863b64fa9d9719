"""The v4 Sec. 4.2 experiment ("Numerical Experiments of Thm. 5"), reconstructed in docs/math.md sec 4.

Teacher 10-20-30 (code scheme: entries {+-0.5, +-0.25, 0}, bias -0.1 in both layers, columns
normalised), students with node_multi * 20 hidden nodes, u-set initialised with (alpha_W, alpha_V),
the authors' matrix version (mini-batch 64, lr 0.05, mode ``code``), 20,000 iterations with a
snapshot every 100, 32 seeds; the seeds of one (node_multi, pair) cell are integrated as one batched
state (``luckbench.sim.batched``) and the cells are independent tasks for the local cores. Per
snapshot the row norms ||v_j|| (bias row excluded) are reduced over seeds.

Stored (result_kind ``thm5_protocol``; dims ``node_multi``, ``pair`` (coords ``alpha_w(pair)``,
``alpha_v(pair)``), ``time`` (coord ``iteration(time)``; time = lr * iteration), ``node`` (padded
to the widest student with NaN), ``seed`` only in the per-seed summaries):

* ``v_row_norm_mean/std(node_multi, pair, time, node)`` - mean and std (ddof 0) over seeds of ||v_j||;
* ``vu_norm(node_multi, pair, seed, time)`` / ``vr_norm(...)`` - per seed, the mean of ||v_j|| over
  the u-set / r-set;
* ``row_norm_gap(node_multi, pair, time)`` - seed mean of vu_norm - vr_norm (the u/r separation);
* ``is_u(node)`` and ``n_students(node_multi)``.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from luckbench.config import NonNegativeFloat, NonNegativeInt, PositiveInt, Seed
from luckbench.errors import InputError
from luckbench.sim import thm5
from luckbench.progress import progress as progress_bar
from luckbench.sim.provenance import attach_run
from luckbench.sim.parallel import map_tasks


@dataclass(frozen=True)
class ProtocolConfig:
    """The grid of v4 Sec. 4.2 (flags of ``luckbench sim protocol42``)."""

    teacher: tuple[PositiveInt, ...] = field(default=(10, 20, 30), metadata={"help": "D,M,C of the teacher"})
    node_multis: tuple[PositiveInt, ...] = field(default=(2, 5, 10), metadata={"help": "student width multipliers"})
    alpha_ws: tuple[NonNegativeFloat, ...] = field(default=(1.0, 1.0, 1.0, 0.3), metadata={"help": "alpha_W of each pair"})
    alpha_vs: tuple[NonNegativeFloat, ...] = field(default=(0.0, 0.3, 1.0, 1.0), metadata={"help": "alpha_V of each pair"})
    seeds: PositiveInt = field(default=32, metadata={"help": "seeds per configuration"})
    seed: Seed = field(default=0, metadata={"help": "base seed"})
    iters: PositiveInt = field(default=20000, metadata={"help": "iterations per run"})
    snapshot_every: PositiveInt = field(default=100, metadata={"help": "iterations between snapshots"})
    lr: NonNegativeFloat = field(default=0.05, metadata={"help": "learning rate"})
    batch: NonNegativeInt = field(default=64, metadata={"help": "mini-batch size (0: exact expectations)"})
    mode: thm5.Mode = field(default="code", metadata={"help": "paper or code (V's columns normalised)"})
    bias: float | None = field(default=-0.1, metadata={"help": "first-layer teacher bias"})
    top_bias: float | None = field(default=-0.1, metadata={"help": "top-layer teacher bias"})
    dtype: thm5.Dtype = field(default="float64", metadata={"help": "float type of the iteration (float32: the "
                                                                   "authors' precision, about 1.5x faster)"})
    device: thm5.Device = field(default="cpu", metadata={"help": "where the iteration computes (cuda: a torch GPU)"})

    def __post_init__(self):
        if len(self.alpha_ws) != len(self.alpha_vs) or not self.alpha_ws:
            raise InputError(f"--alpha-ws/--alpha-vs: need equally many values, got {len(self.alpha_ws)} "
                             f"and {len(self.alpha_vs)}")
        if not self.node_multis:
            raise InputError("--node-multis: need at least one multiplier")
        for k in self.node_multis:  # validates every field of one run
            self.run_config(k, 0)

    def run_config(self, node_multi: int, pair: int) -> thm5.Thm5Config:
        """The Thm5Config of one grid point."""
        return thm5.Thm5Config(teacher=self.teacher, node_multi=node_multi, alpha_w=self.alpha_ws[pair],
                               alpha_v=self.alpha_vs[pair], seeds=self.seeds, seed=self.seed, iters=self.iters,
                               lr=self.lr, batch=self.batch, snapshot_every=self.snapshot_every, mode=self.mode,
                               bias=self.bias, top_bias=self.top_bias, constants_points=0, dtype=self.dtype,
                               device=self.device)


def cell_row_norms(task: tuple[ProtocolConfig, int, int], batched: bool = True) -> np.ndarray:
    """(seed, time, node) row norms of one grid cell (node_multi, pair): all its seeds integrated as one
    batched state (:func:`luckbench.sim.thm5.simulate_batched`), or seed by seed when not ``batched``
    (the reference loop of ``benchmarks/protocol42.py``)."""
    cfg, node_multi, pair = task
    run_cfg = cfg.run_config(node_multi, pair)
    runs = (thm5.simulate_batched(run_cfg, range(cfg.seeds)) if batched
            else [thm5.simulate(run_cfg, s) for s in range(cfg.seeds)])
    return np.stack([thm5.row_norms(traj, run_cfg.n) for _, traj in runs])


def run(cfg: ProtocolConfig, workers: int | None = None, progress: bool = True) -> xr.Dataset:
    """All (node_multi, pair) cells, each with its seeds batched, on ``workers`` processes (default:
    all cores; one process with ``device`` cuda, since a forked worker cannot use CUDA once the parent has
    asked for it); the widest cells start first so that the pool ends together. Progress on stderr."""
    workers = 1 if cfg.device != "cpu" else workers
    pairs = range(len(cfg.alpha_ws))
    cells = sorted(itertools.product(range(len(cfg.node_multis)), pairs), key=lambda c: -cfg.node_multis[c[0]])
    tasks = [(cfg, cfg.node_multis[k], p) for k, p in cells]
    with progress_bar(len(tasks), "protocol42", unit="cell", enabled=progress) as bar:
        norms = dict(zip(cells, map_tasks(cell_row_norms, tasks, workers, on_done=bar.update)))
    m = cfg.teacher[1]
    width = max(cfg.node_multis) * m
    iterations = np.arange(0, cfg.iters + 1, cfg.snapshot_every)
    shape = (len(cfg.node_multis), len(pairs), cfg.seeds, len(iterations))
    full = np.full(shape + (width,), np.nan)
    for (k, p), value in norms.items():
        full[k, p, :, :, : value.shape[2]] = value
    vu = full[..., :m].mean(axis=-1)
    r_part = full[..., m:]
    count = np.sum(np.isfinite(r_part), axis=-1)
    vr = np.where(count > 0, np.nansum(r_part, axis=-1) / np.maximum(count, 1), np.nan)
    dims = ("node_multi", "pair", "time", "node")
    ds = xr.Dataset(
        {
            "v_row_norm_mean": (dims, full.mean(axis=2), {"long_name": "seed mean of ||v_j||"}),
            "v_row_norm_std": (dims, full.std(axis=2), {"long_name": "seed std of ||v_j||"}),
            "vu_norm": (("node_multi", "pair", "seed", "time"), vu, {"long_name": "mean ||v_j|| over the u-set"}),
            "vr_norm": (("node_multi", "pair", "seed", "time"), vr, {"long_name": "mean ||v_j|| over the r-set"}),
            "row_norm_gap": (("node_multi", "pair", "time"), (vu - vr).mean(axis=2),
                             {"long_name": "seed mean of vu_norm - vr_norm"}),
            "is_u": ("node", np.arange(width) < m),
            "n_students": ("node_multi", np.array(cfg.node_multis) * m),
        },
        coords={"node_multi": list(cfg.node_multis), "pair": list(pairs), "seed": np.arange(cfg.seeds),
                "time": cfg.lr * iterations, "node": np.arange(width),
                "alpha_w": ("pair", list(cfg.alpha_ws)), "alpha_v": ("pair", list(cfg.alpha_vs)),
                "iteration": ("time", iterations)},
    )
    ds.attrs.update({"result_kind": "thm5_protocol", "mode": cfg.mode, "u_nodes": m})
    return attach_run(ds, cfg)
