"""Typed, strict stage configuration: a stage's config dataclass built from a mapping (an
experiment's TOML section, ``--set KEY=VALUE`` options, a GUI form) with every value checked
against the field's type, and an unknown key an error naming the key and where it was."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)}


def optional_type(hint) -> tuple[bool, Any]:
    """Whether ``hint`` admits None, and the type it has otherwise."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return True, inner[0] if len(inner) == 1 else Any
    return False, hint


def coerce(hint, value: Any, name: str, where: str, *, strict: bool = False) -> Any:
    """``value`` (a TOML value or text) as the field's type, or a ValueError saying which.
    ``strict`` (typed input: a TOML file): a text is never read as a number or a truth
    value (``views = "5"`` is an error, not 5)."""
    optional, hint = optional_type(hint)
    if strict and isinstance(value, str) and hint in (int, float, bool):
        raise ValueError(f"{where}: {name} = {value!r} is not a valid {hint.__name__}: it "
                         f"is text (in TOML a {hint.__name__} is written without quotes)")
    if value is None or (optional and isinstance(value, str) and value.strip().lower()
                         in ("", "none", "null")):
        if optional:
            return None
        raise ValueError(f"{where}: {name} cannot be empty")
    try:
        if hint is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                    raise ValueError
                return low in ("true", "1", "yes", "on")
            if not isinstance(value, bool | int):
                raise ValueError
            return bool(value)
        if hint is int:
            if isinstance(value, bool) or (isinstance(value, float)
                                           and not value.is_integer()):
                raise ValueError
            return int(value)
        if hint is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if hint is str:
            if not isinstance(value, str):
                raise ValueError
            return value
        origin = typing.get_origin(hint)
        if origin in (tuple, list):
            items = value.split(",") if isinstance(value, str) else list(value)
            args = [a for a in typing.get_args(hint) if a is not Ellipsis] or [Any]
            inner = [coerce(args[i] if i < len(args) else args[-1], v, name, where,
                            strict=strict) for i, v in enumerate(items)]
            return tuple(inner) if origin is tuple else inner
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {name} = {value!r} is not a valid "
                         f"{getattr(hint, '__name__', hint)}") from None
    return value


def from_mapping(cls: type, values: dict[str, Any], where: str, *, base: Any = None,
                 ignore: tuple[str, ...] = (), strict: bool = False) -> Any:
    """``cls`` with ``values`` applied over ``base`` (or the defaults): unknown keys and
    values of the wrong type are errors naming the key and ``where`` (``strict``: typed
    values, as a TOML file's, see :func:`coerce`)."""
    types_ = field_types(cls)
    unknown = sorted(set(values) - set(types_) - set(ignore))
    if unknown:
        raise ValueError(f"unknown key{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(repr(k) for k in unknown)} in {where} (known: "
                         f"{', '.join(sorted(types_))})")
    kw = {k: coerce(types_[k], v, k, where, strict=strict) for k, v in values.items()
          if k in types_}
    return dataclasses.replace(base, **kw) if base is not None else cls(**kw)


def parse_settings(settings: tuple[str, ...] | list[str], where: str = "--set"
                   ) -> dict[str, str]:
    """``KEY=VALUE`` texts (``--set``) as a mapping; dashes in keys read as underscores."""
    out: dict[str, str] = {}
    for s in settings:
        key, sep, value = s.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{where} {s!r}: use KEY=VALUE")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def check_bounds(config: Any, bounds: dict[str, tuple[float | None, float | None]],
                 *, positive: tuple[str, ...] = ()) -> None:
    """Every named field within ``(least, most)`` (``None``: open) and every field in
    ``positive`` above 0; else a ValueError ``--field VALUE: must be ...`` (the CLI's option
    name; the experiment names its TOML key beside it)."""
    for name, (least, most) in bounds.items():
        value = getattr(config, name)
        option = "--" + name.replace("_", "-")
        if least is not None and value < least:
            raise ValueError(f"{option} {value!r}: must be at least {least}")
        if most is not None and value > most:
            raise ValueError(f"{option} {value!r}: must be at most {most}")
    for name in positive:
        value = getattr(config, name)
        if not value > 0:
            raise ValueError(f"--{name.replace('_', '-')} {value!r}: must be positive")


# -- the command line's options of a stage, declared on its config ---------------------------
def setting(default: Any = dataclasses.MISSING, *, help: str, option: bool | str = True,
            choices: tuple[str, ...] = ()) -> Any:
    """A config field with its help: the stage's command (``train-stylizer``,
    ``train-pose``) offers it as an option (``--field-name``, or the name ``option`` gives,
    e.g. ``"--points"``; ``option=False``: ``--set`` only) and the GUI's form shows the
    help. ``choices`` limits a text field's values."""
    return dataclasses.field(default=default, metadata={
        "help": help, "option": option, "choices": tuple(choices)})


@dataclasses.dataclass(frozen=True)
class OptionSpec:
    """A config field offered on the command line."""

    field: str
    flag: str  # "--lambda-a"
    hint: Any
    default: Any
    help: str
    choices: tuple[str, ...]


def options_of(cls: type) -> list[OptionSpec]:
    """The command-line options a stage's config declares (:func:`setting` fields)."""
    hints = field_types(cls)
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if "help" not in meta or meta.get("option") is False:
            continue
        option = meta["option"]
        flag = option if isinstance(option, str) else "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else None
        out.append(OptionSpec(f.name, flag, hints[f.name], default, meta["help"],
                              meta.get("choices", ())))
    return out


def field_help(cls: type) -> dict[str, str]:
    """Each field's help (:func:`setting`), for forms and listings."""
    return {f.name: f.metadata["help"] for f in dataclasses.fields(cls) if "help" in f.metadata}
