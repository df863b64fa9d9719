"""The ``luckbench`` command.

Each subcommand lives in ``luckbench/commands/<name>.py`` with ``add_parser(parser)`` and
``run(args) -> int``; only the chosen one is imported, so ``luckbench report`` never pays for torch.
Bad input (InputError, a missing file, a flag value out of range) is one line on stderr and exit
code 2, never a traceback; ``main`` returns the exit code (also for argparse's usage errors and
``--help``), so in-process callers never see SystemExit.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import io
import sys

from luckbench import __version__
from luckbench.errors import InputError

# name -> (module, one-line help)
COMMANDS = {
    "check": ("luckbench.commands.check", "run the paper's assumptions, lemmas and theorems as checks"),
    "sim": ("luckbench.commands.sim", "integrate the Thm 4 / Thm 5 dynamics"),
    "train": ("luckbench.commands.train", "teacher-student training with the paper's metrics"),
    "audit": ("luckbench.commands.audit", "audit BatchNorm biases of VGG-BN / ResNet weights"),
    "beyond": ("luckbench.commands.beyond", "lottery tickets, flat minima and pruning, measured (beyond the paper)"),
    "report": ("luckbench.commands.report", "write a comparison report from stored results"),
    "sweep": ("luckbench.commands.sweep", "run a resumable grid of commands (local or Slurm)"),
    "reproduce": ("luckbench.commands.reproduce", "run one of the paper's experiments (experiments/*.toml)"),
    "demo": ("luckbench.commands.demo", "the quick end-to-end pass behind `make demo`"),
}


# OS errors that a path given by the user causes (a name too long, a full or read-only disk)
USER_PATH_ERRNOS = (errno.ENAMETOOLONG, errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.ELOOP)


def _input_error(command: str, exc: Exception) -> int:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    sys.stderr.write(f"luckbench {command}: error: {msg}\n")
    return 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors: one line, exit 2
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def _chosen_command(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first non-option word), if any."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The full parser; only the chosen subcommand's module is imported (torch costs seconds)."""
    parser = _Parser(prog="luckbench",
                     description="Theory-verification workbench for 'Luck Matters' (Tian et al., 2019).")
    parser.add_argument("--version", action="version", version=f"luckbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    chosen = _chosen_command(sys.argv[1:] if argv is None else argv)
    for name, (module, help_text) in COMMANDS.items():
        mod = importlib.import_module(module) if name == chosen else None
        # a command with OWN_HELP prints its help itself (train: with the chosen preset's defaults)
        p = sub.add_parser(name, help=help_text, description=help_text, add_help=not getattr(mod, "OWN_HELP", False))
        if mod is not None:
            mod.add_parser(p)
            p.set_defaults(_run=mod.run, _preflight=getattr(mod, "preflight", None))
    return parser


def parse_command(argv: list[str], parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """Parse a luckbench command line without running it; argparse's one-line error becomes an InputError.

    ``args._preflight(args)``, where a command has one, then checks everything that can be checked
    before a run (configs, resource estimates): ``luckbench sweep`` validates a whole plan this way.
    """
    parser = parser or build_parser(argv)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            args = parser.parse_args(argv)
    except SystemExit:
        lines = err.getvalue().strip().splitlines()
        raise InputError(lines[-1].split("error: ", 1)[-1] if lines else f"invalid command line: {' '.join(argv)}") from None
    if not getattr(args, "command", None):
        raise InputError("no luckbench command given")
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a usage error (its one line is on stderr) or --help / --version
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except (InputError, FileNotFoundError, IsADirectoryError, NotADirectoryError, FileExistsError,
            PermissionError) as exc:  # bad paths given by the user, too
        return _input_error(args.command, exc)
    except OSError as exc:
        if exc.errno not in USER_PATH_ERRNOS:
            raise
        return _input_error(args.command, exc)
    except KeyboardInterrupt:
        sys.stderr.write("luckbench: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
