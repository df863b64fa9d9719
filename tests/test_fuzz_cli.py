"""Every subcommand against a table of bad inputs (issue 10 item 8): exit 2, one stderr line naming the
problem, no traceback, bounded time and memory, no file destroyed. The table is data: add a row per bug.

Each in-process case runs ``luckbench.cli.main`` under a temporary address-space limit
(RLIMIT_AS = current size + :data:`HEADROOM`) and a SIGALRM timeout, so a size that is allocated
instead of refused fails the test with a MemoryError instead of exhausting the machine. A few
cases (``isolate=True``) run the real entry point in a subprocess with RLIMIT_AS and a timeout,
and their measured peak RSS (``os.wait4``) is held below :data:`MAX_RSS`.

A row with ``owner`` is another helper's bug that is still open in this branch: it is marked
``xfail(strict=True)`` and flips to a failure (remove the owner then) once their fix is merged.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import resource
import signal
import subprocess
import sys
import time

import netCDF4
import numpy as np
import pytest
import xarray as xr

from luckbench import cli, resources, store

HEADROOM = 2 * 2**30  # bytes an in-process case may add to the test process's address space
MAX_RSS = 2 * 2**30  # peak resident memory of an isolated case
SUBPROCESS_AS = 4 * 2**30  # address-space limit of an isolated case (torch alone maps ~0.7 GB)
TIMEOUT_S = 120  # per case; generous for a loaded 2-core machine (a refusal takes seconds)
HUGE = str(10**30)


@dataclasses.dataclass(frozen=True)
class Case:
    """One bad input: the command line (``{name}`` = a file of :func:`files`), a word the one-line error
    must contain, the expected exit code, and whether it must run in its own process."""

    id: str
    argv: tuple[str, ...]
    needle: str
    code: int = 2
    isolate: bool = False
    owner: str | None = None  # helper whose open bug this is (xfail strict until merged)


def C(id, argv, needle, **kw):
    return Case(id, tuple(argv.split()) if isinstance(argv, str) else tuple(argv), needle, **kw)


THM4 = "sim thm4 --teachers 2 --t-end 1 --n-times 3"
SMOKE = "train --preset smoke --epochs 1 --steps-per-epoch 2"

CASES = [
    # --- sim: sizes (resource guard), horizons, non-finite, types, seeds, outputs
    C("thm4-teachers", "sim thm4 --teachers 20000 --out {tmp}/x.nc", "--teachers", isolate=True),
    C("thm4-teachers-huge", f"sim thm4 --teachers {HUGE} --out {{tmp}}/x.nc", "memory"),
    C("thm4-dim", "sim thm4 --dim 100000000 --out {tmp}/x.nc", "--dim"),
    C("thm4-n-times", "sim thm4 --n-times 1000000000 --out {tmp}/x.nc", "--n-times"),
    C("thm4-t-end-huge", "sim thm4 --t-end 1e300 --out {tmp}/x.nc", "--t-end"),
    C("thm4-eta-tiny", "sim thm4 --eta 1e-300 --out {tmp}/x.nc", "--eta"),
    C("thm4-t-end-nan", "sim thm4 --t-end nan --out {tmp}/x.nc", "--t-end"),
    C("thm4-theta0-deg", "sim thm4 --theta0 200 --out {tmp}/x.nc", "degrees"),
    C("thm4-theta0-inf", "sim thm4 --theta0 inf --out {tmp}/x.nc", "--theta0"),
    C("thm4-rtol-zero", "sim thm4 --rtol 0 --out {tmp}/x.nc", "--rtol"),
    C("thm4-teachers-float", "sim thm4 --teachers 2.5 --out {tmp}/x.nc", "--teachers"),
    C("thm4-scheme", "sim thm4 --scheme nope --out {tmp}/x.nc", "--scheme"),
    C("thm4-seed-2^64", f"{THM4} --seed 18446744073709551616 --out {{tmp}}/x.nc", "--seed"),
    C("thm4-seed-2^63", f"{THM4} --seed 9223372036854775808 --out {{tmp}}/x.nc", "--seed"),
    C("thm4-seed-negative", f"{THM4} --seed -1 --out {{tmp}}/x.nc", "--seed"),
    C("thm4-max-memory-nan", f"{THM4} --max-memory nan --out {{tmp}}/x.nc", "--max-memory"),
    C("thm4-out-empty", [*THM4.split(), "--out", ""], "--out"),
    C("thm4-out-too-long", f"{THM4} --out {{tmp}}/{'x' * 300}.nc", "too long"),
    C("thm4-out-folder", f"{THM4} --out {{tmp}}", "folder"),
    C("thm4-out-exists", f"{THM4} --out {{result}}", "pass --overwrite"),
    C("thm4-out-foreign", f"{THM4} --out {{text}} --overwrite", "not a luckbench result"),
    C("thm5-teacher", "sim thm5 --teacher 10,20000,30 --out {tmp}/x.nc", "--teacher"),
    C("thm5-node-multi", "sim thm5 --node-multi 100000 --out {tmp}/x.nc", "--node-multi"),
    C("thm5-seeds", "sim thm5 --seeds 100000000 --out {tmp}/x.nc", "--seeds"),
    C("thm5-iters", f"sim thm5 --iters {HUGE} --out {{tmp}}/x.nc", "--iters"),
    C("thm5-mc-samples", "sim thm5 --inputs laplace --mc-samples 100000000000 --out {tmp}/x.nc", "memory"),
    C("thm5-bias-inf", "sim thm5 --bias inf --out {tmp}/x.nc", "--bias"),
    C("thm5-workers", "sim thm5 --workers 0 --out {tmp}/x.nc", "--workers"),
    C("thm5-workers-many", "sim thm5 --workers 5000 --out {tmp}/x.nc", "--workers"),
    C("thm5-teacher-text", "sim thm5 --teacher a,b --out {tmp}/x.nc", "--teacher"),
    C("overparam-node-multis", "sim overparam --node-multis 0 --out {tmp}/x.nc", "--node-multis"),
    C("overparam-huge", "sim overparam --node-multis 1,100000 --out {tmp}/x.nc", "memory"),
    C("protocol-seeds", "sim protocol42 --seeds 1000000000 --out {tmp}/x.nc", "--seeds"),
    C("protocol-dtype", "sim protocol42 --dtype float16 --out {tmp}/x.nc", "--dtype"),
    C("thm5-dtype-flow", "sim thm5 --dtype float32 --t-end 1 --out {tmp}/x.nc", "--dtype"),
    C("thm5-device-flow", "sim thm5 --device cuda --t-end 1 --out {tmp}/x.nc", "--device"),
    # --- check
    C("check-wide", "check --teacher 20,5000,4", "--teacher", isolate=True),
    C("check-deep", "check --teacher 20," + "10," * 500 + "4", "--teacher"),
    C("check-huge", f"check --teacher 20,{HUGE},4", "--teacher"),
    C("check-seed-2^64", "check --seed 18446744073709551616", "--seed"),
    C("check-seed-negative", "check --seed -5", "--seed"),
    C("check-unknown", "check nosuch", "unknown check"),
    C("check-out-empty", ["check", "lemma1", "--out", ""], "--out"),
    C("check-out-foreign", "check lemma1 --out {text} --overwrite", "not a luckbench result"),
    C("check-out-exists", "check lemma1 --out {result}", "pass --overwrite"),
    C("check-max-work", "check --max-work -1", "--max-work"),
    C("check-theta0", "check --theta0 nan", "--theta0"),
    C("check-sigma", "check --sigma inf", "--sigma"),
    C("check-eta", "check --eta 0", "--eta"),
    # --- train (sizes, resume and divergence belong to the train helper)
    C("train-seed-2^64", f"{SMOKE} --seed 18446744073709551616 --out {{tmp}}/x.nc", "--seed"),
    C("train-seed-negative", f"{SMOKE} --seed -1 --out {{tmp}}/x.nc", "--seed"),
    C("train-threads", f"{SMOKE} --threads 5000 --out {{tmp}}/x.nc", "--threads"),
    C("train-lr-nan", f"{SMOKE} --lr nan --out {{tmp}}/x.nc", "--lr"),
    C("train-bn", f"{SMOKE} --bn sideways --out {{tmp}}/x.nc", "--bn"),
    C("train-preset", "train --preset nope --out {tmp}/x.nc", "nope"),
    C("train-out-foreign", f"{SMOKE} --out {{text}} --overwrite", "not a luckbench result"),
    C("train-out-exists", f"{SMOKE} --out {{result}}", "pass --overwrite"),
    C("train-width-mult", f"{SMOKE} --width-mult 1000000000 --out {{tmp}}/x.nc", "--width-mult"),
    C("train-batch", f"{SMOKE} --batch-size 1000000000 --out {{tmp}}/x.nc", "--batch-size"),
    C("train-finite", f"{SMOKE} --finite 1000000000000 --out {{tmp}}/x.nc", "--finite"),
    C("train-valid", f"{SMOKE} --valid-samples 1000000000000 --out {{tmp}}/x.nc", "--valid-samples"),
    C("train-resume-corrupt", f"{SMOKE} --resume --out {{tmp}}/ck.nc", "checkpoint"),
    # --- audit (weight-file integrity belongs to the bn helper)
    C("audit-weights-text", "audit bn --arch vgg_digits_bn --weights {text} --out {tmp}/a.nc", "{text}"),
    C("audit-weights-missing", "audit bn --arch vgg_digits_bn --weights {tmp}/none.pt --out {tmp}/a.nc", "not found"),
    C("audit-out-is-input", "audit bn --arch vgg_digits_bn --weights {int_weights} --out {int_weights}",
      "input"),
    C("audit-out-exists", "audit bn --arch vgg_digits_bn --weights {int_weights} --out {result}", "pass --overwrite"),
    C("audit-int-tensors", "audit bn --arch vgg_digits_bn --weights {int_weights} --out {tmp}/a.nc", "int"),
    C("audit-arch", "audit bn --arch nope --weights {int_weights} --out {tmp}/a.nc", "nope"),
    C("digits-seed", "audit train-digits --seed -1 --out {tmp}/w.pt", "--seed"),
    C("digits-out-foreign", "audit train-digits --epochs 1 --out {text} --overwrite", "not a luckbench result"),
    # --- beyond
    C("beyond-seed-2^64", "beyond lottery --seed 18446744073709551616 --out {tmp}/b.nc", "--seed"),
    C("beyond-seeds-zero", "beyond prune --seeds 0 --out {tmp}/b.nc", "--seeds"),
    C("beyond-lr-nan", "beyond lottery --lr nan --out {tmp}/b.nc", "--lr"),
    C("beyond-width", f"beyond lottery --width-mult {HUGE} --out {{tmp}}/b.nc", "--width-mult"),
    C("beyond-out-foreign", "beyond hessian --out {text} --overwrite", "not a luckbench result"),
    C("beyond-out-exists", "beyond prune --out {result}", "pass --overwrite"),
    C("beyond-out-empty", ["beyond", "prune", "--out", ""], "--out"),
    # --- report: unusable inputs are named and skipped (exit 0); bad outputs are refused
    C("report-corrupt", "report {corrupt_nc} --out {tmp}/rep1", "{corrupt_nc}", code=0),
    C("report-huge-declared", "report {huge_nc} --out {tmp}/rep2", "declares", code=0, isolate=True),
    C("report-missing", "report {tmp}/none.nc --out {tmp}/rep3", "none.nc"),
    C("report-out-foreign", "report {result} --out {foreign_report}", "not a luckbench result"),
    C("report-out-foreign-ledger", "report {result} --out {foreign_ledger_dir}", "not a luckbench result"),
    C("report-out-empty", ["report", "{result}", "--out", ""], "--out"),
    C("report-out-too-long", f"report {{result}} --out {{tmp}}/{'d' * 300}", "too long"),
    # --- sweep: the whole plan is validated before the first run
    C("sweep-huge-grid", "sweep {spec_huge_grid} --out {tmp}/sw", "limit"),
    C("sweep-unknown-command", "sweep {spec_unknown_command} --out {tmp}/sw", "invalid choice"),
    C("sweep-unknown-flag", "sweep {spec_unknown_flag} --out {tmp}/sw", "--nosuch"),
    C("sweep-bad-value", "sweep {spec_bad_value} --out {tmp}/sw", "--theta0"),
    C("sweep-huge-run", "sweep {spec_huge_run} --out {tmp}/sw", "--teachers"),
    C("sweep-missing-program", "sweep {spec_missing_program} --out {tmp}/sw", "program"),
    C("sweep-seed-negative", "sweep {spec_seed_negative} --out {tmp}/sw", "seeds"),
    C("sweep-seed-2^64", "sweep {spec_seed_2_64} --out {tmp}/sw", "seeds"),
    C("sweep-slurm", "sweep {spec_ok} --out {tmp}/sw --executor slurm", "--executor slurm"),
    C("sweep-jobs", "sweep {spec_ok} --out {tmp}/sw --jobs 0", "--jobs"),
    C("sweep-spec-binary", "sweep {corrupt_nc} --out {tmp}/sw", "TOML"),
    # --- reproduce
    C("reproduce-unknown", "reproduce nosuch --out {tmp}/rp", "unknown experiment"),
    C("reproduce-no-name", "reproduce", "NAME"),
    C("reproduce-no-out", "reproduce fig7-fc", "--out"),
    C("reproduce-jobs", "reproduce fig7-fc --out {tmp}/rp --jobs 0", "--jobs"),
    C("reproduce-slurm", "reproduce fig7-fc --out {tmp}/rp --executor slurm", "--executor slurm"),
    C("reproduce-no-specs", "reproduce --list --experiments {tmp}/nonexist", "--experiments"),
    # --- demo
    C("demo-out-file", "demo --out {text}", "not a folder"),
]

SPECS = {
    "spec_huge_grid": 'command = "sim thm4"\n[grid]\n' + "".join(f"p{i} = {list(range(100))}\n" for i in range(6)),
    "spec_unknown_command": 'command = "simx thm4"\n[grid]\ntheta0 = [10, 20]\n',
    "spec_unknown_flag": 'command = "sim thm4"\n[grid]\nnosuch = [1, 2]\n',
    "spec_bad_value": 'command = "sim thm4"\n[grid]\ntheta0 = [10, 400]\n',
    "spec_huge_run": 'command = "sim thm4"\n[grid]\nteachers = [2, 20000]\n',
    "spec_missing_program": 'command = ""\nprogram = ["/nonexistent/luckbench-prog"]\n[grid]\na = [1]\n',
    "spec_seed_negative": 'command = "sim thm4"\nseeds = [0, -1]\n',
    "spec_seed_2_64": 'command = "sim thm4"\nseeds = [18446744073709551616]\n',
    "spec_ok": 'command = "sim thm4"\n[fixed]\nteachers = 2\nt-end = 1.0\nn-times = 3\n',
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The files the table's ``{name}`` placeholders refer to."""
    root = tmp_path_factory.mktemp("fuzz")
    paths = {"tmp": str(root / "work")}
    os.makedirs(paths["tmp"])
    (root / "work" / "ck.nc.ckpt").write_bytes(b"not a checkpoint")
    text = root / "notes.txt"
    text.write_text("a user's own file\n")
    corrupt = root / "corrupt.nc"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    huge = root / "huge.nc"  # a valid header declaring 8 TB of never-written data
    with netCDF4.Dataset(huge, "w") as nc:
        nc.createDimension("x", 10**12)
        nc.createVariable("v", "f8", ("x",))
        nc.setncatts({"luckbench_version": "0", "created": "0", "command": "x", "config": "{}", "seed": 0,
                      "result_kind": "thm4"})
    result = store.write_dataset(xr.Dataset({"y": ("t", np.zeros(3))}), root / "result.nc", config={}, seed=0)
    foreign_report = root / "foreign_report"
    foreign_report.mkdir()
    (foreign_report / "index.html").write_text("<html>my own page</html>")
    foreign_ledger = root / "foreign_ledger"
    foreign_ledger.mkdir()
    (foreign_ledger / "ledger.json").write_text('{"my": "notes"}')
    paths.update(foreign_ledger_dir=str(foreign_ledger), foreign_ledger=str(foreign_ledger / "ledger.json"), text=str(text), corrupt_nc=str(corrupt), huge_nc=str(huge), result=str(result),
                 foreign_report=str(foreign_report), int_weights=str(_int_weights(root)))
    for name, spec in SPECS.items():
        (root / f"{name}.toml").write_text(spec)
        paths[name] = str(root / f"{name}.toml")
    return paths


