"""The ``luckbench`` command.

Each subcommand lives in ``luckbench/commands/<name>.py`` with ``add_parser(parser)`` and
``run(args) -> int``; only the chosen one is imported, so ``luckbench report`` never pays for torch.
Bad input (InputError, a missing file) is one line on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
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
            p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except (InputError, FileNotFoundError, IsADirectoryError, NotADirectoryError, FileExistsError,
            PermissionError) as exc:  # bad paths given by the user, too
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        sys.stderr.write(f"luckbench {args.command}: error: {msg}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("luckbench: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
