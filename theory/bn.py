"""Lemma 1 (BatchNorm backprop as a projection, Eq. 16) and Theorem 3 (BN conserved norm, Eq. 17).

Lemma 1. For one channel's batch f in R^N: mu = mean(f), sigma^2 = mean((f - mu)^2) (biased, as in
training-mode BN), f~ = (f - mu)/sigma, y = c0 f~ + c1 and an upstream gradient g = dJ/dy:

    g_f = (c0 / sigma) P_{f,1}^perp g,   P_{f,1}^perp = I - 1 1^T / N - f~ f~^T / N        (Eq. 16)
    g_c = S(f)^T g,  S = [f~, 1]   i.e. (dJ/dc0, dJ/dc1) = (f~ . g, 1 . g)

so <g_f, f> = 0 and 1 . g_f = 0. [FLAG] With eps > 0 (PyTorch: y = c0 (f - mu)/sqrt(sigma^2 + eps)
+ c1) the exact gradient is (c0/s_e)(g - mean(g) - f^ mean(g f^)), f^ = (f - mu)/s_e,
s_e = sqrt(sigma^2 + eps), and <g_f, f - mu> = c0 (sum_i g_i f^_i) eps/(sigma^2 + eps) != 0: the
printed formula is off by a relative O(eps/sigma^2). :func:`lemma1_residuals` reports both forms.

Theorem 3 (gradient flow; the discrete predicate is orthogonality). For a hidden unit j with
incoming weights w_j (and bias b_j) and batch loss J:

* Linear -> BN -> ReLU (``bn="before"``): <w_j, grad_w J> = 0 and dJ/db_j = 0, so ||w_j|| is conserved.
* Linear -> ReLU -> BN (``bn="after"``): <(w_j, b_j), grad_(w,b) J> = 0, but <w_j, grad_w J> != 0
  when b_j != 0. [FLAG] The conserved quantity is ||w~_j||^2 = ||w_j||^2 + b_j^2, not the printed
  ||w_j||; ``paper_mode=True`` evaluates the printed claim (<w_j, grad_w J> = 0 in both placements).
* [FLAG] For SGD, ||w_{t+1}||^2 = ||w_t||^2 + eta^2 ||grad||^2 (the norm only grows); reported as a detail.

Both use eps = 0 by default (exact to float precision); with eps > 0 the error is ~ eps/sigma^2,
which the checks report separately (details record the form and the eps used).
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from luckbench.theory.network import ReLUNet, batch_norm_train, teacher_student
from luckbench.theory.theorem1 import TOLERANCE, gaussian_inputs
from luckbench.theory.verdict import Verdict

PYTORCH_EPS = 1e-5
BATCH = 256


def bn_train(f: torch.Tensor, c0: torch.Tensor, c1: torch.Tensor, eps: float) -> torch.Tensor:
    """Training-mode BN of a batch (N, channels) with biased batch variance: c0 (f - mu)/sqrt(sigma^2+eps) + c1.

    PyTorch's own kernel for eps > 0; :func:`~luckbench.theory.network.batch_norm_train` for eps = 0.
    """
    if eps > 0:
        return F.batch_norm(f, None, None, c0, c1, training=True, momentum=0.0, eps=eps)
    return batch_norm_train(f, c0, c1, 0.0)[0]


def lemma1_formula(f: torch.Tensor, g: torch.Tensor, c0: torch.Tensor, eps: float = 0.0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 16 per channel (columns of f, g: (N, channels)): g_f and g_c = (f~ . g, 1 . g).

    ``eps=0`` gives the printed projection (c0/sigma) P_{f,1}^perp g; ``eps>0`` the exact
    PyTorch-BN gradient (c0/s_e)(g - mean g - f^ mean(g f^)), f^ = (f - mu)/s_e.
    """
    mu = f.mean(0)
    s_e = torch.sqrt(((f - mu) ** 2).mean(0) + eps)
    fh = (f - mu) / s_e
    g_f = (c0 / s_e) * (g - g.mean(0) - fh * (g * fh).mean(0))
    g_c = torch.stack([(fh * g).sum(0), g.sum(0)])
    return g_f, g_c


def _autograd_bn(f, g, c0, c1, eps):
    f, c0, c1 = (t.detach().clone().requires_grad_(True) for t in (f, c0, c1))
    with torch.enable_grad():
        y = bn_train(f, c0, c1, eps)
        gf, gc0, gc1 = torch.autograd.grad(y, (f, c0, c1), grad_outputs=g)
    return gf, torch.stack([gc0, gc1])


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    den = b.norm().item()
    return (a - b).norm().item() / den if den > 0 else (a - b).norm().item()


