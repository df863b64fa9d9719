"""Teacher and student ReLU networks (fully connected or convolutional) with every layer exposed.

These are the networks of the paper's teacher-student setting (Sec. 2, Fig. 1(a)); the theory
checks (Theorem 1, Assumption 1, Lemma 1, Theorem 3) and ``luckbench.empirical`` use them.

Architecture (:class:`NetSpec` -> :class:`ReLUNet`)
---------------------------------------------------
``widths = (input, hidden_1, ..., hidden_L, output)``. Each hidden layer ``l`` is a
:class:`Block` with ``block.linear`` (``nn.Linear``, or ``nn.Conv2d`` for ``kind="conv"``) and
``block.bn`` (:class:`BatchNorm1d`/:class:`BatchNorm2d`: PyTorch's BN, also trainable with
eps = 0; or ``None``), in one of three placements:

* ``bn="none"``   : z = linear(h);          f = relu(z)
* ``bn="before"`` : z = bn(linear(h));      f = relu(z)          (Linear -> BN -> ReLU)
* ``bn="after"``  : z = linear(h);          f = bn(relu(z))      (Linear -> ReLU -> BN, the paper's)

``z`` is the pre-activation (the ReLU's input), ``f'`` = 1(z > 0) the gate and ``f`` the
activation fed to the next layer. ``head`` is the final linear map to the outputs (not widened,
no ReLU, no BN), so the top layer is linear as in Eq. 1.

Convolutional layout (``kind="conv"``): ``widths = (C_in, ch_1, ..., ch_L, outputs)``, the input
is ``(N, C_in, image_size, image_size)`` (a flat ``(N, C_in*image_size**2)`` input is reshaped).
Every hidden layer is a ``kernel_size`` x ``kernel_size`` convolution with ``stride`` and
``padding`` zeros on each side (defaults 3, 1 and 0, so a 16x16 map shrinks 16 -> 14 -> 12 -> 10 -> 8
over the paper's four 64-channel layers), optionally followed (after its ReLU and BN) by
``pool`` = "max" or "avg" pooling with window and stride ``pool_size`` (default: no pooling). The
head is an ``nn.Linear`` on the flattened last (pooled) map (channel-major, ``torch.flatten``). The reference material fixes only "64-64-64-64 channels on
1x16x16 inputs", so the kernel/padding choice is ours and configurable.

Initialisations
---------------
* :func:`teacher_init_`: the paper's scheme (Sec. 4.2): every weight entry from
  {-0.5, -0.25, 0, 0.25, 0.5}, rows (filters) non-zero and mutually distinct within a layer,
  biases U[-0.5, 0.5]; then, like the authors' ``teacher.normalize()``, each row scaled to unit
  norm with its bias included (``normalize=True``). Applied to every hidden layer and the head;
  BN parameters keep their defaults (weight 1, bias 0).
* :func:`student_init_`: PyTorch's default Linear/Conv2d init (U(+-1/sqrt(fan_in)) for weight
  and bias) drawn from the given generator; or, with ``teacher=``, near-teacher: in every layer
  the student's first ``m_l`` units copy the teacher's units (their weights from the teacher's
  inputs, and their biases) plus ``perturb`` times Gaussian noise whose per-row scale is the
  teacher row's norm divided by sqrt(fan_in); their weights from the extra (non-teacher) student
  inputs are ``perturb``-scaled noise of the same scale. The head copies the teacher's head the
  same way. With ``perturb=0`` the student computes exactly the teacher's function.

``generator`` is a ``torch.Generator`` (CPU) or an ``int`` seed; every random draw is made on the
CPU and then copied into the parameters, so the inits are deterministic and give the same
weights whichever device the network lives on.

API
---
* ``NetSpec(widths, kind="fc", bias=True, bn="none", bn_eps=1e-5, bn_affine=True, image_size=16,
  dtype="float32", kernel_size=3, padding=0, stride=1, pool="none", pool_size=2)``; bad fields
  raise ``InputError`` naming the field. Properties ``depth`` (hidden layers), ``torch_dtype``,
  ``map_sizes`` (conv map side per layer, before pooling), ``pooled_sizes`` (after pooling),
  ``input_dim`` (scalars per sample); ``widened(k)`` multiplies every hidden width by k.
* ``ReLUNet(spec)``: ``hidden`` (ModuleList of :class:`Block`: ``.linear``, ``.bn``,
  ``.placement``, ``.trace(h) -> (z, gate, f)``), ``head``, ``linears`` (hidden linears + head),
  ``prepare_input(x)`` (dtype cast, conv reshape), ``forward(x)``, ``forward_all(x) -> NetTrace``.
* ``NetTrace(pre, gate, act, out)``: per hidden layer z, 1(z>0), f (after BN for "after"); output.
* ``teacher_init_(net, generator, *, normalize=True)``, ``student_init_(net, generator, *,
  teacher=None, perturb=0.0)``, ``randomize_bn_(net, generator)`` (non-trivial BN statistics and
  affine parameters, for checks): in place, return ``net``.
* ``teacher_student(teacher_widths, student_widths, *, seed=0, **spec_fields)``: a paper-scheme
  teacher (seed) and a default student (seed + 1), BN statistics randomised.
* ``check_compatible(student, teacher)``: same kind, depth, input/output widths, conv geometry.
* ``as_generator(generator)``, ``batch_norm_train(x, weight, bias, eps)`` (BN forward, eps >= 0),
  ``eval_bn_affine(bn) -> (a, c)`` (eval-mode BN as y = a*u + c; Theorem 1 and the metrics fold it).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import nn

from luckbench.errors import InputError
from luckbench.theory.teacher_scheme import distinct_rows

DTYPES = {"float32": torch.float32, "float64": torch.float64}
BN_PLACEMENTS = ("none", "before", "after")
KINDS = ("fc", "conv")
POOLS = ("none", "max", "avg")


@dataclasses.dataclass(frozen=True)
class NetSpec:
    """Architecture of a teacher or student network (see the module docstring)."""

    widths: tuple[int, ...]  # input, hidden..., output (conv: channels, input channels first)
    kind: str = "fc"  # "fc" | "conv"
    bias: bool = True
    bn: str = "none"  # "none" | "before" (Linear->BN->ReLU) | "after" (Linear->ReLU->BN)
    bn_eps: float = 1e-5  # 0 allowed
    bn_affine: bool = True
    image_size: int = 16  # conv only: input is (C, image_size, image_size)
    dtype: str = "float32"  # "float32" | "float64"
    kernel_size: int = 3  # conv only
    padding: int = 0  # conv only
    stride: int = 1  # conv only
    pool: str = "none"  # conv only: "none" | "max" | "avg" pooling after every hidden layer
    pool_size: int = 2  # conv only: pooling window and stride

    def __post_init__(self):
        try:
            widths = tuple(int(w) for w in self.widths)
        except (TypeError, ValueError):
            raise InputError(f"widths: expected a sequence of integers, got {self.widths!r}") from None
        if len(widths) < 2:
            raise InputError(f"widths: need at least an input and an output width, got {widths}")
        if any(w <= 0 for w in widths):
            raise InputError(f"widths: every width must be positive, got {widths}")
        object.__setattr__(self, "widths", widths)
        if self.kind not in KINDS:
            raise InputError(f"kind: expected one of {KINDS}, got {self.kind!r}")
        if self.bn not in BN_PLACEMENTS:
            raise InputError(f"bn: expected one of {BN_PLACEMENTS}, got {self.bn!r}")
        if self.dtype not in DTYPES:
            raise InputError(f"dtype: expected one of {tuple(DTYPES)}, got {self.dtype!r}")
        if not (self.bn_eps >= 0 and math.isfinite(self.bn_eps)):
            raise InputError(f"bn_eps: must be a finite number >= 0, got {self.bn_eps!r}")
        if self.pool not in POOLS:
            raise InputError(f"pool: expected one of {POOLS}, got {self.pool!r}")
        if self.kind == "conv":
            if self.kernel_size <= 0 or self.padding < 0 or self.image_size <= 0:
                raise InputError("kernel_size/padding/image_size: need kernel_size > 0, padding >= 0, image_size > 0")
            if self.stride <= 0 or self.pool_size <= 0:
                raise InputError(f"stride/pool_size: must be positive, got {self.stride} and {self.pool_size}")
            if min(self.map_sizes) <= 0 or min(self.pooled_sizes) <= 0:
                raise InputError(f"image_size: {self.image_size} is too small for {self.depth} "
                                 f"{self.kernel_size}x{self.kernel_size} convolutions with padding {self.padding}, "
                                 f"stride {self.stride} and pooling {self.pool!r}")
        elif self.pool != "none":
            raise InputError("pool: pooling needs kind='conv'")

    @property
    def depth(self) -> int:
        """Number of hidden (ReLU) layers."""
        return len(self.widths) - 2

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def map_sizes(self) -> tuple[int, ...]:
        """Conv: spatial side of the input and of every hidden layer's map (before pooling); fc: all 1."""
        if self.kind != "conv":
            return (1,) * (self.depth + 1)
        sizes = [self.image_size]
        for _ in range(self.depth):
            side = sizes[-1] if len(sizes) == 1 else self._pooled(sizes[-1])
            sizes.append((side + 2 * self.padding - self.kernel_size) // self.stride + 1)
        return tuple(sizes)

    @property
    def pooled_sizes(self) -> tuple[int, ...]:
        """Spatial side of what the next layer reads: the input, then every hidden map after pooling."""
        sizes = self.map_sizes
        return (sizes[0], *(self._pooled(s) for s in sizes[1:]))

    def _pooled(self, side: int) -> int:
        return side if self.pool == "none" else side // self.pool_size

    @property
    def input_dim(self) -> int:
        """Number of scalar inputs per sample (conv: C_in * image_size**2)."""
        return self.widths[0] * self.map_sizes[0] ** 2

    def widened(self, factor: int) -> "NetSpec":
        """The same architecture with every hidden width multiplied by ``factor`` (a 10x student)."""
        if int(factor) <= 0:
            raise InputError(f"factor: must be a positive integer, got {factor!r}")
        w = self.widths
        return dataclasses.replace(self, widths=(w[0], *(int(factor) * x for x in w[1:-1]), w[-1]))


def batch_norm_train(x: torch.Tensor, weight, bias, eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training-mode BN over all dims but the channel dim 1, eps >= 0 allowed (PyTorch refuses 0):
    (y, batch mean, biased batch variance), y = weight (x - mean)/sqrt(var + eps) + bias."""
    dims = [0, *range(2, x.dim())]
    mean = x.mean(dims)
    var = x.var(dims, unbiased=False)
    shape = (1, -1, *([1] * (x.dim() - 2)))
    y = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y, mean, var


def eval_bn_affine(bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BatchNorm as the per-channel affine map y = a*u + c it is (running statistics):
    a = gamma / sqrt(var + eps), c = beta - a*mean (gamma = 1, beta = 0 when not affine)."""
    a = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        a = a * bn.weight
    c = -a * bn.running_mean
    if bn.bias is not None:
        c = c + bn.bias
    return a, c


class _ZeroEpsMixin:
    """BatchNorm that also trains with eps = 0 (PyTorch's own kernel requires eps > 0).

    Same parameters, buffers and state-dict keys as ``nn.BatchNorm1d/2d``; with eps > 0 it is
    exactly PyTorch's BN; with eps = 0 training mode uses :func:`batch_norm_train` and updates the
    running statistics as PyTorch does (momentum, unbiased running variance).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.eps > 0 or not self.training:
            return super().forward(x)
        y, mean, var = batch_norm_train(x, self.weight, self.bias, 0.0)
        if self.track_running_stats:
            with torch.no_grad():
                n = x.numel() // x.shape[1]
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(m * mean)
                self.running_var.mul_(1 - m).add_(m * var * n / max(n - 1, 1))
        return y


class BatchNorm1d(_ZeroEpsMixin, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` that accepts eps = 0 in training mode."""


class BatchNorm2d(_ZeroEpsMixin, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` that accepts eps = 0 in training mode."""


@dataclasses.dataclass
class NetTrace:
    """Per hidden layer: pre-activation z, gate 1(z>0), activation f (after BN if bn="after", before
    pooling); and the output."""

    pre: list[torch.Tensor]
    gate: list[torch.Tensor]
    act: list[torch.Tensor]
    out: torch.Tensor


class Block(nn.Module):
    """One hidden layer: ``linear`` then BN/ReLU in the order ``placement`` says."""

    def __init__(self, linear: nn.Module, bn: nn.Module | None, placement: str, pool: nn.Module | None = None):
        super().__init__()
        self.linear = linear
        self.bn = bn
        self.placement = placement
        self.pool = pool

    def _pre_and_activation(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.linear(h)
        if self.placement == "before":
            z = self.bn(z)
        f = torch.relu(z)
        if self.placement == "after":
            f = self.bn(f)
        return z, f

    def trace(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(pre-activation z, gate 1(z>0), activation f before pooling) for input h."""
        z, f = self._pre_and_activation(h)
        return z, (z > 0).to(z.dtype), f

    def pooled(self, f: torch.Tensor) -> torch.Tensor:
        """What the next layer reads: f after the pooling, if any."""
        return f if self.pool is None else self.pool(f)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.pooled(self._pre_and_activation(h)[1])  # no gate tensor on the training path


class ReLUNet(nn.Module):
    """A ReLU network built from a :class:`NetSpec`: ``hidden`` blocks then a linear ``head``."""

    def __init__(self, spec: NetSpec):
        super().__init__()
        if not isinstance(spec, NetSpec):
            raise InputError(f"spec: expected a NetSpec, got {type(spec).__name__}")
        self.spec = spec
        w = spec.widths
        blocks = []
        for l in range(spec.depth):
            pool = None
            if spec.kind == "conv":
                lin = nn.Conv2d(w[l], w[l + 1], spec.kernel_size, stride=spec.stride, padding=spec.padding,
                                bias=spec.bias)
                bn = BatchNorm2d(w[l + 1], eps=spec.bn_eps, affine=spec.bn_affine)
                pool = {"none": None, "max": nn.MaxPool2d(spec.pool_size),
                        "avg": nn.AvgPool2d(spec.pool_size)}[spec.pool]
            else:
                lin = nn.Linear(w[l], w[l + 1], bias=spec.bias)
                bn = BatchNorm1d(w[l + 1], eps=spec.bn_eps, affine=spec.bn_affine)
            blocks.append(Block(lin, None if spec.bn == "none" else bn, spec.bn, pool))
        self.hidden = nn.ModuleList(blocks)
        head_in = w[-2] * spec.pooled_sizes[-1] ** 2
        self.head = nn.Linear(head_in, w[-1], bias=spec.bias)
        self.to(spec.torch_dtype)

    @property
    def linears(self) -> list[nn.Module]:
        """Every linear map in order: the hidden layers' ``linear`` then ``head``."""
        return [b.linear for b in self.hidden] + [self.head]

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        """Cast to the network's dtype; conv nets accept flat (N, C*S*S) inputs and reshape them."""
        x = torch.as_tensor(x).to(self.spec.torch_dtype)
        if self.spec.kind == "conv" and x.dim() == 2:
            s = self.spec.map_sizes[0]
            if x.shape[1] != self.spec.input_dim:
                raise InputError(f"x: expected {self.spec.input_dim} features per sample, got {x.shape[1]}")
            x = x.reshape(x.shape[0], self.spec.widths[0], s, s)
        return x

    def head_input(self, h: torch.Tensor) -> torch.Tensor:
        return torch.flatten(h, 1) if self.spec.kind == "conv" else h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.prepare_input(x)
        for block in self.hidden:
            h = block(h)
        return self.head(self.head_input(h))

    def forward_all(self, x: torch.Tensor) -> NetTrace:
        """Forward pass that keeps every hidden layer's pre-activation, gate and activation."""
        h = self.prepare_input(x)
        pre, gate, act = [], [], []
        for block in self.hidden:
            z, g, f = block.trace(h)
            pre.append(z)
            gate.append(g)
            act.append(f)
            h = block.pooled(f)
        return NetTrace(pre, gate, act, self.head(self.head_input(h)))


def as_generator(generator: torch.Generator | int) -> torch.Generator:
    """A CPU ``torch.Generator``: the one given, or a new one seeded with the given int."""
    if isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, bool) or not isinstance(generator, int):
        raise InputError(f"generator: expected a torch.Generator or an int seed, got {generator!r}")
    return torch.Generator().manual_seed(int(generator))


def _distinct_rows(n_rows: int, n_cols: int, gen: torch.Generator) -> torch.Tensor:
    """The paper's distinct non-zero rows (:func:`teacher_scheme.distinct_rows`), seeded from ``gen``."""
    rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=gen)))
    return torch.from_numpy(distinct_rows(rng, n_rows, n_cols))


@torch.no_grad()
def teacher_init_(net: ReLUNet, generator: torch.Generator | int, *, normalize: bool = True) -> ReLUNet:
    """The paper's teacher (Sec. 4.2): entries from {+-0.5, +-0.25, 0}, distinct non-zero rows,
    biases U[-0.5, 0.5], and (``normalize``) each row (w_j, b_j) scaled to unit norm. In place."""
    gen = as_generator(generator)
    for lin in net.linears:
        out_dim = lin.weight.shape[0]
        fan_in = lin.weight[0].numel()
        w = _distinct_rows(out_dim, fan_in, gen)
        b = torch.rand(out_dim, generator=gen, dtype=torch.float64) - 0.5 if lin.bias is not None else None
        if normalize:
            sq = (w ** 2).sum(1) + (b ** 2 if b is not None else 0.0)
            scale = sq.sqrt()
            w = w / scale[:, None]
            b = b / scale if b is not None else None
        lin.weight.copy_(w.reshape(lin.weight.shape))
        if b is not None:
            lin.bias.copy_(b)
    return net


def _default_init_(lin: nn.Module, gen: torch.Generator) -> None:
    """PyTorch's default Linear/Conv2d init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), from ``gen``."""
    bound = 1.0 / math.sqrt(lin.weight[0].numel())
    for p in (lin.weight, lin.bias):
        if p is not None:  # drawn on the CPU generator, then copied (works for parameters on any device)
            p.copy_(torch.empty(p.shape, dtype=p.dtype).uniform_(-bound, bound, generator=gen))


def _noise(shape, scale: torch.Tensor, gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """Gaussian noise with a per-row (dim 0) standard deviation ``scale``, dtype/device of ``like``."""
    z = torch.randn(shape, generator=gen, dtype=torch.float64)
    return (z * scale.detach().cpu().double().reshape(-1, *([1] * (len(shape) - 1)))).to(like)


def check_compatible(student: ReLUNet | NetSpec, teacher: ReLUNet | NetSpec) -> None:
    """InputError unless the two networks share kind, depth, input/output widths and conv geometry."""
    s = student.spec if isinstance(student, ReLUNet) else student
    t = teacher.spec if isinstance(teacher, ReLUNet) else teacher
    if s.kind != t.kind or s.depth != t.depth:
        raise InputError(f"teacher/student: depth or kind differ (teacher {t.widths} {t.kind}, "
                         f"student {s.widths} {s.kind})")
    if s.widths[0] != t.widths[0] or s.widths[-1] != t.widths[-1]:
        raise InputError(f"teacher/student: input and output widths must agree (teacher {t.widths}, "
                         f"student {s.widths})")
    if s.map_sizes != t.map_sizes or s.pooled_sizes != t.pooled_sizes:
        raise InputError("teacher/student: conv geometry (image_size, kernel_size, padding, stride, pooling) differs")


def _check_pair(student: ReLUNet, teacher: ReLUNet) -> None:
    check_compatible(student, teacher)
    if any(ws < wt for ws, wt in zip(student.spec.widths, teacher.spec.widths)):
        raise InputError("teacher: every teacher layer must be at most as wide as the student's")


@torch.no_grad()
def student_init_(net: ReLUNet, generator: torch.Generator | int, *, teacher: ReLUNet | None = None,
                  perturb: float = 0.0) -> ReLUNet:
    """Default PyTorch init; with ``teacher``, near-teacher init (module docstring). In place."""
    gen = as_generator(generator)
    for lin in net.linears:
        _default_init_(lin, gen)
    if teacher is None:
        return net
    _check_pair(net, teacher)
    if not (perturb >= 0 and math.isfinite(perturb)):
        raise InputError(f"perturb: must be a finite number >= 0, got {perturb!r}")
    spatial = net.spec.map_sizes[-1] ** 2
    for l, (ls, lt) in enumerate(zip(net.linears, teacher.linears)):
        ws, wt = ls.weight, lt.weight.to(ls.weight)
        m = wt.shape[0]
        if l == net.spec.depth:  # head: columns are (channel, position) blocks, channel-major
            ws = ws.view(ws.shape[0], -1, spatial)
            wt = wt.reshape(m, -1, spatial)
        m_in = wt.shape[1]
        scale = perturb * wt.reshape(m, -1).norm(dim=1) / math.sqrt(ws[0].numel())
        new = _noise((m, *ws.shape[1:]), scale, gen, ws)
        new[:, :m_in] += wt
        ws[:m] = new
        if ls.bias is not None:
            bt = lt.bias.to(ls.bias) if lt.bias is not None else torch.zeros_like(ls.bias[:m])
            ls.bias[:m] = bt + _noise((m,), scale, gen, ls.bias)
    for bs, bt in zip(net.hidden, teacher.hidden):
        if bs.bn is not None and bt.bn is not None:
            m = bt.bn.num_features
            for name in ("weight", "bias", "running_mean", "running_var"):
                ps, pt = getattr(bs.bn, name), getattr(bt.bn, name)
                if ps is not None and pt is not None:
                    ps[:m] = pt.to(ps)
    return net


@torch.no_grad()
def randomize_bn_(net: ReLUNet, generator: torch.Generator | int) -> ReLUNet:
    """Give every BN layer non-trivial eval-mode statistics and affine parameters (for checks):
    running_mean ~ N(0, 0.5^2), running_var ~ U[0.5, 2], weight ~ U[0.5, 1.5], bias ~ U[-0.5, 0.5]."""
    gen = as_generator(generator)
    for block in net.hidden:
        bn = block.bn
        if bn is None:
            continue
        n = bn.num_features
        draws = {"running_mean": 0.5 * torch.randn(n, generator=gen, dtype=torch.float64),
                 "running_var": 0.5 + 1.5 * torch.rand(n, generator=gen, dtype=torch.float64),
                 "weight": 0.5 + torch.rand(n, generator=gen, dtype=torch.float64),
                 "bias": torch.rand(n, generator=gen, dtype=torch.float64) - 0.5}
        for name, value in draws.items():
            target = getattr(bn, name)
            if target is not None:
                target.copy_(value.to(target.dtype))
    return net


def teacher_student(teacher: tuple[int, ...], student: tuple[int, ...], *, seed: int = 0, **spec_kwargs
                    ) -> tuple[ReLUNet, ReLUNet]:
    """A paper-scheme teacher and a default-initialised student (seeds ``seed`` and ``seed + 1``).

    ``spec_kwargs`` are the shared :class:`NetSpec` fields (kind, bias, bn, dtype, ...). BN layers,
    if any, get random statistics (:func:`randomize_bn_`, seeds ``seed + 2`` for the teacher and
    ``seed + 3`` for the student) so eval-mode BN is a non-trivial affine map.
    """
    t_net = ReLUNet(NetSpec(tuple(teacher), **spec_kwargs))
    s_net = ReLUNet(NetSpec(tuple(student), **spec_kwargs))
    check_compatible(s_net, t_net)
    teacher_init_(t_net, seed)
    student_init_(s_net, seed + 1)
    randomize_bn_(t_net, seed + 2)
    randomize_bn_(s_net, seed + 3)
    return t_net, s_net
