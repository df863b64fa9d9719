"""BatchNorm-bias audit: the paper's support for Assumption 3 (Sec. 4.1, Fig. 6 and Fig. 16).

In a Conv -> BN -> ReLU block the BN output is y = gamma * z_hat + beta, with z_hat the
per-channel standardised pre-activation. A negative bias beta lets few inputs pass the ReLU,
which makes the teacher nodes' activation regions overlap little (Assumption 3).

Per BN layer, in module or file order (``layer`` dimension, coordinate = module name such as
``features.1``, or the parameter prefix of a weight file; further coordinates ``layer_index``,
``depth`` = (index + 0.5) / n_layers, ``group`` and ``next_op``, see :class:`BNLayer`), the
stored dataset (``result_kind = "bn_audit"``) has:

* ``n_channels``; ``n_negative`` (beta < 0), ``n_zero`` (beta == 0), ``n_positive`` (beta > 0);
  ``frac_negative = n_negative / n_channels``;
* ``frac_nonpositive = (n_negative + n_zero) / n_channels``: the authors' convention
  (``check_models.py`` counts ``bias > 0`` against the rest, so zeros count as negative) and the
  quantity of the published per-layer percentages;
* ``n_near_zero``: |beta| < ``near_zero_tol`` (attribute);
* ``n_gamma_negative``, ``n_gamma_zero``, ``n_gamma_positive``: the sign of the BN weight gamma
  (gamma < 0 flips the unit, so beta alone does not fix which side of the ReLU it favours);
* ``p_pass_mean``: mean over channels of P(y > 0) = Phi(beta / |gamma|) under the Gaussian
  approximation z_hat ~ N(0, 1) (beyond the paper; this is what Assumption 3 is about);
* ``feeds_relu``: 1 where the BN output goes straight into a ReLU, 0 where it does not (ResNet BN
  layers whose output is first added to the shortcut, MobileNet BN layers feeding a hard-swish:
  there ``p_pass_mean`` is not a ReLU pass rate), -1 where the file does not say (a bare state dict);
* ``bias(layer, channel)``, ``gamma(layer, channel)``: the raw values as float32, padded with
  NaN beyond each layer's ``n_channels`` (ragged layout; the figures read these);
* where published numbers exist (``PUBLISHED_PCT_NONPOSITIVE``): ``published_frac_nonpositive``,
  ``diff_frac_nonpositive`` (ours - published) and ``matches_published`` (1 when ours, in percent,
  rounds to the published two-decimal value).

Attributes: ``result_kind``, ``arch`` (``--arch``, else ""), ``near_zero_tol``; ``luckbench audit
bn`` adds ``label`` (the model, arch or file name), ``model`` (``--model`` name, else ""),
``source_package`` (``name==version``, else ""), ``sha256`` (of the weight file), ``weights``
(path or URL), ``format`` (torch | onnx), ``discovery`` (arch | state_dict | onnx) and
``skipped_tensors``.

Network totals are 0-d variables: ``total_channels``, ``total_negative``, ``total_zero``,
``total_positive``, ``total_near_zero``, ``total_gamma_negative``, ``total_frac_negative``,
``total_frac_nonpositive``, ``total_p_pass_mean`` (over all channels), ``total_p_pass_relu``
(over channels of ``feeds_relu`` layers) and, with published numbers,
``total_published_frac_nonpositive`` (channel-weighted).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr
from scipy.special import ndtr

from luckbench.errors import InputError

if TYPE_CHECKING:  # torch is imported where a model is audited, so the report layer can read
    from torch import nn  # PUBLISHED_PCT_NONPOSITIVE without paying for torch

DEFAULT_NEAR_ZERO_TOL = 1e-3
UNKNOWN_OP = "unknown"

# Percentage of BN biases <= 0 per BN layer in module order, torchvision ImageNet weights, from
# the authors' later notebook (facebookresearch/luckmatters); see docs/experiments.md.
PUBLISHED_PCT_NONPOSITIVE: dict[str, tuple[float, ...]] = {
    "vgg19_bn": (81.25, 54.69, 71.88, 64.84, 75.39, 76.17, 77.34, 89.45, 98.05, 97.07,
                 96.48, 99.22, 99.22, 99.41, 99.22, 100.00),
    "resnet18": (26.56, 50.00, 51.56, 68.75, 59.38, 85.94, 43.75, 43.75, 100.00, 87.50,
                 89.84, 58.20, 58.20, 98.44, 86.72, 99.41, 99.02, 99.02, 99.02, 0.00),
}
PUBLISHED_SOURCE = ("Tian et al., luckmatters notebook: % of BN biases <= 0 per BN layer, "
                    "torchvision ImageNet weights")


def pass_probability(beta: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """P(gamma * z + beta > 0) for z ~ N(0, 1): Phi(beta / |gamma|); for gamma == 0, 1[beta > 0]."""
    beta = np.asarray(beta, dtype=np.float64)
    gamma = np.abs(np.asarray(gamma, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(gamma > 0, beta / np.where(gamma > 0, gamma, 1.0),
                         np.where(beta > 0, np.inf, -np.inf))
    return ndtr(ratio)


@dataclass(frozen=True)
class BNLayer:
    """One BN layer found in a network or a weight file: its bias beta and weight gamma (float64).

    ``next_op`` names what consumes the BN output (``"Relu"``, ``"Add"`` for a residual sum,
    ``"HardSwish"``, several joined by ``+``; ``"unknown"`` when a bare state dict cannot tell);
    ``group`` is a part of the network (``"backbone"`` / ``"head"`` for CRAFT; the top-level
    module otherwise; ``""`` when unknown).
    """

    name: str
    beta: np.ndarray
    gamma: np.ndarray
    next_op: str = UNKNOWN_OP
    group: str = ""


def feeds_relu(next_op: str) -> int:
    """1 when a ReLU consumes the BN output directly, 0 when the consumers are known and none is, -1 unknown."""
    if next_op == UNKNOWN_OP:
        return -1
    return int("Relu" in next_op.split("+"))


def model_layers(model: nn.Module) -> list[BNLayer]:
    """The affine BN layers of an in-house architecture, in module order; InputError on NaN/inf."""
    from luckbench.empirical.architectures import bn_layers, residual_bn_names

    residual = residual_bn_names(model)
    out = []
    for name, bn in bn_layers(model):
        if bn.bias is None or bn.weight is None:
            raise InputError(f"BN layer {name} has no affine bias/weight to audit")
        out.append(BNLayer(name, bn.bias.detach().double().cpu().numpy(), bn.weight.detach().double().cpu().numpy(),
                           "Add" if name in residual else "Relu", name.split(".")[0]))
    return out


def audit(model: nn.Module, arch: str, near_zero_tol: float = DEFAULT_NEAR_ZERO_TOL) -> xr.Dataset:
    """Per-layer and total BN-bias statistics of ``model`` (see the module docstring)."""
    return audit_layers(model_layers(model), arch, near_zero_tol)


def audit_layers(layers: list[BNLayer], arch: str = "", near_zero_tol: float = DEFAULT_NEAR_ZERO_TOL) -> xr.Dataset:
    """Per-layer and total BN-bias statistics of ``layers`` (see the module docstring)."""
    if not (np.isfinite(near_zero_tol) and near_zero_tol >= 0):
        raise InputError(f"--tol: must be a finite number >= 0, got {near_zero_tol}")
    if not layers:
        raise InputError("the model has no BatchNorm layers to audit")
    for layer in layers:
        if not (np.isfinite(layer.beta).all() and np.isfinite(layer.gamma).all()):
            raise InputError(f"non-finite BN parameters in {layer.name}")
    names = [layer.name for layer in layers]
    width = max(layer.beta.size for layer in layers)
    bias = np.full((len(layers), width), np.nan, dtype=np.float32)
    gamma = np.full_like(bias, np.nan)
    p_pass = np.full((len(layers), width), np.nan)
    for i, layer in enumerate(layers):
        b, g = layer.beta, layer.gamma
        bias[i, : b.size], gamma[i, : g.size], p_pass[i, : b.size] = b, g, pass_probability(b, g)

    def count(values: list[np.ndarray]) -> np.ndarray:
        return np.array([int(v.sum()) for v in values], dtype=np.int64)

    n_channels = np.array([layer.beta.size for layer in layers], dtype=np.int64)
    betas = [layer.beta for layer in layers]
    gammas = [layer.gamma for layer in layers]
    n_negative, n_zero = count([b < 0 for b in betas]), count([b == 0 for b in betas])
    relu = np.array([feeds_relu(layer.next_op) for layer in layers], dtype=np.int8)
    per_layer = {
        "n_channels": n_channels,
        "n_negative": n_negative,
        "n_zero": n_zero,
        "n_positive": count([b > 0 for b in betas]),
        "frac_negative": n_negative / n_channels,
        "frac_nonpositive": (n_negative + n_zero) / n_channels,
        "n_near_zero": count([np.abs(b) < near_zero_tol for b in betas]),
        "n_gamma_negative": count([g < 0 for g in gammas]),
        "n_gamma_zero": count([g == 0 for g in gammas]),
        "n_gamma_positive": count([g > 0 for g in gammas]),
        "p_pass_mean": np.nanmean(p_pass, axis=1),
        "feeds_relu": relu,
    }
    ds = xr.Dataset(
        {key: ("layer", value) for key, value in per_layer.items()},
        coords={"layer": names, "layer_index": ("layer", np.arange(len(names))),
                "depth": ("layer", (np.arange(len(names)) + 0.5) / len(names)),
                "group": ("layer", [layer.group for layer in layers]),
                "next_op": ("layer", [layer.next_op for layer in layers]),
                "channel": np.arange(width)},
    )
    ds["bias"] = (("layer", "channel"), bias)
    ds["gamma"] = (("layer", "channel"), gamma)
    relu_rows = p_pass[relu == 1]
    totals = {
        "total_channels": int(n_channels.sum()),
        "total_negative": int(n_negative.sum()),
        "total_zero": int(n_zero.sum()),
        "total_positive": int(ds["n_positive"].sum()),
        "total_near_zero": int(ds["n_near_zero"].sum()),
        "total_gamma_negative": int(ds["n_gamma_negative"].sum()),
        "total_frac_negative": float(n_negative.sum() / n_channels.sum()),
        "total_frac_nonpositive": float((n_negative + n_zero).sum() / n_channels.sum()),
        "total_p_pass_mean": float(np.nanmean(p_pass)),
        "total_p_pass_relu": float(np.nanmean(relu_rows)) if relu_rows.size else float("nan"),
    }
    for key, value in totals.items():
        ds[key] = value
    _describe(ds)
    ds.attrs.update({"result_kind": "bn_audit", "arch": arch, "near_zero_tol": float(near_zero_tol)})
    if arch in PUBLISHED_PCT_NONPOSITIVE:
        add_published(ds, arch)
    return ds


def add_published(ds: xr.Dataset, arch: str) -> None:
    """Add the published per-layer fractions of BN biases <= 0 and the comparison with ours."""
    published = np.asarray(PUBLISHED_PCT_NONPOSITIVE[arch], dtype=np.float64) / 100.0
    if published.size != ds.sizes["layer"]:
        raise InputError(f"{arch}: {ds.sizes['layer']} BN layers, but {published.size} published values")
    ours = ds["frac_nonpositive"].values
    ds["published_frac_nonpositive"] = ("layer", published)
    ds["diff_frac_nonpositive"] = ("layer", ours - published)
    ds["matches_published"] = ("layer", (np.abs(100 * ours - 100 * published) <= 0.005 + 1e-9).astype(np.int8))
    n = ds["n_channels"].values
    ds["total_published_frac_nonpositive"] = float((published * n).sum() / n.sum())
    for key, text in (("published_frac_nonpositive", "published fraction of BN biases <= 0"),
                      ("diff_frac_nonpositive", "frac_nonpositive minus the published fraction"),
                      ("matches_published", "1 if ours rounds to the published two-decimal percentage"),
                      ("total_published_frac_nonpositive", "published fraction of BN biases <= 0, channel-weighted")):
        ds[key].attrs.update({"long_name": text, "units": "1"})
    ds.attrs["published_source"] = PUBLISHED_SOURCE


def _describe(ds: xr.Dataset) -> None:
    """``long_name`` and ``units`` ("1": counts, fractions and probabilities) on every variable and coordinate."""
    long_names = {
        "layer": "BN layer (module or parameter name, file order)", "layer_index": "BN layer index, lowest first",
        "depth": "relative depth (layer_index + 0.5) / number of BN layers",
        "group": "part of the network the BN layer belongs to",
        "next_op": "operation(s) consuming the BN output (+-joined; unknown if the file cannot tell)",
        "channel": "channel index within the layer",
        "n_channels": "BN channels", "n_negative": "BN biases < 0", "n_zero": "BN biases == 0",
        "n_positive": "BN biases > 0", "frac_negative": "fraction of BN biases < 0",
        "frac_nonpositive": "fraction of BN biases <= 0 (authors' convention)",
        "n_near_zero": "BN biases with |bias| < near_zero_tol",
        "n_gamma_negative": "BN weights gamma < 0", "n_gamma_zero": "BN weights gamma == 0",
        "n_gamma_positive": "BN weights gamma > 0",
        "p_pass_mean": "mean over channels of Phi(beta/|gamma|), Gaussian P(unit passes ReLU)",
        "feeds_relu": "1 if a ReLU consumes the BN output directly, 0 if not, -1 unknown",
        "bias": "BN bias beta (NaN-padded)", "gamma": "BN weight gamma (NaN-padded)",
    }
    for key, text in long_names.items():
        ds[key].attrs.update({"long_name": text, "units": "1"})
    for key in ds.data_vars:
        if key.startswith("total_"):
            ds[key].attrs.update({"long_name": f"network total: {key[len('total_'):].replace('_', ' ')}", "units": "1"})
