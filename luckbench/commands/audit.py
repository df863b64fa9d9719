"""``luckbench audit``: BatchNorm-bias audit of VGG-BN / ResNet weights (paper Sec. 4.1).

* ``luckbench audit bn --arch ARCH (--weights PATH | --url URL) [--sha256 HEX] [--tol T] --out FILE.nc``
  loads a torchvision-format weight file safely (``weights_only=True``) into the in-house
  architecture and stores the per-layer audit (``luckbench.empirical.bn_audit``).
* ``luckbench audit train-digits --out weights.pt [--epochs N --seed S ...]`` trains luckbench's
  small ``vgg_digits_bn`` on the shipped digits and saves its state dict atomically, ready for
  ``luckbench audit bn --arch vgg_digits_bn --weights weights.pt --out audit.nc``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from luckbench import store
from luckbench.config import add_dataclass_arguments, from_args
from luckbench.empirical.bn_train import ARCH as DIGITS_ARCH
from luckbench.empirical.bn_train import DigitsTrainConfig
from luckbench.errors import InputError

ARCH_HELP = ("vgg11_bn, vgg13_bn, vgg16_bn, vgg19_bn, resnet18, resnet34, resnet50, resnet101 "
             f"(torchvision layouts) or {DIGITS_ARCH} (luckbench's small digits VGG-BN)")


def add_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="audit_command", metavar="WHAT", required=True)
    bn = sub.add_parser("bn", help="audit the BN biases of a weight file",
                        description="Per-layer BatchNorm-bias audit of a torchvision-format weight file.")
    bn.add_argument("--arch", required=True, help=ARCH_HELP)
    source = bn.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", metavar="PATH", help="local weight file (state dict, or wrapped "
                        "under state_dict/model/model_state_dict)")
    source.add_argument("--url", help="http(s):// or file:// URL, cached in torch.hub's checkpoint folder")
    bn.add_argument("--sha256", metavar="HEX", help="expected SHA-256 of the file (full or a prefix of "
                    ">= 8 hex digits); with --url a torch.hub-style name (name-<hash>.pth) is checked anyway")
    bn.add_argument("--tol", type=float, default=None,
                    help="half-width of the near-zero band |bias| < tol (default: 1e-3)")
    bn.add_argument("--out", required=True, metavar="FILE.nc", help="result file (netCDF)")
    store.add_overwrite_argument(bn)
    bn.set_defaults(_audit=run_bn)

    train = sub.add_parser("train-digits", help=f"train {DIGITS_ARCH} on the shipped digits",
                           description=f"Train {DIGITS_ARCH} on the shipped handwritten digits and "
                                       "save its state dict (atomically) for `luckbench audit bn`.")
    add_dataclass_arguments(train, DigitsTrainConfig)
    train.add_argument("--out", required=True, metavar="FILE.pt", help="where to save the state dict")
    train.add_argument("--overwrite", action="store_true",
                       help=f"replace an existing {DIGITS_ARCH} weight file at --out (other files are never replaced)")
    train.set_defaults(_audit=run_train_digits)


def run(args: argparse.Namespace) -> int:
    return args._audit(args)


def run_bn(args: argparse.Namespace) -> int:
    from luckbench.empirical import bn_audit, weights

    store.prepare_output(args.out, overwrite=args.overwrite, inputs=(args.weights,))
    if args.url is not None:
        path = weights.fetch_url(args.url, args.sha256)
    else:
        path = Path(args.weights)
        if not path.is_file():
            raise InputError(f"--weights: file not found: {path}")
        if args.sha256:
            weights.verify_sha256(path, args.sha256)
    model = weights.load_model(args.arch, weights.read_state_dict(path), str(path))
    tol = bn_audit.DEFAULT_NEAR_ZERO_TOL if args.tol is None else args.tol
    ds = bn_audit.audit(model, args.arch, tol)
    ds.attrs["weights"] = args.url if args.url is not None else str(path)
    ds.attrs["weights_sha256"] = weights.file_sha256(path)
    config = {"arch": args.arch, "weights": args.weights, "url": args.url, "sha256": args.sha256, "tol": tol}
    out = store.write_dataset(ds, args.out, config=config, seed=None, overwrite=args.overwrite)
    print(f"{args.arch}: {int(ds.total_negative)}/{int(ds.total_channels)} BN biases < 0 "
          f"({float(ds.total_frac_negative):.1%}), <= 0: {float(ds.total_frac_nonpositive):.1%}, "
          f"mean Phi(beta/|gamma|) over ReLU-gating channels {float(ds.total_p_pass_relu):.3f}; wrote {out}")
    return 0


def run_train_digits(args: argparse.Namespace) -> int:
    from luckbench.empirical.bn_train import save_state_dict, train_digits

    cfg = from_args(DigitsTrainConfig, args)
    store.prepare_output(args.out, overwrite=args.overwrite, is_ours=_is_digits_weights)
    model, metrics = train_digits(cfg)
    out = save_state_dict(model, args.out)
    print(f"{DIGITS_ARCH}: {cfg.epochs} epochs, seed {cfg.seed}: train accuracy "
          f"{metrics['train_accuracy']:.3f}, test accuracy {metrics['test_accuracy']:.3f}; wrote {out}")
    return 0


MAX_DIGITS_WEIGHTS_BYTES = 50_000_000  # vgg_digits_bn's state dict is far smaller; larger files are not ours


def _is_digits_weights(path: Path) -> bool:
    """True when ``path`` holds a state dict with exactly ``vgg_digits_bn``'s keys (what train-digits writes)."""
    from luckbench.empirical.architectures import build
    from luckbench.empirical.weights import read_state_dict

    if Path(path).stat().st_size > MAX_DIGITS_WEIGHTS_BYTES:
        return False
    try:
        keys = set(read_state_dict(path))
    except InputError:
        return False
    return keys == set(build(DIGITS_ARCH, device="meta").state_dict())
