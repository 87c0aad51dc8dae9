"""Typed driver options: what a station file may set for one instrument, checked before any
instrument is touched.

Each driver names a frozen dataclass (`Driver.Options`) whose fields are its options, with
their types and, in the field metadata, the allowed range or choices and what to write
instead. `check_options` turns a station file's table into keyword arguments or raises a
`ValueError` that names the option and the fix.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any


def option(help: str = "", *, minimum: float | None = None, maximum: float | None = None,
           choices: tuple[Any, ...] | None = None) -> dict[str, Any]:
    """Field metadata: `dataclasses.field(default=..., metadata=option("...", minimum=1))`."""
    return {"help": help, "minimum": minimum, "maximum": maximum, "choices": choices}


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """A driver without options of its own."""


# Options every driver takes from the station layer (not from the station file's
# instrument table): timing, naming, recovery.
BASE_OPTIONS = frozenset({"name", "timeout_s", "check_identity", "max_recoveries", "retry_budget"})


def _accepts(value: Any, annotation: Any) -> Any:  # noqa: C901 - one branch per annotation kind an option may declare
    """`value` converted to `annotation` (int → float, list → tuple), or raise TypeError."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        arguments = typing.get_args(annotation)
        if value is None and type(None) in arguments:
            return None
        for argument in arguments:
            if argument is type(None):
                continue
            try:
                return _accepts(value, argument)
            except TypeError:
                continue
        raise TypeError(annotation)
    if origin is typing.Literal:
        if value in typing.get_args(annotation):
            return value
        raise TypeError(annotation)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise TypeError(annotation)
        arguments = typing.get_args(annotation)
        item = arguments[0] if arguments else Any
        return tuple(_accepts(element, item) for element in value)
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise TypeError(annotation)
        return dict(value)
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise TypeError(annotation)
    if annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise TypeError(annotation)
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError(annotation)
    if annotation is str:
        if isinstance(value, str):
            return value
        raise TypeError(annotation)
    raise TypeError(annotation)


def _type_text(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__  # `int`, not `<class 'int'>`
    return str(annotation).replace("typing.", "")


def check_options(options_type: type, values: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """The options in `values` checked against `options_type`: unknown names, wrong types and
    values out of range raise ValueError naming `where`, the option and what to write."""
    prefix = f"{where}: " if where else ""
    fields = {item.name: item for item in dataclasses.fields(options_type)}
    hints = typing.get_type_hints(options_type)
    checked: dict[str, Any] = {}
    for name, value in values.items():
        if name in BASE_OPTIONS:
            checked[name] = value
            continue
        if name not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise ValueError(f"{prefix}unknown option {name!r}; this driver's options are: {known}")
        item = fields[name]
        try:
            converted = _accepts(value, hints[name])
        except TypeError:
            raise ValueError(f"{prefix}option {name!r} = {value!r} must be {_type_text(hints[name])}"
                             f"{'; ' + item.metadata['help'] if item.metadata.get('help') else ''}") from None
        _check_bounds(prefix, name, converted, item.metadata)
        checked[name] = converted
    return checked


def _check_bounds(prefix: str, name: str, value: Any, metadata: Mapping[str, Any]) -> None:
    minimum, maximum, choices = metadata.get("minimum"), metadata.get("maximum"), metadata.get("choices")
    for element in value if isinstance(value, tuple) else (value,):
        if element is None:
            continue
        if choices is not None and element not in choices:
            raise ValueError(f"{prefix}option {name!r} = {element!r} must be one of {list(choices)}")
        if minimum is not None and element < minimum or maximum is not None and element > maximum:
            raise ValueError(f"{prefix}option {name!r} = {element!r} outside {minimum:g}..{maximum:g}"
                             if minimum is not None and maximum is not None else
                             f"{prefix}option {name!r} = {element!r} out of range")
