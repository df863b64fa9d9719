"""``luckbench beyond hessian``: flat directions of the loss at the end of training and the
r-nodes whose fan-out went to 0 (``result_kind = "beyond-hessian"``).

The paper's argument (Sec. 3.4, Thm 5): the top-down modulation drives the fan-out v_j of every
r-node to 0; a node with v_j = 0 does not reach the output, so the loss is constant along its whole
fan-in (w_j, b_j), which gives fan-in-many flat directions per dead r-node. Two settings:

* ``thm5``: the two-layer over-parameterised dynamics of ``luckbench sim thm5`` (mode ``paper``,
  discrete iteration, u-set = the first M nodes started near the teacher, r-set = the rest); the
  loss is 1/2 E||y - y*||^2 on ``hessian_samples`` Gaussian inputs z ~ N(0, I) (the network's
  hidden bias is the augmented coordinate of x~ = [z; 1]);
* ``student``: a student trained with ``luckbench.empirical.train`` (any depth); the loss is the
  training MSE on the first ``hessian_samples`` validation inputs, r-set = every hidden node that is
  no teacher's final winner.

For each seed, in float64: the top ``top_k`` eigenvalues by Lanczos on Hessian-vector products, the
dense spectrum (the same Hessian; the largest relative gap between the two is stored), the number of
eigenvalues with |lambda| <= flat_tol * max |lambda| (``n_flat``), the r-nodes with fan-out norm
<= dead_tol x the largest in their layer (``n_dead_r``), and the same flat count for the network with
those nodes removed (``n_flat_pruned``). The prediction is ``n_flat = n_flat_pruned + the dead
nodes' fan-in sizes`` (``n_flat_predicted``): every flat direction beyond those of the pruned
network comes from a dead r-node's fan-in.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from luckbench.datasets import gaus
from luckbench.config import flag_field
from luckbench.empirical.beyond import hessian, nodes, runs, stored
from luckbench.errors import InputError
from luckbench.theory.network import NetSpec, ReLUNet

SETTINGS = ("thm5", "student")


@dataclass(frozen=True)
class HessianConfig(runs.StudentRun):
    """Flags of ``luckbench beyond hessian`` (the training flags apply to ``--setting student``)."""

    setting: str = flag_field("thm5", "thm5: Theorem 5's two-layer dynamics; student: a trained student",
                           choices=SETTINGS)
    teacher: tuple[int, ...] = flag_field((10, 5, 4), "teacher widths: input, hidden..., outputs (thm5: D,M,C)")
    width_mult: int = flag_field(4, "student hidden widths = width_mult x the teacher's (thm5: node_multi)")
    iters: int = flag_field(4000, "thm5: discrete steps of the dynamics")
    sim_lr: float = flag_field(0.05, "thm5: step eta of the dynamics")
    alpha_w: float = flag_field(1.0, "thm5: closeness of the u-set's initial W to W* (v4 Sec. 4.2)")
    alpha_v: float = flag_field(1.0, "thm5: closeness of the u-set's initial V to V*")
    hessian_samples: int = flag_field(2048, "inputs on which the loss is taken")
    top_k: int = flag_field(10, "eigenvalues found by Lanczos")
    flat_tol: float = flag_field(1e-4, "flat: |lambda| <= flat_tol * max |lambda|")
    dead_tol: float = flag_field(1e-2, "dead r-node: fan-out norm <= dead_tol * the largest in its layer")

    def __post_init__(self):
        if self.setting not in SETTINGS:
            raise InputError(f"--setting: expected one of {', '.join(SETTINGS)}, got {self.setting!r}")
        if self.setting == "thm5" and len(self.teacher) != 3:
            raise InputError(f"--teacher: the thm5 setting needs three widths D,M,C, got {self.teacher}")
        super().__post_init__()
        p = runs.student_params(self.train_config(0).student)
        if p > hessian.MAX_DENSE:
            raise InputError(f"--teacher/--width-mult: the network has {p} parameters; the dense Hessian behind "
                             f"the flat count is limited to {hessian.MAX_DENSE}")
        if not 1 <= self.top_k < p:
            raise InputError(f"--top-k: need 1 <= k < {p} (the number of parameters), got {self.top_k}")
        for name in ("flat_tol", "dead_tol"):
            v = getattr(self, name)
            if not (np.isfinite(v) and 0 < v < 1):
                raise InputError(f"--{name.replace('_', '-')}: need a number in (0, 1), got {v}")
        if self.hessian_samples < 1 or self.hessian_samples > 10 ** 6:
            raise InputError(f"--hessian-samples: need 1 to 1,000,000, got {self.hessian_samples}")
        if self.iters < 1 or not (np.isfinite(self.sim_lr) and self.sim_lr > 0):
            raise InputError(f"--iters/--sim-lr: need iters >= 1 and a positive step, got {self.iters}, {self.sim_lr}")

    def thm5_config(self, index: int):
        from luckbench.sim.thm5 import Thm5Config

        return Thm5Config(teacher=tuple(self.teacher), node_multi=self.width_mult, alpha_w=self.alpha_w,
                          alpha_v=self.alpha_v, seeds=1, seed=self.seed + index, iters=self.iters, lr=self.sim_lr,
                          snapshot_every=self.iters, mode="paper", constants_points=0)


@dataclass
class Problem:
    """A float64 network, its loss on fixed inputs, the parameters that are free, and its r-nodes."""

    net: ReLUNet
    loss: object  # output -> scalar
    x: torch.Tensor
    free: list[str]
    r_nodes: list[np.ndarray]  # per hidden layer


def _two_layer(w: np.ndarray, v: np.ndarray, *, dim: int, has_bias: bool, top_bias: bool) -> ReLUNet:
    """ReLUNet (D, n, C) computing V^T relu(W x~) (+ bias row of V) for augmented rows W = [omega, b]."""
    n, c = w.shape[0], v.shape[1]
    net = ReLUNet(NetSpec((dim, n, c), bias=has_bias or top_bias, dtype="float64"))
    with torch.no_grad():
        net.hidden[0].linear.weight.copy_(torch.from_numpy(w[:, :dim]))
        net.head.weight.copy_(torch.from_numpy(v[:n].T.copy()))
        if net.spec.bias:
            net.hidden[0].linear.bias.copy_(torch.from_numpy(w[:, dim]) if has_bias else torch.zeros(n))
            net.head.bias.copy_(torch.from_numpy(v[n]) if top_bias else torch.zeros(c))
    return net


def thm5_problem(cfg: HessianConfig, index: int) -> Problem:
    """The end of the Thm 5 iteration for seed number ``index``."""
    from luckbench.sim.thm5 import simulate

    c5 = cfg.thm5_config(index)
    dyn, traj = simulate(c5, 0)
    dim, m = cfg.teacher[0], cfg.teacher[1]
    has_bias, top = c5.bias is not None, dyn.top_bias
    net = _two_layer(traj.w[-1], traj.v[-1], dim=dim, has_bias=has_bias, top_bias=top)
    teacher = _two_layer(dyn.w_star, dyn.v_star, dim=dim, has_bias=has_bias, top_bias=top)
    gen = gaus.make_generator(gaus.derive_seed(c5.seed, gaus.STREAM_VALID))
    x = torch.randn((cfg.hessian_samples, dim), generator=gen, dtype=torch.float64)
    with torch.no_grad():
        target = teacher(x)
    free = [k for k, _ in net.named_parameters()
            if not (k == "head.bias" and not top) and not (k == "hidden.0.linear.bias" and not has_bias)]
    return Problem(net, lambda out: 0.5 * ((out - target) ** 2).sum(1).mean(), x, free,
                   [np.arange(m, c5.n)])


def student_problem(cfg: HessianConfig, index: int) -> Problem:
    """A student trained by ``luckbench.empirical.train`` for seed number ``index``."""
    tr = runs.train_student(cfg, index)
    corr = runs.correlations(tr.final, tr)
    spec = dataclasses.replace(tr.final.spec, dtype="float64")
    net, teacher = ReLUNet(spec), ReLUNet(dataclasses.replace(tr.teacher.spec, dtype="float64"))
    net.load_state_dict(tr.final.state_dict())
    teacher.load_state_dict(tr.teacher.state_dict())
    x = tr.data.valid_x[: cfg.hessian_samples].double()
    with torch.no_grad():
        target = teacher(x)
    r_nodes = [np.setdiff1d(np.arange(c.shape[0]), runs.winners(c)) for c in corr]
    return Problem(net, lambda out: ((out - target) ** 2).mean(), x,  # F.mse_loss, written out for forward-mode AD
                   [k for k, _ in net.named_parameters()], r_nodes)


def dead_r_nodes(problem: Problem, dead_tol: float) -> list[np.ndarray]:
    """Per hidden layer, the r-nodes whose fan-out norm is <= dead_tol x the layer's largest."""
    out = []
    for norms, r in zip(nodes.fan_out_norms(problem.net), problem.r_nodes):
        out.append(r[norms[r] <= dead_tol * norms.max()])
    return out


