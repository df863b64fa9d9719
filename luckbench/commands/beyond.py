"""``luckbench beyond lottery|hessian|prune ... --seeds N --out FILE.nc``: the paper's Sec. 3.3-3.5
arguments (lottery tickets, flat minima, pruning by top-down modulation) measured on trained students.

* ``lottery``: is the magnitude-pruned, rewound ticket made of the lucky nodes? Stores
  ``overlap_ticket_lucky(seed, layer)``, ``overlap_ticket_winners(seed, layer)`` with their chance
  values, and ``rho_bar`` / ``loss`` of the ticket, a random sub-network, the lucky set and the full net.
* ``hessian``: flat directions at the end of training (Thm 5 two-layer dynamics, or a trained student):
  ``eigenvalue(seed, k)`` (Lanczos), ``n_flat(seed)``, ``n_dead_r(seed)``.
* ``prune``: remove nodes by fan-out, fan-in or at random, no retraining:
  ``loss_after(seed, criterion, fraction)``, ``rho_bar_after(...)``.

Code in ``luckbench.empirical.beyond``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from luckbench import store
from luckbench.commands import add_experiment_parsers
from luckbench.config import from_args


def _experiments() -> dict:
    from luckbench.empirical.beyond import flat, lottery, prune

    return {
        "lottery": (lottery.LotteryConfig, lottery.run, "is the lottery ticket made of the lucky nodes?"),
        "hessian": (flat.HessianConfig, flat.run, "flat directions of the loss vs r-nodes with fan-out ~ 0"),
        "prune": (prune.PruneConfig, prune.run, "remove nodes by fan-out, fan-in or at random (no retraining)"),
    }


def add_parser(parser: argparse.ArgumentParser) -> None:
    add_experiment_parsers(parser, _experiments())


def _summary(ds) -> str:
    kind = ds.attrs["result_kind"]
    if kind == "beyond-lottery":
        o, c = ds["overlap_ticket_lucky"].mean().item(), ds["chance_ticket_lucky"].mean().item()
        w = ds["overlap_ticket_winners"].mean().item()
        loss = ds["loss"].mean("seed")
        return (f"ticket in lucky set {o:.3f} (chance {c:.3f}), in winners {w:.3f}; loss ticket "
                f"{float(loss.sel(network='ticket')):.3g}, random {float(loss.sel(network='random')):.3g}, "
                f"full {float(loss.sel(network='full')):.3g}")
    if kind == "beyond-hessian":
        return (f"n_flat {ds['n_flat'].values.tolist()}, predicted {ds['n_flat_predicted'].values.tolist()}, "
                f"n_dead_r {ds['n_dead_r'].values.tolist()} of {ds['n_r'].values.tolist()} r-nodes")
    loss = ds["loss_after"].mean("seed")
    f = float(ds["winner_fraction"].min())
    at = loss.sel(fraction=loss.fraction.where(loss.fraction <= f + 1e-9, drop=True).max())
    return (f"loss after removing {float(at.fraction):.2f} of the nodes: "
            + ", ".join(f"{c} {float(at.sel(criterion=c)):.3g}" for c in at.criterion.values))


# Demo sizes (normal, quick): each experiment with 3 seeds at a small size (quick: the test-suite's smoke run).
DEMO_SIZES = {
    "lottery": ([], ["--teacher", "6,3,4,2", "--width-mult", "3", "--epochs", "1", "--steps-per-epoch", "20",
                     "--valid-samples", "256"]),
    "hessian": (["--teacher", "6,3,3", "--width-mult", "4", "--iters", "1000", "--sim-lr", "0.2"],
                ["--teacher", "4,2,2", "--width-mult", "2", "--iters", "40", "--hessian-samples", "128", "--top-k", "4"]),
    "prune": ([], ["--teacher", "6,3,4,2", "--width-mult", "3", "--epochs", "1", "--steps-per-epoch", "20",
                   "--valid-samples", "256", "--fractions", "0,0.5,1", "--random-draws", "2"]),
}


def demo_actions(results: Path, quick: bool) -> list[list[str]]:
    """The demo's ``beyond`` step: every experiment with 3 seeds, results in ``results``."""
    return [["beyond", name, *sizes[int(quick)], "--seeds", "3", "--overwrite", "--out",
             str(Path(results) / f"beyond_{name}.nc")] for name, sizes in DEMO_SIZES.items()]


def run(args: argparse.Namespace) -> int:
    cls, runner, _ = _experiments()[args.experiment]
    cfg = from_args(cls, args)
    out = store.prepare_output(args.out, overwrite=args.overwrite)
    ds = runner(cfg)
    path = store.write_dataset(ds, out, config=cfg, seed=cfg.seed, overwrite=args.overwrite)
    print(f"beyond {args.experiment}: {_summary(ds)}; wrote {path}")
    return 0
