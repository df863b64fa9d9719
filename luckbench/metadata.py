"""What every stored variable means: one registry of ``long_name`` / ``units`` (CF conventions).

:func:`annotate` is applied by :func:`luckbench.store.write_dataset` to every result before it is
written. It

* fills ``long_name`` and ``units`` ("1" when dimensionless) from :data:`VARIABLES` (per result
  kind first, then by name) on every data variable and coordinate that lacks them -- a producer's
  own attributes always win, so new variables may carry their own; string and boolean variables
  get ``units = "1"`` whether registered or not;
* stores the registry's boolean variables as ``bool`` (xarray writes them as int8 with
  ``dtype: bool`` and reads them back as ``bool``); three-valued flags such as the checks'
  ``holds`` carry numeric CF ``flag_values`` with ``flag_meanings`` from their producer
  (:func:`luckbench.theory.verdict.verdicts_dataset`);
* sets ``_FillValue`` on integer arrays padded with a sentinel (:data:`INT_FILL`), so that readers
  see missing entries, not -1;
* adds the file attribute ``Conventions = "CF-1.10"`` and the run parameters as 0-d coordinates:
  ``seed`` and every scalar (or list, as "a,b,c") entry of the configuration under its own name,
  or ``run_<name>`` where the name is taken by a variable or dimension of the result (``run_seed``
  in multi-seed results, whose ``seed`` is a dimension). ``xarray.open_mfdataset(files,
  combine="nested", concat_dim="run")`` then keeps every run's seed and parameters.

Angles: each file names its unit; angles stored in radians carry ``units: rad`` (``theta``,
``theta_u``), the ``theta0`` inputs are degrees (``units: degree``) as on the command line.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import xarray as xr

CONVENTIONS = "CF-1.10"
PARAM_PREFIX = "run_"

_D = "1"  # dimensionless


def _v(long_name: str, units: str = _D, **extra) -> dict[str, Any]:
    return {"long_name": long_name, "units": units, **extra}


#: name -> attributes, used by every result kind unless :data:`BY_KIND` overrides it.
VARIABLES: dict[str, dict[str, Any]] = {
    # dimensions and shared coordinates
    "seed": _v("random seed"),
    "time": _v("model time (lr * iteration for discrete runs)"),
    "iteration": _v("iteration number"),
    "node": _v("hidden node index"),
    "node_multi": _v("student width multiplier (students per teacher)"),
    "epoch": _v("training epoch (0 = before training)"),
    "layer": _v("hidden layer index"),
    "teacher_node": _v("teacher node index"),
    "snapshot": _v("snapshot index"),
    "match_row": _v("aligned row: the final winner of teacher node match_row"),
    "channel": _v("channel index within the layer"),
    "pair": _v("(alpha_W, alpha_V) pair index"),
    "theta0": _v("initial student-teacher angle theta0", "degree"),
    "theta0_deg": _v("initial student-teacher angle theta0", "degree"),
    "m": _v("number of teacher nodes m"),
    "n": _v("number of student nodes n"),
    "eps": _v("Assumption 3 overlap eps (eps_d = eps_l)"),
    # theorem constants (feasibility maps, sim thm5)
    "gamma": _v("Theorem gamma (contraction margin)"),
    "d_bar": _v("d-bar: smallest diagonal of the gating matrix D"),
    "rate": _v("d_bar * gamma (continuous-time exponent)"),
    "K_d": _v("Assumption 2 constant K_d"),
    "eps_d": _v("Assumption 3 overlap eps_d"),
    "lambda_bar": _v("Theorem 5 lambda-bar"),
    "C_dr": _v("Theorem 5 constant C_dr"),
    "feasible": _v("theorem's preconditions and gamma > 0 hold", bool=True),
    # sim thm4
    "theta": _v("angle of student j to teacher j", "rad"),
    "sin_theta_max": _v("max_j sin theta_j"),
    "sin_theta_bound": _v("Theorem 4 envelope of sin theta (NaN: preconditions fail)"),
    "norm_drift": _v("max_j | ||w_j|| - 1 |"),
    "a1_residual": _v("Assumption 1 projected residual ||dW_exact - dW_fact|| / ||dW_exact||"),
    # sim thm5 / protocol42 / overparam
    "v_row_norm": _v("||v_j||, row j of V (fan-out of hidden node j)"),
    "is_u": _v("node belongs to the u-set (the first m nodes)", bool=True),
    "theta_u": _v("angle(w_j, w*_j) on the u-set (NaN on the r-set)", "rad"),
    "v_err_u": _v("||v_j - v*_j|| on the u-set (NaN on the r-set)"),
    "w_drift_r": _v("||w_j(t) - w_j(0)|| on the r-set (NaN on the u-set)"),
    "cancelling_pairs": _v("number of merged r-pairs with cancelling fan-outs"),
    "cancelling_v_norm": _v("largest min(||v_a||, ||v_b||) over cancelling pairs (0 when none)"),
    "loss": _v("population loss 1/2 E||y - y*||^2"),
    "rho_bar": _v("mean over teachers of the best student correlation"),
    "v_row_norm_mean": _v("seed mean of ||v_j||"),
    "v_row_norm_std": _v("seed std of ||v_j||"),
    "vu_norm": _v("mean ||v_j|| over the u-set"),
    "vr_norm": _v("mean ||v_j|| over the r-set"),
    "row_norm_gap": _v("seed mean of vu_norm - vr_norm"),
    "n_students": _v("hidden student nodes"),
    "alpha_w": _v("alpha_W: weight of the teacher in the W initialisation"),
    "alpha_v": _v("alpha_V: weight of the teacher in the V initialisation"),
    # train
    "mean_rank": _v("mean normalised rank of the final winners (0 = first)"),
    "rho_max": _v("best student correlation with the teacher node"),
    "rank": _v("normalised rank of the teacher node's final winner (0 = first)"),
    "winner": _v("student index of the final winner (missing beyond the layer's width)"),
    "train_loss": _v("training loss of the epoch"),
    "lr": _v("learning rate of the epoch"),
    "student_acc": _v("student classification accuracy"),
    "teacher_acc": _v("teacher classification accuracy"),
    "agreement": _v("fraction of inputs where student and teacher predict the same class"),
    "epoch_seconds": _v("wall time of the epoch", "s"),
    "n_teacher": _v("teacher nodes in the layer"),
    "n_student": _v("student nodes in the layer"),
    "beta_star": _v("beta* aligned to the final winners of each teacher"),
    "d_star": _v("D* aligned to the final winners of each teacher"),
    "h_star": _v("H* aligned to the final winners of each teacher"),
}

#: result_kind -> name -> attributes, where a name means something else in that kind of result.
BY_KIND: dict[str, dict[str, dict[str, Any]]] = {
    "bn_audit": {
        "layer": _v("BatchNorm layer name"),
        "layer_index": _v("BatchNorm layer position in module order"),
        "gamma": _v("BN weight gamma (NaN-padded)"),
        "bias": _v("BN bias beta (NaN-padded)"),
        "n_channels": _v("channels of the BN layer"),
        "n_negative": _v("BN biases < 0"),
        "n_zero": _v("BN biases == 0"),
        "n_positive": _v("BN biases > 0"),
        "n_near_zero": _v("BN biases with |bias| < near_zero_tol"),
        "n_gamma_negative": _v("BN weights gamma < 0"),
        "n_gamma_zero": _v("BN weights gamma == 0"),
        "n_gamma_positive": _v("BN weights gamma > 0"),
        "frac_negative": _v("fraction of BN biases < 0"),
        "frac_nonpositive": _v("fraction of BN biases <= 0 (authors' convention)"),
        "p_pass_mean": _v("mean over channels of Phi(beta / |gamma|), Gaussian P(unit passes ReLU)"),
        "feeds_relu": _v("the BN output goes straight into a ReLU", bool=True),
        "published_frac_nonpositive": _v("fraction of BN biases <= 0 published by the authors"),
        "diff_frac_nonpositive": _v("frac_nonpositive minus the published fraction"),
        "matches_published": _v("ours, in percent, rounds to the published two-decimal value", bool=True),
        "total_channels": _v("BN channels in the network"),
        "total_negative": _v("BN biases < 0 in the network"),
        "total_zero": _v("BN biases == 0 in the network"),
        "total_positive": _v("BN biases > 0 in the network"),
        "total_near_zero": _v("BN biases with |bias| < near_zero_tol in the network"),
        "total_gamma_negative": _v("BN weights gamma < 0 in the network"),
        "total_frac_negative": _v("fraction of the network's BN biases < 0"),
        "total_frac_nonpositive": _v("fraction of the network's BN biases <= 0"),
        "total_p_pass_mean": _v("mean over all channels of Phi(beta / |gamma|)"),
        "total_p_pass_relu": _v("mean over channels of ReLU-fed BN layers of Phi(beta / |gamma|)"),
        "total_published_frac_nonpositive": _v("published fraction of BN biases <= 0 (channel-weighted)"),
    },
    "train": {
        "layer": _v("hidden layer index (0 = nearest the input)"),
        "loss": _v("validation loss, student vs teacher"),
    },
}

#: variables padded with an integer sentinel beyond their valid range -> the sentinel.
INT_FILL: dict[str, int] = {"winner": -1}

_OWN_KEYS = ("long_name", "units", "flag_values", "flag_meanings")


def entry(name: str, kind: str | None = None) -> dict[str, Any] | None:
    """The registry's attributes for ``name`` in a result of ``kind`` (None when unregistered)."""
    return BY_KIND.get(kind or "", {}).get(name, VARIABLES.get(name))