def spectrum(problem: Problem, net: ReLUNet | None = None) -> tuple[np.ndarray, object, torch.Tensor]:
    """(dense eigenvalues ascending, loss function of theta, theta0) of ``net`` (default: the problem's)."""
    net = problem.net if net is None else net
    free = [k for k in problem.free if k in dict(net.named_parameters())]
    f, theta = hessian.flat_loss(net, problem.loss, problem.x, free)
    return np.linalg.eigvalsh(hessian.dense_hessian(f, theta)), f, theta


def measure(cfg: HessianConfig, problem: Problem, seed: int) -> dict:
    """Every stored number of one seed."""
    dense, f, theta = spectrum(problem)
    top = hessian.top_eigenvalues(hessian.hvp_operator(f, theta), cfg.top_k, seed=seed)
    dense_top = dense[::-1][: cfg.top_k]
    dead = dead_r_nodes(problem, cfg.dead_tol)
    keep = [np.setdiff1d(np.arange(len(n)), d) for n, d in zip(nodes.fan_out_norms(problem.net), dead)]
    pruned = spectrum(problem, nodes.subnetwork(problem.net, keep))[0]
    fan_in = [w + (f"hidden.{l}.linear.bias" in problem.free) for l, w in enumerate(problem.net.spec.widths[:-2])]
    n_dead = sum(len(d) for d in dead)
    n_flat_pruned = hessian.flat_count(pruned, cfg.flat_tol)
    with torch.no_grad():
        loss = float(f(theta))
    rel = np.sort(np.abs(dense))[::-1]
    return {
        "eigenvalue": top,
        "lanczos_rel_error": float(np.max(np.abs(top - dense_top)) / np.max(np.abs(dense))),
        "spectrum": rel / rel[0],
        "n_flat": hessian.flat_count(dense, cfg.flat_tol),
        "n_flat_pruned": n_flat_pruned,
        "n_flat_predicted": n_flat_pruned + sum(len(d) * k for d, k in zip(dead, fan_in)),
        "n_dead_r": n_dead,
        "n_r": sum(len(r) for r in problem.r_nodes),
        "n_params": theta.numel(),
        "loss": loss,
    }


