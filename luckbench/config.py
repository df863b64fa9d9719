"""Dataclass configurations that become CLI flags, and run names from a hash of the config.

In the style of open_lth: a run's hyper-parameters live in one frozen dataclass; every field
becomes ``--field-name`` on the command line (help text from ``field(metadata={"help": ...})``),
and a run is named by a short hash of its full configuration so re-runs find their results.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import types
import typing
from typing import Any, TypeVar

from luckbench.errors import InputError

T = TypeVar("T")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _base_type(tp: Any) -> Any:
    """Strip Optional[...] / ``X | None``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _comma_list(item: type):
    """Parser of ``"a,b,c"`` into a tuple of ``item``; its name is what argparse shows on bad input."""
    def parse(text: str) -> tuple:
        return tuple(item(p) for p in text.split(",") if p.strip())

    parse.__name__ = f"comma-separated {item.__name__}"
    return parse


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = (),
                            shown: Any = None) -> None:
    """Add one ``--flag`` per field of the dataclass ``cls``.

    Defaults are left as ``None`` on the parser so :func:`from_args` can tell "given" from "not
    given"; bool fields get ``--flag/--no-flag``; choices come from ``metadata={"choices": ...}``.
    The help shows the field defaults, or the values of ``shown`` (an instance of ``cls``, e.g. a
    preset the flags override).
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        tp = _base_type(hints[f.name])
        if shown is not None:
            default = getattr(shown, f.name)
        else:
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        help_text = f.metadata.get("help", "")
        if "(default" not in help_text:  # a help text that explains its own default keeps it
            text = ",".join(map(str, default)) if isinstance(default, (tuple, list)) else default
            help_text = f"{help_text} (default: {text})".strip()
        if tp is bool:
            parser.add_argument(_flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction,
                                default=None, help=help_text)
            continue
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": help_text}
        if "choices" in f.metadata:
            kwargs["choices"] = f.metadata["choices"]
        if typing.get_origin(tp) in (tuple, list):
            item = typing.get_args(tp)[0] if typing.get_args(tp) else str
            kwargs["type"] = _comma_list(item)
            kwargs["metavar"] = "A,B,..."
        elif tp in (int, float, str):
            kwargs["type"] = tp
        else:
            kwargs["type"] = str
        parser.add_argument(_flag(f.name), **kwargs)


def from_args(cls: type[T], args: argparse.Namespace, base: T | None = None) -> T:
    """Build ``cls`` from parsed flags, starting from ``base`` (a preset) or the defaults."""
    base = base if base is not None else cls()
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
             if getattr(args, f.name, None) is not None}
    return dataclasses.replace(base, **given)


def config_hash(cfg: Any, length: int = 12) -> str:
    """Short stable hash of a configuration (dataclass or dict): the run's name."""
    from luckbench.store import to_json

    return hashlib.sha256(to_json(cfg).encode()).hexdigest()[:length]


def parse_widths(text: str, what: str) -> tuple[int, ...]:
    """Parse ``"20,10,15,4"`` into positive ints, naming ``what`` in the error."""
    try:
        widths = tuple(int(p) for p in str(text).split(","))
    except ValueError:
        raise InputError(f"{what}: expected comma-separated integers, got {text!r}") from None
    if len(widths) < 2:
        raise InputError(f"{what}: need at least an input and an output width, got {text!r}")
    if any(w <= 0 for w in widths):
        raise InputError(f"{what}: widths must be positive, got {text!r}")
    return widths
