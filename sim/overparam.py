"""Over-parameterisation in sim terms (the v4 ablation "degree of over-parameterisation", 2-layer form).

Design: the Thm 5 dynamics with a *random* student (alpha_W = alpha_V = 0: no u-set is planted, so
any teacher must be found by luck), teacher D-M-C (default 10-15-20, the first two widths of the
paper's small teacher 10-15-20-25), student widths node_multi * M for node_multi in
``node_multis`` (default 1, 2, 5, 10), the discrete matrix version (mini-batch 64, lr 0.05), several
seeds. The paper's claim: more over-parameterisation gives a higher and more stable rho-bar.

rho-bar is the paper's normalised correlation (Sec. 5.1): the mean over teacher nodes of the best
Pearson correlation of activations over student nodes, here computed *exactly* for Gaussian
inputs from the closed-form kernels (no validation-set noise).

Stored (result_kind ``overparam``; dims ``node_multi``, ``seed``, ``time``; coord ``iteration(time)``):
``rho_bar(node_multi, seed, time)`` and ``loss(node_multi, seed, time)`` (population loss).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from luckbench.config import NonNegativeFloat, NonNegativeInt, PositiveInt, Seed
from luckbench.errors import InputError
from luckbench.sim import thm5
from luckbench.sim.diagnostics import population_loss, rho_bar
from luckbench.sim.provenance import attach_run
from luckbench.sim.parallel import map_tasks


@dataclass(frozen=True)
class OverparamConfig:
    """The width sweep (flags of ``luckbench sim overparam``)."""

    teacher: tuple[PositiveInt, ...] = field(default=(10, 15, 20), metadata={"help": "D,M,C of the teacher"})
    node_multis: tuple[PositiveInt, ...] = field(default=(1, 2, 5, 10), metadata={"help": "student width multipliers"})
    seeds: PositiveInt = field(default=8, metadata={"help": "seeds per width"})
    seed: Seed = field(default=0, metadata={"help": "base seed"})
    iters: PositiveInt = field(default=5000, metadata={"help": "iterations per run"})
    snapshot_every: PositiveInt = field(default=250, metadata={"help": "iterations between snapshots"})
    lr: NonNegativeFloat = field(default=0.05, metadata={"help": "learning rate"})
    batch: NonNegativeInt = field(default=64, metadata={"help": "mini-batch size (0: exact expectations)"})
    mode: thm5.Mode = field(default="paper", metadata={"help": "paper or code"})
    bias: float | None = field(default=-0.1, metadata={"help": "first-layer teacher bias"})
    top_bias: float | None = field(default=-0.1, metadata={"help": "top-layer teacher bias"})

    def __post_init__(self):
        if not self.node_multis:
            raise InputError("--node-multis: need at least one multiplier")
        for k in self.node_multis:
            self.run_config(k)

    def run_config(self, node_multi: int) -> thm5.Thm5Config:
        return thm5.Thm5Config(teacher=self.teacher, node_multi=node_multi, alpha_w=0.0, alpha_v=0.0,
                               seeds=self.seeds, seed=self.seed, iters=self.iters, lr=self.lr, batch=self.batch,
                               snapshot_every=self.snapshot_every, mode=self.mode, bias=self.bias,
                               top_bias=self.top_bias, constants_points=0)


def _curves(task: tuple[OverparamConfig, int]) -> np.ndarray:
    """(seed, 2, time): rho-bar and loss of every seed of one width, the seeds integrated as one batch."""
    cfg, node_multi = task
    out = []
    for dyn, traj in thm5.simulate_batched(cfg.run_config(node_multi), range(cfg.seeds)):
        rho = [rho_bar(dyn.kernel, w, dyn.w_star) for w in traj.w]
        loss = [population_loss(dyn.kernel, w, v, dyn.w_star, dyn.v_star, dyn.top_bias)
                for w, v in zip(traj.w, traj.v)]
        out.append([rho, loss])
    return np.array(out)


def run(cfg: OverparamConfig, workers: int | None = None) -> xr.Dataset:
    """Every width (its seeds batched), in parallel over widths; the dataset of the module docstring."""
    curves = np.array(map_tasks(_curves, [(cfg, k) for k in cfg.node_multis], workers))
    iterations = np.arange(0, cfg.iters + 1, cfg.snapshot_every)
    dims = ("node_multi", "seed", "time")
    ds = xr.Dataset(
        {
            "rho_bar": (dims, curves[:, :, 0], {"long_name": "mean over teachers of max student activation correlation"}),
            "loss": (dims, curves[:, :, 1], {"long_name": "population loss 1/2 E||y - y*||^2"}),
        },
        coords={"node_multi": list(cfg.node_multis), "seed": np.arange(cfg.seeds), "time": cfg.lr * iterations,
                "iteration": ("time", iterations)},
    )
    ds.attrs.update({"result_kind": "overparam", "mode": cfg.mode})
    return attach_run(ds, cfg)