def _cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per column |<a, b>| / (|a| |b|) (0 where a norm is 0)."""
    den = a.norm(dim=0) * b.norm(dim=0)
    return torch.where(den > 0, (a * b).sum(0).abs() / torch.where(den > 0, den, 1.0), torch.zeros_like(den))


def lemma1_residuals(f: torch.Tensor, g: torch.Tensor, c0: torch.Tensor, c1: torch.Tensor, eps: float = 0.0
                     ) -> dict[str, float]:
    """Autograd through training-mode BN (with ``eps``) against Eq. 16.

    Returns the relative residuals of the printed projection (eps ignored) and of the exact
    eps-form, the gradient's normalised overlaps with f - mu and with 1 (Lemma 1's
    orthogonality, largest over channels), the g_c residual, and eps / min sigma^2.
    """
    gf, gc = _autograd_bn(f, g, c0, c1, eps)
    printed, gc_printed = lemma1_formula(f, g, c0, 0.0)
    exact, gc_exact = lemma1_formula(f, g, c0, eps)
    centred = f - f.mean(0)
    ones = torch.ones_like(f)
    var = (centred ** 2).mean(0)
    return {
        "printed_residual": _rel(gf, printed),
        "exact_eps_residual": _rel(gf, exact),
        "g_c_residual": _rel(gc, gc_exact),
        "g_c_printed_residual": _rel(gc, gc_printed),
        "overlap_with_f": _cos(gf, centred).max().item(),
        "overlap_with_1": _cos(gf, ones).max().item(),
        "eps": eps,
        "eps_over_sigma2": (eps / var.min()).item(),
    }


def check_lemma1(setup) -> Verdict:
    """Lemma 1 on a random batch (N=256, 8 channels) of the setup's dtype: the printed Eq. 16
    against autograd through BN with eps=0 (exact), or (paper_mode) through PyTorch's eps=1e-5 BN
    with the tolerance widened by eps / min sigma^2."""
    dtype = torch.float64 if setup.dtype == "float64" else torch.float32
    gen = torch.Generator().manual_seed(setup.seed)
    f = (torch.randn(BATCH, 8, generator=gen, dtype=torch.float64) * 3 + 1).to(dtype)
    g = torch.randn(BATCH, 8, generator=gen, dtype=torch.float64).to(dtype)
    c0 = (0.5 + torch.rand(8, generator=gen, dtype=torch.float64)).to(dtype)
    c1 = (torch.rand(8, generator=gen, dtype=torch.float64) - 0.5).to(dtype)
    eps = PYTORCH_EPS if setup.paper_mode else 0.0
    res = lemma1_residuals(f, g, c0, c1, eps)
    with_eps = lemma1_residuals(f, g, c0, c1, PYTORCH_EPS)
    tol = TOLERANCE[setup.dtype] + res["eps_over_sigma2"]  # the eps effect is O(eps / sigma^2)
    value = max(res["printed_residual"], res["g_c_printed_residual"], res["overlap_with_f"], res["overlap_with_1"])
    details = {"form": ("printed Eq. 16 against PyTorch BN with eps=1e-5, tolerance + eps/min sigma^2"
                        if setup.paper_mode else "printed Eq. 16 against BN with eps=0 (exact case)"),
               **res,
               "with_pytorch_eps": {k: with_eps[k] for k in ("printed_residual", "exact_eps_residual",
                                                             "overlap_with_f", "eps_over_sigma2")},
               "batch": BATCH, "channels": 8}
    return Verdict(name="lemma1",
                   statement="BN backprop: g_f = (c0/sigma) P_perp(f,1) g and g_c = S(f)^T g (Eq. 16); g_f is "
                             "orthogonal to f and 1",
                   kind="exact", holds=bool(value <= tol), value=value, bound=0.0, tolerance=tol, details=details)


def _overlap(u: torch.Tensor, grad: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Per row |<u_j, grad_j>| / (|u_j| scale)."""
    den = u.norm(dim=1) * scale
    return (u * grad).sum(1).abs() / torch.where(den > 0, den, 1.0)