def run(cfg: HessianConfig) -> xr.Dataset:
    """All seeds; the dataset of the module docstring."""
    make = thm5_problem if cfg.setting == "thm5" else student_problem
    with runs.one_thread():
        out = [measure(cfg, make(cfg, i), int(s)) for i, s in enumerate(cfg.seed_values)]
    seed = ("seed",)
    p = out[0]["n_params"]
    v = stored.variable
    variables = {
        "eigenvalue": v(("seed", "k"), [o["eigenvalue"] for o in out], "Hessian eigenvalue k (descending, Lanczos)"),
        "lanczos_rel_error": v(seed, [o["lanczos_rel_error"] for o in out],
                               "largest |Lanczos - dense| over the top-k eigenvalues / max |lambda|"),
        "spectrum": v(("seed", "rank"), [o["spectrum"] for o in out], "|Hessian eigenvalue| / max |eigenvalue|, "
                                                                      "descending (dense)"),
        "n_flat": v(seed, [o["n_flat"] for o in out], "eigenvalues with |lambda| <= flat_tol max |lambda|"),
        "n_flat_pruned": v(seed, [o["n_flat_pruned"] for o in out], "n_flat of the network without its dead r-nodes"),
        "n_flat_predicted": v(seed, [o["n_flat_predicted"] for o in out],
                              "n_flat_pruned + fan-in sizes of the dead r-nodes"),
        "n_dead_r": v(seed, [o["n_dead_r"] for o in out], "r-nodes with fan-out norm <= dead_tol x the largest"),
        "n_r": v(seed, [o["n_r"] for o in out], "r-nodes (no teacher's match)"),
        "n_params": v(seed, [o["n_params"] for o in out], "free parameters"),
        "loss": v(seed, [o["loss"] for o in out], "loss at the end of training"),
    }
    coords = {"seed": (cfg.seed_values, "random seed"), "k": (np.arange(cfg.top_k), "eigenvalue index (0 = largest)"),
              "rank": (np.arange(p), "eigenvalue rank by magnitude (0 = largest)")}
    return stored.dataset(variables, coords, {"result_kind": "beyond-hessian", "setting": cfg.setting,
                                              "flat_tol": cfg.flat_tol, "dead_tol": cfg.dead_tol})
