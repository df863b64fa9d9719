"""``luckbench beyond lottery``: is the lottery ticket made of the lucky nodes?
(``result_kind = "beyond-lottery"``)

The paper's argument (Sec. 3.5): the students that happen to be best correlated with a teacher at
initialisation (the *lucky* nodes) receive the strongest top-down signal, become that teacher's
winners and keep large weights; so the lottery ticket - found by magnitude pruning at the end of
training and rewinding to the initial weights - should consist of them.

Per seed (node-level, one shot; fan-in / fan-out of a node as in ``docs/math.md`` sec 2, Theorem 5):

1. train the full student (``luckbench.empirical.train``);
2. ticket: in every hidden layer the ``keep_mult x m_l`` nodes of largest final ``score``
   (``magnitude`` = ||fan-in|| x ||fan-out||, invariant to the ReLU rescaling; or ``fan_out``,
   ``fan_in``), cut from the *initial* network (rewind) and retrained with the same SGD epochs;
3. compare its node set with the lucky set (each live teacher's best-correlated student at
   initialisation) and the final winners (the same on the trained full network): the fraction of the
   ticket's nodes in each set, beside the hypergeometric chance value |set| / n_l;
4. retrain two controls from their initial weights the same way: a uniformly random node set of the
   ticket's size, and the lucky set itself.

Stored: ``overlap_ticket_lucky(seed, layer)``, ``chance_ticket_lucky(seed, layer)``,
``overlap_ticket_winners``, ``chance_ticket_winners``, ``overlap_random_lucky`` (the random control's
own overlap), ``overlap_winners_lucky`` (fraction of the winners that were lucky);
``n_lucky``, ``n_winners`` ``(seed, layer)``, ``ticket_size(layer)``;
``rho_bar(seed, network, layer)`` and ``loss(seed, network)`` for network in ticket, random, lucky, full.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from luckbench.config import flag_field
from luckbench.empirical.beyond import nodes, runs, stored
from luckbench.errors import InputError

NETWORKS = ("ticket", "random", "lucky", "full")
_RANDOM_STREAM = 15  # rng key of the random control's node draw


@dataclass(frozen=True)
class LotteryConfig(runs.StudentRun):
    """Flags of ``luckbench beyond lottery``."""

    keep_mult: int = flag_field(1, "ticket size per layer = keep_mult x the teacher's width")
    score: str = flag_field("magnitude", "final-weight score of a node: magnitude (||fan-in|| ||fan-out||), "
                                      "fan_out or fan_in", choices=tuple(nodes.NODE_SCORES))

    def __post_init__(self):
        super().__post_init__()
        if self.score not in nodes.NODE_SCORES:
            raise InputError(f"--score: expected one of {', '.join(nodes.NODE_SCORES)}, got {self.score!r}")
        if not 1 <= self.keep_mult < self.width_mult:
            raise InputError(f"--keep-mult: need 1 <= keep_mult < width_mult ({self.width_mult}), got {self.keep_mult}")

    @property
    def ticket_sizes(self) -> list[int]:
        return [self.keep_mult * m for m in self.teacher[1:-1]]


def random_nodes(widths: list[int], sizes: list[int], rng: np.random.Generator) -> list[np.ndarray]:
    """A uniformly random set of ``sizes[l]`` distinct nodes out of ``widths[l]`` per layer."""
    return [np.sort(rng.choice(n, size=k, replace=False)) for n, k in zip(widths, sizes)]


def run_seed(cfg: LotteryConfig, index: int) -> dict:
    tr = runs.train_student(cfg, index)
    widths = list(tr.final.spec.widths[1:-1])
    lucky = [runs.winners(c) for c in runs.correlations(tr.initial, tr)]
    win = [runs.winners(c) for c in runs.correlations(tr.final, tr)]
    scores = nodes.NODE_SCORES[cfg.score](tr.final)
    ticket = [nodes.top_nodes(s, k) for s, k in zip(scores, cfg.ticket_sizes)]
    rand = random_nodes(widths, cfg.ticket_sizes, np.random.default_rng([tr.cfg.seed, _RANDOM_STREAM]))
    nets = {name: runs.fit(nodes.subnetwork(tr.initial, keep), tr)
            for name, keep in (("ticket", ticket), ("random", rand), ("lucky", lucky))}
    nets["full"] = tr.final
    evals = {name: runs.evaluate(net, tr) for name, net in nets.items()}
    per_layer = lambda fn: np.array([fn(l) for l in range(len(widths))])  # noqa: E731
    return {
        "overlap_ticket_lucky": per_layer(lambda l: nodes.overlap(ticket[l], lucky[l])),
        "chance_ticket_lucky": per_layer(lambda l: nodes.chance_overlap(widths[l], len(lucky[l]))),
        "overlap_ticket_winners": per_layer(lambda l: nodes.overlap(ticket[l], win[l])),
        "chance_ticket_winners": per_layer(lambda l: nodes.chance_overlap(widths[l], len(win[l]))),
        "overlap_random_lucky": per_layer(lambda l: nodes.overlap(rand[l], lucky[l])),
        "overlap_winners_lucky": per_layer(lambda l: nodes.overlap(win[l], lucky[l])),
        "n_lucky": per_layer(lambda l: len(lucky[l])),
        "n_winners": per_layer(lambda l: len(win[l])),
        "rho_bar": np.array([evals[n][1] for n in NETWORKS]),
        "loss": np.array([evals[n][0] for n in NETWORKS]),
    }


def run(cfg: LotteryConfig) -> xr.Dataset:
    """All seeds; the dataset of the module docstring."""
    with runs.one_thread():
        out = [run_seed(cfg, i) for i in range(cfg.seeds)]
    v = stored.variable
    sl = ("seed", "layer")
    stack = lambda k: np.stack([o[k] for o in out])  # noqa: E731
    variables = {
        "overlap_ticket_lucky": v(sl, stack("overlap_ticket_lucky"), "fraction of the ticket's nodes that were lucky "
                                                                     "(best correlated with a teacher at init)"),
        "chance_ticket_lucky": v(sl, stack("chance_ticket_lucky"), "expected overlap_ticket_lucky of a random ticket"),
        "overlap_ticket_winners": v(sl, stack("overlap_ticket_winners"),
                                    "fraction of the ticket's nodes that are final winners"),
        "chance_ticket_winners": v(sl, stack("chance_ticket_winners"),
                                   "expected overlap_ticket_winners of a random ticket"),
        "overlap_random_lucky": v(sl, stack("overlap_random_lucky"),
                                  "fraction of the random control's nodes that were lucky"),
        "overlap_winners_lucky": v(sl, stack("overlap_winners_lucky"), "fraction of the final winners that were lucky"),
        "n_lucky": v(sl, stack("n_lucky"), "distinct lucky nodes"),
        "n_winners": v(sl, stack("n_winners"), "distinct final winners"),
        "ticket_size": v(("layer",), cfg.ticket_sizes, "nodes kept per hidden layer"),
        "rho_bar": v(("seed", "network", "layer"), stack("rho_bar"),
                     "mean over teachers of the best student correlation, after training"),
        "loss": v(("seed", "network"), stack("loss"), "validation MSE against the teacher, after training"),
    }
    coords = {"seed": (cfg.seed_values, "random seed"),
              "layer": (np.arange(len(cfg.teacher) - 2), "hidden layer (0 = nearest the input)"),
              "network": (np.array(NETWORKS), "retrained sub-network (full = the trained student)")}
    return stored.dataset(variables, coords, {"result_kind": "beyond-lottery", "score": cfg.score,
                                              "keep_mult": cfg.keep_mult})
