"""``luckbench train --preset NAME [overrides] --out FILE.nc``: teacher-student training.

Every :class:`~luckbench.empirical.presets.TrainConfig` field is an override flag
(``--epochs``, ``--lr``, ``--seed``, ``--width-mult``, ``--bn``, ``--finite``, ``--device``, ...);
``--preset NAME --help`` shows that preset's values as the defaults. A checkpoint ``FILE.nc.ckpt``
is written after an epoch at most once a minute (and after the last); ``--resume`` continues from
it (same configuration required) and it is deleted once the result is stored unless
``--keep-checkpoint``. Without ``--resume`` an existing checkpoint is never replaced: the run is
refused with a line saying how to resume it or what to remove.

Exit status: 0 done; 2 bad input (one line on stderr); 3 (:data:`EXIT_DIVERGED`) the loss became
NaN/inf: the epochs before it are stored with the attributes ``diverged = 1`` and ``diverged_epoch``.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from luckbench.config import add_dataclass_arguments, from_args
from luckbench.empirical import presets
from luckbench.empirical.presets import TrainConfig
from luckbench.errors import InputError

EXIT_DIVERGED = 3
OWN_HELP = True  # -h is ours: run() prints the help once --preset (wherever it stands) is known
EXIT_STATUS = ("exit status: 0 done; 2 bad input (one line on stderr); 3 training diverged (NaN/inf loss): "
               "the epochs before it are stored, with attributes diverged=1 and diverged_epoch")


def _preset_line(name: str, cfg: TrainConfig) -> str:
    """The key values of a preset, in one line."""
    steps = f"{cfg.steps_per_epoch} steps" if cfg.steps_per_epoch else "one pass"
    return (f"  {name:15s} {cfg.data} {cfg.kind}, teacher {'-'.join(map(str, cfg.teacher))}, student x{cfg.width_mult}, "
            f"bn {cfg.bn}, {cfg.epochs} epochs of {steps}, batch {cfg.batch_size}, lr {cfg.lr:g} {cfg.lr_schedule}")


def _epilog(preset: str | None) -> str:
    if preset is not None:
        head = f"the defaults shown are preset {preset}'s:\n{_preset_line(preset, presets.PRESETS[preset])}"
    else:
        head = ("the defaults shown are TrainConfig's (= paper-fc); `--preset NAME --help` shows a preset's.\n"
                "presets:\n" + "\n".join(_preset_line(n, c) for n, c in presets.PRESETS.items()))
    return f"{head}\n\n{EXIT_STATUS}"


def add_parser(parser: argparse.ArgumentParser, shown: str | None = None) -> None:
    """The train flags; ``shown`` names the preset whose values the help gives as defaults."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("-h", "--help", action="store_true", dest="show_help",
                        help="show this help and exit (with --preset NAME: that preset's values as defaults)")
    parser.epilog = _epilog(shown)
    parser.add_argument("--preset", metavar="NAME", help=f"base configuration (required): {', '.join(presets.PRESETS)}")
    parser.add_argument("--out", metavar="FILE.nc", help="result file (netCDF; required)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from FILE.nc.ckpt when it exists (written at most once a minute)")
    parser.add_argument("--keep-checkpoint", action="store_true",
                        help="keep FILE.nc.ckpt after the result is written (to extend the run later)")
    add_dataclass_arguments(parser, TrainConfig, shown=None if shown is None else presets.PRESETS[shown])


def print_help(preset: str | None) -> None:
    """The help of ``luckbench train``, with ``preset``'s values as the defaults."""
    parser = argparse.ArgumentParser(prog="luckbench train", description="teacher-student training with the paper's metrics",
                                     add_help=False)
    add_parser(parser, shown=preset)
    parser.print_help()


def checkpoint_path(out: Path) -> Path:
    """The checkpoint that belongs to result file ``out``: ``out`` + ``.ckpt``."""
    return out.with_name(out.name + ".ckpt")


def run(args: argparse.Namespace) -> int:
    if args.preset is not None:
        presets.preset(args.preset)  # an unknown name is an InputError, help or not
    if args.show_help:
        print_help(args.preset)
        return 0
    if args.preset is None or args.out is None:
        raise InputError(f"{'--preset NAME' if args.preset is None else '--out FILE.nc'} is required "
                         "(luckbench train --help lists the presets)")
    from luckbench.empirical import train
    from luckbench.store import write_dataset

    cfg = from_args(TrainConfig, args, base=presets.preset(args.preset))
    out = Path(args.out)
    if out.is_dir():
        raise InputError(f"--out: {out} is a folder; give a file name such as run.nc")
    ckpt = checkpoint_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    res = train.train(cfg, checkpoint=ckpt, resume=args.resume)
    ds = train.result_dataset(res)
    ds.attrs["preset"] = args.preset
    write_dataset(ds, out, config={"preset": args.preset, **dataclasses.asdict(cfg)}, seed=cfg.seed)
    if not args.keep_checkpoint and ckpt.exists():
        ckpt.unlink()
    stored = len(ds.epoch) - 1
    if res.diverged_epoch is not None:
        sys.stderr.write(f"luckbench train: training diverged at epoch {res.diverged_epoch} (NaN/inf loss); "
                         f"stored epochs 0-{stored} in {out} with attribute diverged=1; try a lower --lr\n")
        return EXIT_DIVERGED
    final = ", ".join(f"{v:.4f}" for v in ds.rho_bar.isel(epoch=-1).values)
    acc = ds.student_acc.values[-1]
    extra = "" if acc != acc else f"; student acc {acc:.4f}, teacher acc {ds.teacher_acc.values[-1]:.4f}"
    print(f"{out}: {stored} epochs, final rho-bar per layer [{final}], loss {ds.loss.values[-1]:.4g}{extra}")
    return 0
