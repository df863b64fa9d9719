"""``luckbench train --preset NAME [overrides] --out FILE.nc``: teacher-student training.

Every :class:`~luckbench.empirical.presets.TrainConfig` field is an override flag
(``--epochs``, ``--lr``, ``--seed``, ``--width-mult``, ``--bn``, ``--finite``, ``--device``, ...).
A checkpoint ``FILE.nc.ckpt`` is written after an epoch at most once a minute (and after the last); ``--resume`` continues from it (same
configuration required) and it is deleted once the result is stored unless ``--keep-checkpoint``.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from luckbench import store
from luckbench.config import add_dataclass_arguments, from_args
from luckbench.empirical import presets
from luckbench.empirical.presets import TrainConfig


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("The defaults shown are paper-fc's; every preset overrides some of them "
                     "(luckbench.empirical.presets).")
    parser.add_argument("--preset", required=True, metavar="NAME",
                        help=f"base configuration: {', '.join(presets.PRESETS)}")
    parser.add_argument("--out", required=True, metavar="FILE.nc", help="result file (netCDF)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from FILE.nc.ckpt when it exists (written at most once a minute)")
    parser.add_argument("--keep-checkpoint", action="store_true",
                        help="keep FILE.nc.ckpt after the result is written (to extend the run later)")
    store.add_overwrite_argument(parser)
    add_dataclass_arguments(parser, TrainConfig)


def checkpoint_path(out: Path) -> Path:
    """The checkpoint that belongs to result file ``out``: ``out`` + ``.ckpt``."""
    return out.with_name(out.name + ".ckpt")


def preflight(args: argparse.Namespace) -> TrainConfig:
    """The configuration the preset and flags describe (InputError on a bad preset or value)."""
    return from_args(TrainConfig, args, base=presets.preset(args.preset))


def run(args: argparse.Namespace) -> int:
    from luckbench.empirical import train

    cfg = preflight(args)
    out = store.prepare_output(args.out, overwrite=args.overwrite)
    ckpt = checkpoint_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    res = train.train(cfg, checkpoint=ckpt, resume=args.resume)
    ds = train.result_dataset(res)
    ds.attrs["preset"] = args.preset
    store.write_dataset(ds, out, config={"preset": args.preset, **dataclasses.asdict(cfg)}, seed=cfg.seed,
                        overwrite=args.overwrite)
    if not args.keep_checkpoint and ckpt.exists():
        ckpt.unlink()
    final = ", ".join(f"{v:.4f}" for v in ds.rho_bar.isel(epoch=-1).values)
    acc = ds.student_acc.values[-1]
    extra = "" if acc != acc else f"; student acc {acc:.4f}, teacher acc {ds.teacher_acc.values[-1]:.4f}"
    print(f"{out}: {len(ds.epoch) - 1} epochs, final rho-bar per layer [{final}], "
          f"loss {ds.loss.values[-1]:.4g}{extra}")
    return 0
