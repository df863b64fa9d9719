"""``luckbench beyond prune``: removing hidden nodes by fan-out, by fan-in and at random, with no
retraining (``result_kind = "beyond-prune"``).

The paper's argument (Thm 5, Sec. 3.4): the top-down modulation leaves the winners with large
fan-outs ||v_j|| and drives the others' toward 0, so removing nodes in increasing order of ||v_j||
keeps the teacher's function until only about as many nodes as teachers (the winners) are left.
Per seed, a student is trained (``luckbench.empirical.train``); then for every ``fraction`` f and
criterion, the floor(f n_l) nodes of every hidden layer with the smallest score are removed
(``nodes.remove_nodes``: fan-in, bias and fan-out set to zero), and the validation loss and rho-bar
are measured. ``random`` removes a uniformly random set (one fresh draw per ``random_draws``,
averaged; the draws for a larger fraction extend those of a smaller one).

Stored: ``loss_after(seed, criterion, fraction)``, ``rho_bar_after(seed, criterion, fraction, layer)``,
``winner_fraction(layer)`` = 1 - m_l / n_l (the largest fraction that can keep one node per teacher),
``n_winners(seed, layer)`` (distinct final winners before pruning).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from luckbench.config import flag_field
from luckbench.empirical.beyond import nodes, runs, stored
from luckbench.errors import InputError

CRITERIA = ("fan_out", "fan_in", "random")
_RANDOM_STREAM = 16


@dataclass(frozen=True)
class PruneConfig(runs.StudentRun):
    """Flags of ``luckbench beyond prune``."""

    fractions: tuple[float, ...] = flag_field((0.0, 0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
                                           "fractions of every hidden layer's nodes to remove, in [0, 1]")
    random_draws: int = flag_field(5, "random node orders averaged for the random criterion")

    def __post_init__(self):
        super().__post_init__()
        runs.check_fractions(self.fractions)
        if not 1 <= self.random_draws <= 1000:
            raise InputError(f"--random-draws: need 1 to 1000, got {self.random_draws}")


def removal_orders(net, criterion: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Per hidden layer, the node indices in the order they are removed (smallest score first)."""
    if criterion == "random":
        return [rng.permutation(w) for w in net.spec.widths[1:-1]]
    return [np.argsort(s, kind="stable") for s in nodes.NODE_SCORES[criterion](net)]


def pruned_measures(tr: runs.Trained, orders: list[np.ndarray], fractions: np.ndarray) -> np.ndarray:
    """(fraction, 1 + layers): loss and rho-bar per layer after removing the first floor(f n_l) of ``orders``."""
    rows = []
    for f in fractions:
        removed = [o[: int(np.floor(f * len(o) + 1e-9))] for o in orders]
        loss, rho = runs.evaluate(nodes.remove_nodes(tr.final, removed), tr)
        rows.append([loss, *rho])
    return np.array(rows)


def run_seed(cfg: PruneConfig, index: int) -> dict:
    tr = runs.train_student(cfg, index)
    fractions = runs.check_fractions(cfg.fractions)
    rng = np.random.default_rng([tr.cfg.seed, _RANDOM_STREAM])
    per_criterion = []
    for crit in CRITERIA:
        draws = cfg.random_draws if crit == "random" else 1
        per_criterion.append(np.mean([pruned_measures(tr, removal_orders(tr.final, crit, rng), fractions)
                                      for _ in range(draws)], axis=0))
    arr = np.stack(per_criterion)  # (criterion, fraction, 1 + layers)
    n_win = [len(runs.winners(c)) for c in runs.correlations(tr.final, tr)]
    return {"loss_after": arr[:, :, 0], "rho_bar_after": arr[:, :, 1:], "n_winners": np.array(n_win)}


def run(cfg: PruneConfig) -> xr.Dataset:
    """All seeds; the dataset of the module docstring."""
    with runs.one_thread():
        out = [run_seed(cfg, i) for i in range(cfg.seeds)]
    fractions = runs.check_fractions(cfg.fractions)
    widths = [cfg.width_mult * m for m in cfg.teacher[1:-1]]
    v = stored.variable
    stack = lambda k: np.stack([o[k] for o in out])  # noqa: E731
    variables = {
        "loss_after": v(("seed", "criterion", "fraction"), stack("loss_after"),
                        "validation MSE against the teacher after removing the nodes (no retraining)"),
        "rho_bar_after": v(("seed", "criterion", "fraction", "layer"), stack("rho_bar_after"),
                           "rho-bar after removing the nodes (no retraining)"),
        "winner_fraction": v(("layer",), [1 - m / n for m, n in zip(cfg.teacher[1:-1], widths)],
                             "largest removed fraction that leaves one node per teacher"),
        "n_winners": v(("seed", "layer"), stack("n_winners"), "distinct final winners before pruning"),
    }
    coords = {"seed": (cfg.seed_values, "random seed"), "criterion": (np.array(CRITERIA), "node removal order"),
              "fraction": (fractions, "fraction of every hidden layer's nodes removed"),
              "layer": (np.arange(len(cfg.teacher) - 2), "hidden layer (0 = nearest the input)")}
    return stored.dataset(variables, coords, {"result_kind": "beyond-prune", "random_draws": cfg.random_draws})
