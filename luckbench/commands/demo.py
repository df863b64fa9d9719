"""``luckbench demo --out runs/demo``: the quick end-to-end pass behind ``make demo``.

Steps (:func:`_steps`, a plain list: adding one is adding one entry), each writing stored results
into ``DIR/results/`` (its console output in ``DIR/logs/<step>.log``):

1. ``checks``       - every theory check, corrected forms and printed forms (``luckbench check`` and
   ``luckbench check --paper-mode``), so the ledger has both verdicts;
2. ``feasibility``  - the Thm 4 map over (theta0, m) and the Thm 5 map over (eps, n)
   (``luckbench.theory.feasibility``);
3. ``thm4``         - a Theorem 4 simulation (``luckbench sim thm4``);
4. ``thm5``         - a Theorem 5 simulation, v4 Sec. 4.2 protocol at small size, 4 seeds
   (``luckbench sim thm5``); ``protocol42``: the v4 Sec. 4.2 grid at one width, 3 seeds, 2,000
   iterations (``luckbench sim protocol42``); ``overparam``: rho-bar of random students of 1x, 2x, 5x
   width, 8 seeds (``luckbench sim overparam``);
5. ``train``        - the paper's small teacher-student run (``--preset paper-small-fc``: teacher
   10-15-20-25, 10x student) for 4 epochs instead of 20, seeds 0-2, and ``train-ablations``: the
   same with BN after the ReLU, with a finite set of 2,000 samples, and with a 2x student, seeds 0-2
   each; ``train-large``: the large teacher 50-75-100-125 (``--preset paper-fc``) with a 2x student
   at the 2x ablation's epochs, seeds 0-2 (E12 pairs it with the 2x ablation); ``train-digits``: the
   real-data protocol on the shipped digits (``--preset digits-fc``, 4 epochs, teacher 8), seeds 0-2;
6. ``beyond``       - the lottery, Hessian and pruning experiments at small size, 3 seeds each
   (``luckbench beyond lottery|hessian|prune``; sizes in ``luckbench.commands.beyond.DEMO_SIZES``);
7. ``bn-audit``     - train the small VGG-BN on the shipped digits (seeds 0-2), then audit each
   one's BN biases (``luckbench audit train-digits`` + ``luckbench audit bn``), and
   ``bn-audit-pretrained``: the real networks that ``make demo`` installs (``luckbench audit bn
   --model craft-vgg16-bn``, ``khmer-crnn``, ``ppocr-mobilenetv3-cls``);
8. ``report``       - ``DIR/index.html``, ``DIR/index.md`` and ``DIR/ledger.json`` from everything above.

Every empirical row the demo feeds gets :data:`SEEDS` (3) seeds, the ledger's minimum for a holds
or fails; the rows name the protocol (epochs, steps) they were judged on. Steps run in-process
(one Python start-up for the whole demo; each step's exception is caught and logged). A failed
step is reported on one line with its log, the remaining steps still run and the report shows what
exists (missing claims say "not run"); the exit code is then 1.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

from luckbench.errors import InputError

# Sizes: (normal, quick). `--quick` is for the test-suite's smoke run only.
SIZES = {
    "thm4": (["--teachers", "5", "--theta0", "45", "--t-end", "200", "--n-times", "201"],
             ["--teachers", "3", "--theta0", "30", "--t-end", "10", "--n-times", "11"]),
    "thm5": (["--teacher", "10,20,30", "--node-multi", "2", "--alpha-w", "1", "--alpha-v", "1", "--seeds", "4",
              "--iters", "4000", "--snapshot-every", "100"],
             ["--teacher", "5,4,3", "--node-multi", "2", "--seeds", "3", "--iters", "50", "--snapshot-every", "10"]),
    "protocol42": (["--node-multis", "2", "--seeds", "3", "--iters", "2000"],
                   ["--teacher", "5,4,3", "--node-multis", "2", "--seeds", "3", "--iters", "40",
                    "--snapshot-every", "10"]),
    "overparam": (["--node-multis", "1,2,5", "--seeds", "8", "--iters", "5000", "--snapshot-every", "100"],
                  ["--teacher", "5,4,3", "--node-multis", "1,2", "--seeds", "3", "--iters", "40",
                   "--snapshot-every", "20"]),
    "train": (["--preset", "paper-small-fc", "--epochs", "4"],
              ["--preset", "smoke", "--epochs", "1", "--steps-per-epoch", "20", "--valid-samples", "256"]),
    # the large teacher at the 2x ablation's student width and length (E12 compares the two by seed)
    "train-large": (["--preset", "paper-fc", "--width-mult", "2", "--epochs", "4", "--steps-per-epoch", "1563",
                     "--lr", "0.05"],
                    ["--preset", "smoke", "--teacher", "20,120,120,120,10", "--width-mult", "2", "--epochs", "1",
                     "--steps-per-epoch", "20", "--valid-samples", "256"]),
    "digits": (["--epochs", "5"], ["--epochs", "1"]),
    "train-digits": (["--preset", "digits-fc", "--epochs", "4", "--teacher-epochs", "8"],
                     ["--preset", "digits-fc", "--epochs", "1", "--teacher-epochs", "1", "--width-mult", "2"]),
    "feasibility": (([0.5, 1, 2, 3, 4, 5, 6, 7, 8, 10, 15, 20, 30, 45], list(range(2, 9))), ([2, 10], [2, 3])),
    "feasibility5": (([1e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2], [4, 8, 12, 16, 24, 32, 48]),
                     ([1e-4, 1e-2], [4, 8])),
}
SEEDS = (0, 1, 2)  # the ledger's minimum for an empirical holds / fails (luckbench.reports.judgement.MIN_SEEDS)
# Training runs that differ from the main run in one setting (ledger rows E4, E5, E6; E12 uses "narrow").
ABLATIONS = (("bn", ["--bn", "after"]), ("finite", ["--finite", "2000"]), ("narrow", ["--width-mult", "2"]))
# Thm 5 map's other constants: docs/math.md's worked example (optimistic K = 2, m = 4, theta0 = 5 deg,
# B_v = 1, B_dv = 0.3, eta = 0.01, minimum diagonals 0.45) with the zero-bias C0(5 deg) = 0.5.
THM5_FIXED = {"m": 4, "theta0": math.radians(5.0), "B_v": 1.0, "B_dv": 0.3, "K_d": 2.0, "K_l": 2.0, "C0": 0.5,
              "eta": 0.01, "min_d_diag": 0.45, "min_l_diag": 0.45}


@dataclasses.dataclass
class StepResult:
    name: str
    ok: bool
    seconds: float
    message: str


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", metavar="DIR", help="output folder (default runs/demo)")
    parser.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)  # tiny sizes, for tests


def _cli(argv: list[str]) -> None:
    """Run one luckbench command in-process; a non-zero exit becomes an exception.

    ``sys.argv`` is set to the step's own command line while it runs, so the stored ``command``
    attribute (``store.write_dataset``) is the command that repeats this step, not ``luckbench demo``.
    """
    from luckbench import cli

    argv = [*argv, "--overwrite"]  # a re-run of the demo replaces its own earlier results (never foreign files)
    saved = sys.argv
    sys.argv = ["luckbench", *argv]
    try:
        code = cli.main(argv)
    finally:
        sys.argv = saved
    if code:
        raise RuntimeError(f"`luckbench {' '.join(argv)}` exited with code {code}")


def _feasibility(results: Path, quick: bool) -> None:
    from luckbench.store import write_dataset
    from luckbench.theory import feasibility

    theta0, m = SIZES["feasibility"][quick]
    eps, n = SIZES["feasibility5"][quick]
    for theorem, ds, config in (
            ("thm4", feasibility.thm4_map(theta0, m), {"theta0_deg": theta0, "m": m}),
            ("thm5", feasibility.thm5_map(eps, n, **THM5_FIXED), {"eps": eps, "n": n, **_thm5_config()})):
        write_dataset(ds, results / f"feasibility_{theorem}.nc", config={"theorem": theorem, **config}, seed=None,
                      command=f"luckbench demo (luckbench.theory.feasibility.{theorem}_map)", overwrite=True)


def _thm5_config() -> dict:
    """THM5_FIXED as stored: the angle under a name that says its unit (theta0_deg), as elsewhere."""
    config = {k: v for k, v in THM5_FIXED.items() if k != "theta0"}
    return {**config, "theta0_deg": math.degrees(THM5_FIXED["theta0"])}


Action = list[str] | Callable[[], None]  # a luckbench command line, or a Python call


def _seeded(words: list[str], out: Path) -> list[list[str]]:
    """One command line per seed of :data:`SEEDS`, writing ``<out stem>_s<seed>.nc``."""
    return [[*words, "--seed", str(s), "--out", str(out.with_name(f"{out.stem}_s{s}{out.suffix}"))] for s in SEEDS]


def _steps(results: Path, quick: bool) -> list[tuple[str, list[Action]]]:
    """The demo's steps, each a list of actions run in order."""
    from luckbench.commands.audit import pretrained_demo_actions
    from luckbench.commands.beyond import demo_actions as beyond_demo_actions

    q = int(quick)
    digits = [[["audit", "train-digits", *SIZES["digits"][q], "--seed", str(s),
                "--out", str(results / f"vgg_digits_bn_s{s}.pt")],
               ["audit", "bn", "--arch", "vgg_digits_bn", "--weights", str(results / f"vgg_digits_bn_s{s}.pt"),
                "--out", str(results / f"bn_audit_vgg_digits_bn_s{s}.nc"), "--overwrite"]] for s in SEEDS]
    return [
        ("checks", [["check", "--out", str(results / "checks.nc")],
                    ["check", "--paper-mode", "--out", str(results / "checks_printed.nc")]]),
        ("feasibility", [lambda: _feasibility(results, quick)]),
        ("thm4", [["sim", "thm4", *SIZES["thm4"][q], "--out", str(results / "thm4.nc")]]),
        ("thm5", [["sim", "thm5", *SIZES["thm5"][q], "--out", str(results / "thm5.nc")]]),
        ("protocol42", [["sim", "protocol42", *SIZES["protocol42"][q], "--out", str(results / "protocol42.nc")]]),
        ("overparam", [["sim", "overparam", *SIZES["overparam"][q], "--out", str(results / "overparam.nc")]]),
        ("train", _seeded(["train", *SIZES["train"][q]], results / "train.nc")),
        ("train-ablations", [a for tag, flags in ABLATIONS
                             for a in _seeded(["train", *SIZES["train"][q], *flags], results / f"train_{tag}.nc")]),
        ("train-large", _seeded(["train", *SIZES["train-large"][q]], results / "train_large.nc")),
        ("train-digits", _seeded(["train", *SIZES["train-digits"][q]], results / "train_digits.nc")),
        ("beyond", beyond_demo_actions(results, quick)),
        ("bn-audit", [a for pair in digits for a in pair]),
        ("bn-audit-pretrained", pretrained_demo_actions(results, quick)),
    ]


