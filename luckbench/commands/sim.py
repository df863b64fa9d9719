"""``luckbench sim thm4|thm5|overparam|protocol42 ... --out FILE.nc``: integrate the paper's dynamics.

* ``thm4``: Theorem 4's flow for n = m students at angle ``--theta0`` (degrees) from their teachers;
  stores ``theta(time, node)`` and the envelope ``sin_theta_bound(time)``.
* ``thm5``: the over-parameterised two-layer dynamics (``--iters`` discrete or ``--t-end`` flow);
  stores ``v_row_norm(seed, time, node)``, ``is_u(node)`` and the Theorem 5 diagnostics.
* ``overparam``: rho-bar over training for several student widths.
* ``protocol42``: the v4 Sec. 4.2 grid (all seeds in parallel on the local cores).

``--bias none`` / ``--top-bias none`` select the model without that bias. Before anything runs,
:func:`preflight` builds the config (flags already range-checked while parsing) and refuses sizes
beyond the resource limits (``luckbench.estimates``; ``--max-memory GB``, ``--max-work GFLOP``);
an existing ``--out`` is replaced only with ``--overwrite``.
"""
from __future__ import annotations

import argparse
import dataclasses

from luckbench import resources, store
from luckbench.commands import add_experiment_parsers
from luckbench.config import Workers, field_rule, from_args, scalar_parser
from luckbench.estimates import SIM_NEEDS

OPTIONAL_FLOATS = ("bias", "top_bias")


def _experiments() -> dict:
    from luckbench.sim import overparam, protocol, thm4, thm5

    return {
        "thm4": (thm4.Thm4Config, thm4.run, "Theorem 4: angles of n = m students under the projected flow"),
        "thm5": (thm5.Thm5Config, thm5.run, "Theorem 5: over-parameterised 2-layer student, row norms of V"),
        "overparam": (overparam.OverparamConfig, overparam.run, "rho-bar over training for several widths"),
        "protocol42": (protocol.ProtocolConfig, protocol.run, "the v4 Sec. 4.2 experiment (seeds in parallel)"),
    }


_finite_float = scalar_parser(field_rule(float))


def _float_or_none(text: str):
    return "none" if text.strip().lower() == "none" else _finite_float(text)


def add_parser(parser: argparse.ArgumentParser) -> None:
    for name, p in add_experiment_parsers(parser, _experiments()).items():
        for action in p._actions:
            if action.dest in OPTIONAL_FLOATS:
                action.type = _float_or_none
        resources.add_arguments(p)
        if name != "thm4":
            p.add_argument("--workers", type=scalar_parser(field_rule(Workers)), default=None,
                           help="processes for the independent runs, at most the local cores (default: all)")


def config_from_args(args: argparse.Namespace):
    """The experiment's config dataclass from the parsed flags (``none`` clears an optional bias)."""
    cls = _experiments()[args.experiment][0]
    cleared = {k for k in OPTIONAL_FLOATS if getattr(args, k, None) == "none"}
    for k in cleared:
        setattr(args, k, None)
    cfg = from_args(cls, args)
    return dataclasses.replace(cfg, **{k: None for k in cleared}) if cleared else cfg


def _summary(ds) -> str:
    kind = ds.attrs["result_kind"]
    if kind == "thm4":
        s = ds["sin_theta_max"].values
        return (f"max sin theta {s[0]:.3g} -> {s[-1]:.3g} at t={float(ds.time[-1]):g}; "
                f"Thm 4 preconditions hold: {bool(ds.attrs['cond_holds'])}; envelope_holds={ds.attrs['envelope_holds']}")
    if kind == "thm5":
        vr = ds["v_row_norm"].where(~ds["is_u"]).mean(("seed", "node")).values
        vu = ds["v_row_norm"].where(ds["is_u"]).mean(("seed", "node")).values
        return f"mean ||v_u|| {vu[0]:.3g} -> {vu[-1]:.3g}, mean ||v_r|| {vr[0]:.3g} -> {vr[-1]:.3g}"
    if kind == "overparam":
        final = ds["rho_bar"].isel(time=-1).mean("seed").values
        return "final rho-bar by width: " + ", ".join(f"x{k}: {r:.3f}" for k, r in zip(ds.node_multi.values, final))
    gap = ds["row_norm_gap"]
    return "u/r row-norm gap (first -> last snapshot): " + "; ".join(
        f"x{int(k)} a=({float(ds.alpha_w[p]):g},{float(ds.alpha_v[p]):g}): "
        f"{float(gap.sel(node_multi=k, pair=p)[0]):.3f} -> {float(gap.sel(node_multi=k, pair=p)[-1]):.3f}"
        for k in ds.node_multi.values for p in ds.pair.values)


def preflight(args: argparse.Namespace):
    """The config the flags describe, refused (InputError) when its sizes exceed the resource limits."""
    cfg = config_from_args(args)
    resources.guard(SIM_NEEDS[args.experiment](cfg, getattr(args, "workers", None)), resources.limits(args))
    return cfg


def run(args: argparse.Namespace) -> int:
    cfg = preflight(args)
    out = store.prepare_output(args.out, overwrite=args.overwrite)
    runner = _experiments()[args.experiment][1]
    workers = getattr(args, "workers", None)
    ds = runner(cfg) if args.experiment == "thm4" else runner(cfg, workers=workers)
    path = store.write_dataset(ds, out, config=cfg, seed=cfg.seed, overwrite=args.overwrite)
    print(f"sim {args.experiment}: {_summary(ds)}; wrote {path}")
    return 0
