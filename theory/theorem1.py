"""Theorem 1 (recursive gradient rule, Eqs. 2-3) checked per sample against autograd.

For every hidden layer l and sample x the negative gradient w.r.t. the pre-activations,
g_l = -dJ/dz_l with J = 1/2 ||f_out - f*_out||^2 (Eq. 1), equals (Eq. 2)

    g_l = f'_l * (B*_l f~*_l - B_l f~_l),

where f~ = [f; 1] appends a constant node (f = 1, f' = 1) that carries the biases, and (Eq. 3)

    B*_l = W~_{l+1}^T D_{l+1} B*_{l+1} D*_{l+1} W~*_{l+1},   B_l likewise with the student twice,
    B*_L = B_L = I at the linear output (f' = 1 there), W~ = [[W, b], [0, 1]] ([W, b] at the top).

``D`` = diag(f') of the student, ``D*`` of the teacher, W[j, k] = w_jk (out x in).

Two evaluations of the right-hand side:

* :func:`recursive_gradients` (the main path, vectorised over samples, matrix-free): applies the
  product of Eq. 3's factors right to left, ``B*_l f~*_l = W_{l+1}^T D_{l+1} ... W_L^T (W~*_L D*_{L-1}
  ... D*_{l+1} W~*_{l+1} f~*_l)``. It never uses the homogeneity relu(z) = f'(z) z that proves the
  theorem, so agreement with autograd is a real check. Works for FC and conv, strided and padded
  (a convolution is a linear map; its transpose is ``conv_transpose2d``), and with max or average
  pooling after the hidden layers (average pooling is linear; max pooling is the selection of each
  window's maximum, a linear map fixed per sample: :func:`pool_selections`; docs/math.md sec. 2).
* :func:`beta_matrices` (FC only, explicit): the matrices B*_l, B_l of Eq. 3 per sample, used by
  Assumption 1 / Theorem 2 and by the tests.

BatchNorm in eval mode is a fixed per-channel affine map y = a*u + c, a = gamma/sqrt(var+eps),
c = beta - a*mean; :func:`effective_layers` folds it into the linear maps: for "before" into the
same layer (z = a*(Wh + b) + c), for "after" into the next layer (W diag(a) f + (W c + b)). Then
f = relu(z) is the theorem's activation and the identity is exact too. Training-mode BN couples
samples and is covered by Lemma 1 / Theorem 3 (``luckbench.theory.bn``).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from luckbench.datasets.samplers import gaussian_sampler
from luckbench.errors import InputError
from luckbench.theory.network import ReLUNet, check_compatible, eval_bn_affine, teacher_student
from luckbench.theory.verdict import Verdict

TOLERANCE = {"float64": 1e-10, "float32": 1e-4}


@dataclasses.dataclass
class EffectiveLayer:
    """One linear map of a network with eval-mode BN folded in: f -> lin(f) + bias.

    ``f`` is the previous layer's ReLU activation (before BN-after and pooling) or the input. The
    linear part is out_scale * W(pool(in_scale * f)); for max pooling ``pool`` is the fixed
    selection ``sel`` of the maximal entry per window (from the network's own forward pass), so
    the map is linear for a given sample (docs/math.md sec. 2, Theorem 1).
    """

    weight: torch.Tensor  # the module's raw weight (Linear: out x in; Conv2d: out x in x k x k)
    conv: bool  # the raw map is a convolution (else a matrix product)
    padding: int
    stride: int
    in_shape: tuple[int, ...]  # per-sample shape of f (before pooling)
    pooled_shape: tuple[int, ...]  # per-sample shape after pooling (what W reads)
    pool: str  # "none" | "max" | "avg", applied to in_scale * f
    pool_size: int
    in_scale: torch.Tensor | None  # BN-after scale of the previous layer (per input channel)
    out_scale: torch.Tensor | None  # BN-before scale of this layer (per output channel)
    bias: torch.Tensor  # effective bias, per-sample output shape (batch dim of 1)

    def _pool(self, h: torch.Tensor, sel: torch.Tensor | None) -> torch.Tensor:
        if self.pool == "none":
            return h
        if self.pool == "avg":
            return F.avg_pool2d(h, self.pool_size)
        n, c = h.shape[:2]
        picked = torch.gather(h.flatten(2), 2, sel.flatten(2))  # the max-pool selection as a linear map
        return picked.reshape(n, c, *self.pooled_shape[1:])

    def _pool_t(self, g: torch.Tensor, sel: torch.Tensor | None) -> torch.Tensor:
        """Transpose of :meth:`_pool`: scatter back to the selected entries, or spread each window's
        value evenly over it (the truncated border of the map gets 0)."""
        if self.pool == "none":
            return g
        n, c = g.shape[:2]
        if self.pool == "max":
            out = torch.zeros(n, c, self.in_shape[1] * self.in_shape[2], dtype=g.dtype)
            return out.scatter_add_(2, sel.flatten(2), g.flatten(2)).reshape(n, *self.in_shape)
        k = self.pool_size
        spread = g.repeat_interleave(k, dim=2).repeat_interleave(k, dim=3) / k ** 2
        return F.pad(spread, (0, self.in_shape[2] - spread.shape[3], 0, self.in_shape[1] - spread.shape[2]))

    def _raw(self, h: torch.Tensor) -> torch.Tensor:
        if self.conv:
            return F.conv2d(h, self.weight, stride=self.stride, padding=self.padding)
        return torch.flatten(h, 1) @ self.weight.T

    def _raw_t(self, g: torch.Tensor) -> torch.Tensor:
        if not self.conv:
            return (g @ self.weight).reshape(g.shape[0], *self.pooled_shape)
        side = self.pooled_shape[1]
        extra = side - ((g.shape[2] - 1) * self.stride - 2 * self.padding + self.weight.shape[2])
        return F.conv_transpose2d(g, self.weight, stride=self.stride, padding=self.padding, output_padding=extra)

    def lin(self, h: torch.Tensor, sel: torch.Tensor | None = None) -> torch.Tensor:
        """Linear part: out_scale * W(pool(in_scale * h))."""
        if self.in_scale is not None:
            h = h * self.in_scale
        u = self._raw(self._pool(h, sel))
        return u * self.out_scale if self.out_scale is not None else u

    def lin_t(self, g: torch.Tensor, sel: torch.Tensor | None = None) -> torch.Tensor:
        """Transpose of :meth:`lin` (vector-Jacobian product), per sample."""
        if self.out_scale is not None:
            g = g * self.out_scale
        v = self._pool_t(self._raw_t(g), sel)
        return v * self.in_scale if self.in_scale is not None else v

    def __call__(self, h: torch.Tensor, sel: torch.Tensor | None = None) -> torch.Tensor:
        return self.lin(h, sel) + self.bias

    def augmented_matrix(self, square: bool = False) -> torch.Tensor:
        """FC only: [W_eff, b_eff] (out x (in + 1)), W_eff = diag(out_scale) W diag(in_scale);
        ``square`` appends the constant node's row [0, 1]: W~ = [[W, b], [0, 1]]."""
        w = self.weight
        if self.in_scale is not None:
            w = w * self.in_scale.reshape(1, -1)
        if self.out_scale is not None:
            w = w * self.out_scale.reshape(-1, 1)
        w = torch.cat([w, self.bias.reshape(-1, 1)], dim=1)
        return torch.cat([w, torch.eye(w.shape[1], dtype=w.dtype)[-1:]], dim=0) if square else w


def with_constant_node(x: torch.Tensor) -> torch.Tensor:
    """Per sample [x; 1] (flattened): a layer's values with the constant bias node appended."""
    return torch.cat([torch.flatten(x, 1), torch.ones(x.shape[0], 1, dtype=x.dtype)], dim=1)


@torch.no_grad()
def effective_layers(net: ReLUNet) -> list[EffectiveLayer]:
    """The network's L+1 linear maps with eval-mode BN folded in (module docstring)."""
    spec = net.spec
    conv = spec.kind == "conv"
    shape = lambda c, s: (c, s, s) if conv else (c,)  # noqa: E731
    chan = (lambda t: t.reshape(-1, 1, 1)) if conv else (lambda t: t)
    layers = []
    in_scale = in_shift = None
    for l, lin in enumerate(net.linears):
        is_head = l == spec.depth
        block = None if is_head else net.hidden[l]
        pool = spec.pool if l > 0 else "none"  # pooling follows every hidden layer, not the input
        out_scale = out_shift = None
        if block is not None and block.placement == "before":
            out_scale, out_shift = (chan(t) for t in eval_bn_affine(block.bn))
        layer = EffectiveLayer(lin.weight.detach(), conv and not is_head, spec.padding, spec.stride,
                               shape(spec.widths[l], spec.map_sizes[l]), shape(spec.widths[l], spec.pooled_sizes[l]),
                               pool, spec.pool_size, in_scale, out_scale, bias=torch.zeros(()))
        raw_bias = lin.bias.detach() if lin.bias is not None else torch.zeros(lin.weight.shape[0],
                                                                                  dtype=lin.weight.dtype)
        raw_bias = chan(raw_bias) if layer.conv else raw_bias
        # BN-after's shift c is constant per channel, so pooling leaves it c: W applied to c on the pooled map
        shifted = layer._raw(in_shift.expand(1, *layer.pooled_shape)) if in_shift is not None else 0.0
        bias = shifted + raw_bias
        if out_scale is not None:
            bias = bias * out_scale + out_shift
        layer.bias = bias.unsqueeze(0) if bias.dim() == (3 if layer.conv else 1) else bias  # batch dim of 1
        layers.append(layer)
        in_scale = in_shift = None
        if block is not None and block.placement == "after":
            in_scale, in_shift = (chan(t) for t in eval_bn_affine(block.bn))
    return layers


@torch.no_grad()
def relu_trace(net: ReLUNet, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Gates f'_l = 1(z_l > 0) and ReLU activations f_l = relu(z_l) of every hidden layer.

    Puts ``net`` in eval mode (BN as a fixed affine map), like every function of this module.
    """
    net.eval()
    trace = net.forward_all(x)
    return trace.gate, [torch.relu(z) for z in trace.pre]


@torch.no_grad()
def pool_selections(net: ReLUNet, x: torch.Tensor) -> list[torch.Tensor | None]:
    """Per effective layer (aligned with :func:`effective_layers`): the max-pool selection applied to
    its input, i.e. the flat index of the maximal entry of every window of the previous hidden
    layer's activation (as PyTorch's forward picks it); None where there is no max pooling."""
    sels: list[torch.Tensor | None] = [None] * (net.spec.depth + 1)
    if net.spec.pool == "max":
        net.eval()
        for l, f in enumerate(net.forward_all(x).act):
            sels[l + 1] = F.max_pool2d(f, net.spec.pool_size, return_indices=True)[1]
    return sels


def _chain_forward(layers: list[EffectiveLayer], gates: list[torch.Tensor], sels: list, h: torch.Tensor,
                   start: int) -> torch.Tensor:
    """W~_L D_{L-1} W~_{L-1} ... D_{start} W~_{start} applied to h~ = [h; 1] (output only)."""
    for k in range(start, len(layers) - 1):
        h = gates[k] * layers[k](h, sels[k])
    return layers[-1](h, sels[-1])


def _chain_backward(layers: list[EffectiveLayer], gates: list[torch.Tensor], sels: list, v: torch.Tensor,
                    stop: int) -> torch.Tensor:
    """W_{stop+1}^T D_{stop+1} ... D_{L-1} W_L^T v (real nodes of layer ``stop``)."""
    v = layers[-1].lin_t(v, sels[-1])
    for k in range(len(layers) - 2, stop, -1):
        v = layers[k].lin_t(gates[k] * v, sels[k])
    return v


def _prepare(student: ReLUNet, teacher: ReLUNet, x: torch.Tensor):
    """Both networks' effective layers, (gates, activations) and pool selections, in eval mode."""
    check_compatible(student, teacher)
    return (effective_layers(student), effective_layers(teacher), relu_trace(student, x), relu_trace(teacher, x),
            pool_selections(student, x), pool_selections(teacher, x))


@torch.no_grad()
def recursive_gradients(student: ReLUNet, teacher: ReLUNet, x: torch.Tensor
                        ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Eq. 2's two terms per hidden layer: (f'_l * B*_l f~*_l, f'_l * B_l f~_l), vectorised over x.

    Eval mode (BN as a fixed affine map). The theorem's g_l is the first minus the second. With
    pooling, W_{l+1} in Eq. 3 includes the pooling of layer l (the student's selection on the
    student side, the teacher's on the teacher side).
    """
    s_layers, t_layers, (s_gate, s_act), (t_gate, t_act), s_sel, t_sel = _prepare(student, teacher, x)
    twice = [torch.cat([g, g]) for g in s_gate]  # gates for the stacked (teacher, student) pass
    twice_sel = [None if q is None else torch.cat([q, q]) for q in s_sel]
    star_terms, own_terms = [], []
    for l in range(student.spec.depth):
        t_out = _chain_forward(t_layers, t_gate, t_sel, t_act[l], l + 1)  # W~*_L D* ... W~*_{l+1} f~*_l
        s_out = _chain_forward(s_layers, s_gate, s_sel, s_act[l], l + 1)
        both = _chain_backward(s_layers, twice, twice_sel, torch.cat([t_out, s_out]), l)
        star, own = both.split(x.shape[0])
        star_terms.append(s_gate[l] * star)
        own_terms.append(s_gate[l] * own)
    return star_terms, own_terms


def autograd_gradients(student: ReLUNet, teacher: ReLUNet, x: torch.Tensor) -> list[torch.Tensor]:
    """g_l = -dJ/dz_l by autograd, J = 1/2 sum_x ||f_out(x) - f*_out(x)||^2 (Eq. 1), eval mode."""
    student.eval()
    teacher.eval()
    with torch.no_grad():
        target = teacher(x)
    with torch.enable_grad():
        trace = student.forward_all(x)
        loss = 0.5 * ((trace.out - target) ** 2).sum()
        grads = torch.autograd.grad(loss, trace.pre) if trace.pre else ()
    return [-g for g in grads]


def relative_residuals(student: ReLUNet, teacher: ReLUNet, x: torch.Tensor) -> torch.Tensor:
    """Per (layer, sample): ||g_thm - g_autograd|| / (||f' B* f~*|| + ||f' B f~||) (0 where both terms are 0).

    Normalising by the two terms' sizes (not by g) keeps the measure meaningful when they cancel.
    """
    star, own = recursive_gradients(student, teacher, x)
    auto = autograd_gradients(student, teacher, x)
    rows = []
    for s, o, a in zip(star, own, auto):
        diff = torch.flatten(s - o - a, 1).norm(dim=1)
        scale = torch.flatten(s, 1).norm(dim=1) + torch.flatten(o, 1).norm(dim=1)
        rows.append(torch.where(scale > 0, diff / torch.where(scale > 0, scale, 1.0), diff))
    return torch.stack(rows) if rows else torch.zeros(0, x.shape[0])


@torch.no_grad()
def beta_matrices(student: ReLUNet, teacher: ReLUNet, x: torch.Tensor
                  ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Explicit Eq. 3 per sample (FC only): for each hidden layer l, (B*_l, B_l) with shapes
    (N, n_l, m_l + 1) and (N, n_l, n_l + 1); the last column is the constant (bias) node."""
    if student.spec.kind != "fc":
        raise InputError(f"student: beta_matrices needs fully connected networks, got kind {student.spec.kind!r}")
    s_layers, t_layers, (s_gate, _), (t_gate, _), _, _ = _prepare(student, teacher, x)
    n = x.shape[0]
    w_top, t_top = s_layers[-1].augmented_matrix(), t_layers[-1].augmented_matrix()
    b_star = (w_top.T @ t_top).expand(n, -1, -1)  # (n_{L-1}+1, m_{L-1}+1): B* at layer L-1, augmented
    b_own = (w_top.T @ w_top).expand(n, -1, -1)
    out = []
    for l in range(student.spec.depth - 1, -1, -1):
        out.append((b_star[:, :-1, :], b_own[:, :-1, :]))
        if l == 0:
            break
        ws, wt = s_layers[l].augmented_matrix(square=True), t_layers[l].augmented_matrix(square=True)
        ds, dt = with_constant_node(s_gate[l]), with_constant_node(t_gate[l])  # f' = 1 at the constant node
        b_star = ws.T @ (ds[:, :, None] * b_star * dt[:, None, :]) @ wt
        b_own = ws.T @ (ds[:, :, None] * b_own * ds[:, None, :]) @ ws
    return out[::-1]


def gaussian_inputs(net: ReLUNet, n: int, seed: int, std: float = 10.0) -> torch.Tensor:
    """n GAUS samples x ~ N(0, std^2 I) (the paper's std 10) shaped for ``net``, drawn by
    :func:`luckbench.datasets.samplers.gaussian_sampler` from ``numpy.random.default_rng(seed)``."""
    x = gaussian_sampler(net.spec.input_dim, std)(n, np.random.default_rng(seed))
    return net.prepare_input(torch.from_numpy(x))


CONV_VARIANTS = {  # conv geometries the check covers besides the fully connected pair
    "conv": dict(image_size=6, padding=1),
    "conv_strided": dict(image_size=9, padding=1, stride=2),
    "conv_maxpool": dict(image_size=10, padding=1, pool="max"),
    "conv_avgpool": dict(image_size=10, padding=1, pool="avg"),
}
CONV_SAMPLES = 8


def check(setup) -> Verdict:
    """Theorem 1 on the setup's FC teacher/student and on conv pairs with the same channel widths:
    3x3 padded, strided, max-pooled and average-pooled (:data:`CONV_VARIANTS`)."""
    tol = TOLERANCE[setup.dtype]
    common = dict(bias=setup.bias, bn=setup.bn, dtype=setup.dtype)
    details: dict = {"form": "Eq. 2-3 with a constant bias node; BN in eval mode folded as an affine map; "
                             "pooling as its (per-sample) linear map",
                     "bn": setup.bn, "n_samples": 64, "n_samples_conv": CONV_SAMPLES,
                     "conv_layout": "3x3 kernels; " + "; ".join(f"{k}: {v}" for k, v in CONV_VARIANTS.items())}
    worst = 0.0
    variants = {"fc": dict(kind="fc"), **{k: dict(kind="conv", **v) for k, v in CONV_VARIANTS.items()}}
    for name, extra in variants.items():
        teacher, student = teacher_student(setup.teacher, setup.student_widths, seed=setup.seed, **common, **extra)
        x = gaussian_inputs(student, 64 if name == "fc" else CONV_SAMPLES, setup.seed + 10, setup.sigma)
        res = relative_residuals(student, teacher, x)
        per_layer = res.max(dim=1).values.tolist() if res.numel() else []
        details[f"{name}_max_rel_residual_per_layer"] = per_layer
        worst = max([worst, *per_layer])
    return Verdict(name="theorem1",
                   statement="per sample g_l = f'_l (B*_l f*_l - B_l f_l) with B from Eq. 3 equals autograd's -dJ/dz_l",
                   kind="exact", holds=bool(worst <= tol), value=worst, bound=0.0, tolerance=tol, details=details)