def annotate(ds: xr.Dataset, *, config: Any, seed: int | None) -> xr.Dataset:
    """``ds`` (a copy) with registry attributes, booleans, fill values, Conventions and run parameters."""
    ds = ds.copy()
    kind = ds.attrs.get("result_kind")
    for name in list(ds.variables):
        meta = entry(str(name), kind)
        if ds[name].dtype.kind in "OUSb" and "units" not in ds[name].attrs:
            ds[name].attrs["units"] = _D  # labels, texts and booleans are dimensionless by nature
        if meta is None:
            continue
        var = ds[name]
        if meta.get("bool") and var.dtype.kind in "iuf" and _is_zero_one(var.values):
            ds[name] = var.astype(bool)
            var = ds[name]
        for key in _OWN_KEYS:
            if key in meta and key not in var.attrs:
                var.attrs[key] = meta[key]
        if str(name) in INT_FILL and var.dtype.kind in "iu":
            var.encoding["_FillValue"] = INT_FILL[str(name)]
    ds.attrs["Conventions"] = CONVENTIONS
    return ds.assign_coords(run_parameters(ds, config, seed))


def _is_zero_one(values: np.ndarray) -> bool:
    return bool(np.all((values == 0) | (values == 1)))


def run_parameters(ds: xr.Dataset, config: Any, seed: int | None) -> dict[str, xr.Variable]:
    """The seed and the configuration's scalar entries as 0-d coordinates with long_name / units."""
    params: dict[str, Any] = {"seed": -1 if seed is None else int(seed)}
    for key, value in _flat(_as_dict(config)).items():
        if key != "seed":
            params[key] = value
    taken = set(ds.variables) | set(ds.dims)
    coords = {}
    for key, value in params.items():
        name = key if key not in taken else PARAM_PREFIX + key
        if name in taken:
            continue
        meta = entry(key, ds.attrs.get("result_kind")) or {}
        long_name = f"run parameter {key}" + (f": {meta['long_name']}" if "long_name" in meta else "")
        if key == "seed":
            long_name = "random seed of the run (-1: none)"
        coords[name] = xr.Variable((), value, {"long_name": long_name, "units": meta.get("units", _D)})
    return coords


def _as_dict(config: Any) -> dict:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    return dict(config) if isinstance(config, dict) else {}


def _flat(config: dict, prefix: str = "") -> dict[str, Any]:
    """Scalar entries of a (nested) configuration: lists as "a,b,c", None as "none", paths as str."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{str(key).replace('-', '_')}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        if isinstance(value, dict):
            out.update(_flat(value, name + "_"))
        elif isinstance(value, (list, tuple)):
            out[name] = ",".join(str(v) for v in value)
        elif value is None:
            out[name] = "none"
        elif isinstance(value, (bool, int, float, str, np.generic)):
            out[name] = value
        else:
            out[name] = str(value)
    return out