def _run_step(name: str, actions: list[Action], log_path: Path) -> StepResult:
    """Run one step's actions with their output in ``log_path``; failures become a one-line message."""
    start = time.perf_counter()
    with open(log_path, "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            for action in actions:
                _cli(action) if isinstance(action, list) else action()
            ok, message = True, ""
        except Exception as exc:  # report every failure, keep going with the other steps
            traceback.print_exc(file=log)
            ok, message = False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    if not ok:  # the command's own one-line error, if it printed one, says more than the exit code
        errors = [ln for ln in log_path.read_text().splitlines() if re.match(r"luckbench[ :].*error:", ln)]
        if errors:
            message = errors[-1]
    return StepResult(name, ok, time.perf_counter() - start, message)


def run(args: argparse.Namespace) -> int:
    from luckbench.commands.report import prepare_report_dir

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out: {out} exists and is not a folder")
    prepare_report_dir(str(out), overwrite=True)  # before the steps: a foreign index.html is refused now
    results, logs = out / "results", out / "logs"
    for d in (results, logs):
        d.mkdir(parents=True, exist_ok=True)
    total = time.perf_counter()
    outcomes = []
    for name, actions in _steps(results, args.quick):
        print(f"[demo] {name} ...", flush=True)
        res = _run_step(name, actions, logs / f"{name}.log")
        outcomes.append(res)
        status = "ok" if res.ok else f"FAILED: {res.message} (log: {logs / (name + '.log')})"
        print(f"[demo] {name}: {status} ({res.seconds:.1f} s)", flush=True)

    from luckbench.reports.report import write_report

    print("[demo] report ...", flush=True)
    index = write_report([results], out)
    failed = [r for r in outcomes if not r.ok]
    print(f"[demo] {len(outcomes) - len(failed)} of {len(outcomes)} steps ok in "
          f"{time.perf_counter() - total:.0f} s" + (f"; failed: {', '.join(r.name for r in failed)}" if failed else ""))
    print(f"report: {index}")
    if failed:
        sys.stderr.write(f"luckbench demo: {len(failed)} step(s) failed: "
                         + "; ".join(f"{r.name} ({r.message})" for r in failed) + "\n")
    return 1 if failed else 0