def _int_weights(root):
    """A vgg_digits_bn state dict with the right keys and shapes, every tensor int32."""
    import torch

    from luckbench.empirical.architectures import build

    state = {k: torch.zeros(v.shape, dtype=torch.int32) for k, v in build("vgg_digits_bn", device="meta").state_dict().items()}
    path = root / "int_weights.pt"
    torch.save(state, path)
    return path


def _snapshot(paths: dict) -> dict:
    return {k: open(v, "rb").read() for k, v in paths.items() if os.path.isfile(v)}


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _bounded(seconds: int, extra_bytes: int):
    """SIGALRM after ``seconds``; address space capped at the current size + ``extra_bytes``."""
    def alarm(*_):
        raise _Timeout(f"case ran past {seconds} s")

    old_handler = signal.signal(signal.SIGALRM, alarm)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    size = resources.proc_bytes("/proc/self/status", "VmSize")
    cap = size + extra_bytes if hard == resource.RLIM_INFINITY else min(size + extra_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.signal(signal.SIGALRM, old_handler)


def _run_in_process(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    with _bounded(TIMEOUT_S, HEADROOM):
        code = cli.main(argv)
    return code, capsys.readouterr().err


def _limit_address_space():
    resource.setrlimit(resource.RLIMIT_AS, (SUBPROCESS_AS, SUBPROCESS_AS))


def _run_isolated(argv: list[str], tmp: str) -> tuple[int, str, int]:
    """(exit code, stderr, peak RSS in bytes) of ``python -m luckbench.cli ARGV`` under RLIMIT_AS."""
    err_path = os.path.join(tmp, "stderr.txt")
    with open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "luckbench.cli", *argv], stdout=subprocess.DEVNULL,
                                stderr=err, stdin=subprocess.DEVNULL, preexec_fn=_limit_address_space)
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            pytest.fail(f"ran past {TIMEOUT_S} s: {' '.join(argv)}")
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    with open(err_path) as f:
        return proc.returncode, f.read(), usage.ru_maxrss * 1024


def _param(case: Case):
    marks = [pytest.mark.xfail(strict=True, reason=f"open in this branch; the {case.owner} helper's fix")] \
        if case.owner else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input_is_one_line_and_bounded(case: Case, files, capsys):
    argv = [word.format(**files) for word in case.argv]
    protected = {k: v for k, v in files.items() if k != "tmp"}
    before = _snapshot(protected)
    if case.isolate:
        code, err, peak = _run_isolated(argv, files["tmp"])
        assert peak < MAX_RSS, f"peak RSS {peak / 2**20:.0f} MiB"
    else:
        code, err = _run_in_process(argv, capsys)
    lines = err.splitlines()
    assert "Traceback" not in err, err[-3000:]
    assert code == case.code, err[-3000:]
    assert len(lines) == 1 and lines[0].startswith("luckbench"), err[-3000:]
    assert case.needle.format(**files) in lines[0]
    assert _snapshot(protected) == before  # no input, result or foreign file was changed


def test_table_covers_every_subcommand():
    """A new subcommand needs rows in the table: every name of ``cli.COMMANDS`` starts some case."""
    assert set(cli.COMMANDS) <= {c.argv[0] for c in CASES}
