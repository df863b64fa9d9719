"""Dataclass configurations that become CLI flags, and run names from a hash of the config.

In the style of open_lth: a run's hyper-parameters live in one frozen dataclass; every field
becomes ``--field-name`` on the command line (help text from ``field(metadata={"help": ...})``),
and a run is named by a short hash of its full configuration so re-runs find their results.

The field's type says what a valid value is, once, for the parser and the Python API alike:

* ``Literal["a", "b"]`` - the choices (``typing.get_args`` gives them to code that needs a tuple);
* ``Annotated[int, Range(ge=1)]`` and the aliases below (:data:`Seed`, :data:`PositiveInt`, ...) -
  a numeric range; every float must also be finite;
* ``tuple[PositiveInt, ...]`` - a comma-separated list, each item checked.

Bad values are refused while parsing (argparse's one-line error, exit 2);
:func:`validate_fields` applies the same rules to a config built in Python (``__post_init__``).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import math
import os
import types
import typing
from typing import Annotated, Any, Literal, TypeVar

from luckbench.errors import InputError

T = TypeVar("T")

SEED_LIMIT = 2**63  # seeds lie in [0, 2^63): numpy, torch and netCDF's int64 attribute all take them


def cpu_count() -> int:
    """CPUs this process may use (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class Range:
    """Bounds of a numeric flag: ``ge``/``le`` inclusive, ``gt``/``lt`` exclusive; ``le`` may be a callable
    (evaluated when checked, e.g. the CPU count)."""

    ge: float | None = None
    gt: float | None = None
    le: float | typing.Callable[[], float] | None = None
    lt: float | None = None
    unit: str = ""  # named in the message ("degrees"), so a value in the wrong unit is recognised

    def problem(self, value: float) -> str | None:
        """Why ``value`` is out of range, or None."""
        le = self.le() if callable(self.le) else self.le
        unit = f" {self.unit}" if self.unit else ""
        for bound, ok, word in ((self.ge, lambda b: value >= b, ">="), (self.gt, lambda b: value > b, ">"),
                                (le, lambda b: value <= b, "<="), (self.lt, lambda b: value < b, "<")):
            if bound is not None and not ok(bound):
                return f"must be {word} {_show(bound)}{unit}, got {_show(value)}{unit}"
        return None


def _show(x: float) -> str:
    """A bound or value for a message: 2^63 rather than its 19 digits; no 4,000-digit lines."""
    if isinstance(x, int) and x >= 2**32:
        return f"2^{x.bit_length() - 1}" if x & (x - 1) == 0 else f"about 10^{len(str(x)) - 1}"
    return f"{x:g}" if isinstance(x, float) else str(x)


Seed = Annotated[int, Range(ge=0, lt=SEED_LIMIT)]
PositiveInt = Annotated[int, Range(ge=1)]
NonNegativeInt = Annotated[int, Range(ge=0)]
PositiveFloat = Annotated[float, Range(gt=0)]
NonNegativeFloat = Annotated[float, Range(ge=0)]
Threads = Annotated[int, Range(ge=0, le=cpu_count)]  # 0 = choose automatically
Workers = Annotated[int, Range(ge=1, le=cpu_count)]
Probability = Annotated[float, Range(ge=0, le=1)]


@dataclasses.dataclass(frozen=True)
class FieldRule:
    """What a field's type allows: the scalar type, its range and choices, and whether it is a list."""

    scalar: type
    range: Range | None = None
    choices: tuple | None = None
    is_list: bool = False
    optional: bool = False


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _scalar_rule(tp: Any) -> tuple[type, Range | None, tuple | None]:
    if typing.get_origin(tp) is Annotated:
        base, *extras = typing.get_args(tp)
        rng = next((e for e in extras if isinstance(e, Range)), None)
        scalar, inner, choices = _scalar_rule(base)
        return scalar, rng or inner, choices
    if typing.get_origin(tp) is Literal:
        choices = typing.get_args(tp)
        return type(choices[0]), None, choices
    return (tp if tp in (int, float, str, bool) else str), None, None


def field_rule(tp: Any, metadata: typing.Mapping | None = None) -> FieldRule:
    """The :class:`FieldRule` of a (resolved) field type; ``metadata["choices"]`` is still honoured."""
    tp, optional = _strip_optional(tp)
    is_list = typing.get_origin(tp) in (tuple, list)
    if is_list:
        args = typing.get_args(tp)
        tp = args[0] if args else str
    scalar, rng, choices = _scalar_rule(tp)
    if metadata and "choices" in metadata:
        choices = tuple(metadata["choices"])
    return FieldRule(scalar, rng, choices, is_list, optional)


def value_problem(value: Any, rule: FieldRule) -> str | None:
    """Why one scalar ``value`` breaks ``rule`` (type, finiteness, range, choices), or None."""
    if rule.scalar in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return f"expected a number, got {value!r}"
    if rule.scalar is int and isinstance(value, float):
        if not value.is_integer():
            return f"expected an integer, got {value!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be finite, got {value}"
    if rule.range is not None and isinstance(value, (int, float)):
        problem = rule.range.problem(value)
        if problem:
            return problem
    if rule.choices is not None and value not in rule.choices:
        return f"expected one of {', '.join(map(str, rule.choices))}, got {value!r}"
    return None


def scalar_parser(rule: FieldRule):
    """An argparse ``type=`` function for one scalar of ``rule``: parse, then check."""
    def parse(text: str):
        try:
            value = rule.scalar(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if rule.scalar is int else 'a number'}, "
                                             f"got {text!r}") from None
        problem = value_problem(value, rule)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = rule.scalar.__name__
    return parse


