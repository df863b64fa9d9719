"""E7 from BatchNorm-bias audits (result_kind ``bn_audit``): sign counts beside Phi(beta/|gamma|).

The paper's claim (v2 Sec. 4.1, Fig. 6; v4 Sec. 4.1, Fig. 6/16): most BN biases are negative,
especially in the top layers, so few inputs pass each ReLU and teacher activation regions overlap
little (Assumption 3). The mechanism is judged by the Gaussian pass probability Phi(beta/|gamma|)
(``p_pass_mean(layer)``) of the layers that feed a ReLU (``feeds_relu``, or a generic audit's
``next_op == "relu"``), not only by the sign of beta. Audits of real pretrained networks (attribute
``model`` / ``source_package``) decide the row when present; the digits network we train is the
always-available example. Networks are the replicates: >= 3 are needed for holds / fails.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from luckbench.empirical.bn_audit import PUBLISHED_PCT_NONPOSITIVE
from luckbench.reports import stats
from luckbench.reports.judgement import NOT_RUN, Judgement, conjunction, fmt, join, var

PUBLISHED_OVERALL = {"vgg19_bn": "about 92.9 % of 5,504 channels"}


def network_name(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("model") or ds.attrs.get("arch") or "network")


def is_real(ds: xr.Dataset) -> bool:
    """A real pretrained network (the bn helper's generic audits name their model and package)."""
    return bool(ds.attrs.get("source_package") or ds.attrs.get("model"))


def _relu_layers(ds: xr.Dataset) -> np.ndarray:
    n = ds.sizes.get("layer", 0)
    if "next_op" in ds.variables:
        return np.array([str(x).lower() == "relu" for x in ds["next_op"].values])
    if "feeds_relu" in ds.variables:
        return np.asarray(ds["feeds_relu"].values).astype(bool)
    return np.ones(n, dtype=bool)


def nonpositive_fraction(ds: xr.Dataset) -> np.ndarray | None:
    if "frac_nonpositive" in ds.variables:
        return ds["frac_nonpositive"].values.astype(float)
    if all(v in ds.variables for v in ("n_negative", "n_zero", "n_channels")):
        return (ds["n_negative"].values + ds["n_zero"].values) / ds["n_channels"].values
    return None


def bn_numbers(ds: xr.Dataset) -> dict | None:
    """Per network: overall and top/bottom-half fraction <= 0, and the top-half mean Phi(beta/|gamma|)."""
    frac, n = nonpositive_fraction(ds), var(ds, "n_channels")
    if frac is None or n is None or frac.size == 0:
        return None
    n = n.values.astype(float)
    half = len(frac) // 2
    out = {"total": float(np.sum(frac * n) / np.sum(n)), "channels": int(n.sum()), "frac": frac,
           "top": float(np.mean(frac[half:])), "bottom": float(np.mean(frac[:half])) if half else float("nan")}
    p = var(ds, "p_pass_mean")
    if p is not None:
        p, relu = p.values.astype(float), _relu_layers(ds)
        top = relu.copy()
        top[:half] = False
        out["p_pass"], out["p_top"] = p, float(np.nanmean(p[top])) if top.any() else float("nan")
    return out


def bn_text(ds: xr.Dataset, nums: dict) -> str:
    text = (f"{network_name(ds)}: {fmt(100 * nums['total'])} % of {nums['channels']} BN biases <= 0; layer mean "
            f"bottom half {fmt(100 * nums['bottom'])} %, top half {fmt(100 * nums['top'])} %")
    if "p_pass" in nums:
        text += (f"; mean Phi(beta/|gamma|) in the top half (ReLU layers) {fmt(nums['p_top'])}; per layer "
                 + ", ".join(f"{fmt(100 * f, 3)}%/{fmt(p, 2)}" for f, p in zip(nums["frac"], nums["p_pass"])))
    return text


def published_for(ds: xr.Dataset) -> str:
    arch = str(ds.attrs.get("arch", ds.attrs.get("model", "")))
    if arch not in PUBLISHED_PCT_NONPOSITIVE:
        return ""
    return (f"{arch} (torchvision ImageNet weights, authors' notebook): "
            + ", ".join(f"{p:.2f}" for p in PUBLISHED_PCT_NONPOSITIVE[arch]) + " % <= 0 per BN layer"
            + (f"; {PUBLISHED_OVERALL[arch]}" if arch in PUBLISHED_OVERALL else ""))


def judge_bn_bias(by_kind: dict) -> Judgement:
    rule = stats.rule("E7: per audited network, three margins, each judged: overall fraction of BN biases <= 0 "
                      "minus 1/2 (sign), top-half minus bottom-half layer mean of that fraction (depth), and 1/2 "
                      "minus the top-half mean Phi(beta/|gamma|) of ReLU-feeding layers (mechanism: few inputs pass, "
                      "small overlap); real pretrained networks decide when audited, else our digits network",
                      "BN audits (`luckbench audit bn`), networks as replicates")
    audits = by_kind.get("bn_audit", [])
    real = [r for r in audits if is_real(r.ds)]
    used = real or audits
    rows = [(r, bn_numbers(r.ds)) for r in used]
    rows = [(r, nums) for r, nums in rows if nums is not None]
    if not rows:
        return Judgement(NOT_RUN, rule, measured="needs a BN audit (`luckbench audit bn`)")
    margins = {"sign": [n["total"] - 0.5 for _, n in rows],
               "depth": [n["top"] - n["bottom"] for _, n in rows],
               "mechanism": [0.5 - n["p_top"] for _, n in rows if "p_top" in n]}
    texts, verdicts = [bn_text(r.ds, n) for r, n in rows], []
    for label, values in margins.items():
        if values:
            verdict, text, _ = stats.judge(values, f"{label} margin")
            texts.append(f"{text} [{verdict}]")
            verdicts.append(verdict)
    source = "real pretrained networks" if real else "our trained stand-in network(s) only"
    published = " | ".join(dict.fromkeys(p for p in (published_for(r.ds) for r, _ in rows) if p))
    return Judgement(conjunction(verdicts), rule, measured=f"{len(rows)} {source}. " + join(texts),
                     n_seeds=len(rows), evidence=[r.path for r, _ in rows], published=published)