@dataclasses.dataclass
class Theorem3Result:
    """Per-unit overlaps |<u_j, grad_j J>| / (|u_j| |grad_layer J|_F) of one BN layer, max over units.

    Normalising by the whole layer's gradient (not the unit's own) keeps units whose gradient is
    at roundoff level (e.g. active on a single sample, where Lemma 1 makes it vanish) meaningful.
    """

    w_only: float  # u = w_j (the printed claim)
    augmented: float  # u = (w_j, b_j)
    bias_grad: float  # |dJ/db_j| / |grad_(w,b) J| (Linear -> BN -> ReLU: zero)
    units: int
    degenerate_units: int  # units with exactly zero gradient (skipped)


def theorem3_overlaps(student: ReLUNet, teacher: ReLUNet, x: torch.Tensor) -> list[Theorem3Result]:
    """Training-mode batch loss J = 1/2 mean ||f_out - f*_out||^2; per BN'd hidden layer the overlaps
    of every unit's incoming weights with their gradient (Theorem 3's orthogonality, Eq. 17)."""
    teacher.eval()
    student.train()
    with torch.no_grad():
        target = teacher(x)
    student.zero_grad(set_to_none=True)
    with torch.enable_grad():
        loss = 0.5 * ((student(x) - target) ** 2).sum(1).mean()
        loss.backward()
    out = []
    for block in student.hidden:
        lin = block.linear
        w = lin.weight.detach().flatten(1)
        gw = lin.weight.grad.flatten(1)
        if lin.bias is not None:
            b, gb = lin.bias.detach()[:, None], lin.bias.grad[:, None]
        else:
            b = gb = torch.zeros(w.shape[0], 1, dtype=w.dtype)
        wa, ga = torch.cat([w, b], 1), torch.cat([gw, gb], 1)
        scale = ga.norm()  # the layer's gradient norm: a unit whose own gradient is at roundoff level
        live = ga.norm(dim=1) > 0  # (active on one sample only) must not inflate its relative overlap
        w_only = _overlap(w, gw, scale)[live]
        aug = _overlap(wa, ga, scale)[live]
        bias_grad = (gb[:, 0].abs() / scale)[live] if scale > 0 else gb[live, 0]
        mx = lambda t: t.max().item() if t.numel() else 0.0  # noqa: E731
        out.append(Theorem3Result(mx(w_only), mx(aug), mx(bias_grad), int(w.shape[0]), int((~live).sum())))
    return out


def check_theorem3(setup) -> Verdict:
    """Theorem 3 for both BN placements on the setup's FC pair (a batch of 256 GAUS samples, BN eps=0)."""
    tol = TOLERANCE[setup.dtype]
    details: dict = {"form": ("printed: ||w_j|| conserved in both placements" if setup.paper_mode else
                              "corrected: ||w_j|| (BN before ReLU), ||(w_j, b_j)|| (BN after ReLU)"),
                     "bn_eps": 0.0, "batch": BATCH}
    if len(setup.teacher) < 3:
        return Verdict(name="theorem3", statement=_T3_STATEMENT, kind="exact", holds=None,
                       details={**details, "reason": "no hidden layer, so no BN layer to check"})
    values = []
    for placement in ("before", "after"):
        teacher, student = teacher_student(setup.teacher, setup.student_widths, seed=setup.seed, bias=setup.bias,
                                           bn=placement, bn_eps=0.0, dtype=setup.dtype)
        x = gaussian_inputs(student, BATCH, setup.seed + 30, setup.sigma)
        results = theorem3_overlaps(student, teacher, x)
        if not all(torch.isfinite(torch.tensor([r.augmented, r.w_only])).all() for r in results):
            return Verdict(name="theorem3", statement=_T3_STATEMENT, kind="exact", holds=None,
                           details={**details, "reason": f"a BN channel has zero batch variance ({placement})"})
        details[placement] = [dataclasses.asdict(r) for r in results]
        if setup.paper_mode:
            values += [r.w_only for r in results]
        elif placement == "before":
            values += [max(r.w_only, r.bias_grad if setup.bias else 0.0) for r in results]
        else:
            values += [r.augmented for r in results]
    details["sgd_note"] = ("for SGD, |w_{t+1}|^2 = |w_t|^2 + eta^2 |grad|^2: the norm is conserved under "
                           "gradient flow only")
    value = max(values)
    return Verdict(name="theorem3", statement=_T3_STATEMENT, kind="exact", holds=bool(value <= tol), value=value,
                   bound=0.0, tolerance=tol, details=details)


_T3_STATEMENT = ("BN makes each unit's weight gradient orthogonal to its weights (Eq. 17): <w, grad_w J> = 0 for "
                 "Linear->BN->ReLU, <(w,b), grad_(w,b) J> = 0 for Linear->ReLU->BN")