def _comma_list(rule: FieldRule):
    """Parser of ``"a,b,c"`` into a tuple, each item checked like a scalar of ``rule``."""
    item = scalar_parser(rule)

    def parse(text: str) -> tuple:
        return tuple(item(p.strip()) for p in text.split(",") if p.strip())

    parse.__name__ = f"comma-separated {rule.scalar.__name__}"
    return parse


def seed_argument(parser: argparse.ArgumentParser, *flags: str, default: int | None = 0, **kwargs) -> None:
    """Add a hand-written seed flag (default ``--seed``) with the same range as :data:`Seed`."""
    kwargs.setdefault("help", f"random seed in [0, 2^63) (default: {default})")
    parser.add_argument(*(flags or ("--seed",)), type=scalar_parser(field_rule(Seed)), default=default, **kwargs)


def flag_field(default: Any, help_text: str, **metadata: Any) -> Any:
    """A dataclass field that becomes a ``--flag`` with ``help_text`` (extra metadata kept beside it)."""
    return dataclasses.field(default=default, metadata={"help": help_text, **metadata})


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = (),
                            shown: Any = None) -> None:
    """Add one ``--flag`` per field of the dataclass ``cls``.

    Defaults are left as ``None`` on the parser so :func:`from_args` can tell "given" from "not
    given"; bool fields get ``--flag/--no-flag``; types, ranges and choices come from the field's
    annotation (module docstring). The help shows the field defaults, or the values of ``shown``
    (an instance of ``cls``, e.g. a preset the flags override).
    """
    hints = typing.get_type_hints(cls, include_extras=True)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        rule = field_rule(hints[f.name], f.metadata)
        if shown is not None:
            default = getattr(shown, f.name)
        else:
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        help_text = f.metadata.get("help", "")
        if "(default" not in help_text:  # a help text that explains its own default keeps it
            text = ",".join(map(str, default)) if isinstance(default, (tuple, list)) else default
            help_text = f"{help_text} (default: {text})".strip()
        if rule.scalar is bool and not rule.is_list:
            parser.add_argument(_flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction,
                                default=None, help=help_text)
            continue
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": help_text}
        if rule.is_list:
            kwargs["type"] = _comma_list(rule)
            kwargs["metavar"] = "A,B,..."
        else:
            kwargs["type"] = scalar_parser(rule)
            if rule.choices is not None:
                kwargs["choices"] = rule.choices
        parser.add_argument(_flag(f.name), **kwargs)


def validate_fields(cfg: Any) -> None:
    """Check every field of the dataclass instance ``cfg`` against its type's rule (InputError naming the flag)."""
    hints = typing.get_type_hints(type(cfg), include_extras=True)
    for f in dataclasses.fields(cfg):
        rule = field_rule(hints[f.name], f.metadata)
        value = getattr(cfg, f.name)
        if value is None and rule.optional:
            continue
        if rule.scalar is bool or (rule.scalar is str and rule.choices is None):
            continue
        items = value if rule.is_list and isinstance(value, (tuple, list)) else [value]
        for item in items:
            problem = value_problem(item, rule)
            if problem:
                raise InputError(f"{_flag(f.name)}: {problem}")


def from_args(cls: type[T], args: argparse.Namespace, base: T | None = None) -> T:
    """Build ``cls`` from parsed flags, starting from ``base`` (a preset) or the defaults."""
    base = base if base is not None else cls()
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
             if getattr(args, f.name, None) is not None}
    cfg = dataclasses.replace(base, **given)
    validate_fields(cfg)
    return cfg


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
