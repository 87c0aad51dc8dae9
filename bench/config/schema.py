"""The schema layer: every configuration file's shape, types and physical ranges, in one place.

Built on pydantic v2 in strict mode with unknown keys forbidden: a string is never a number
(`port_count = "12"`), `true` is never 1, NaN and infinity are never numbers
(`allow_inf_nan=False`), a misspelt key is an error rather than a silent default. The same
declarations give the JSON Schema editors use (`docs/config-schema.json`, written by
`python -m bench.config.schema`; a test checks it is current).

Declaring a field is one line in a section class::

    golden_every_h: float = quantity(0, 168, "hours between golden-cable checks", default=0.0)

`quantity(minimum, maximum, help)` is a finite number in a closed range (`exclusive_minimum=True`
for "> minimum"), `count(minimum, maximum, help)` a whole number, `Name` printable non-empty text,
`Text` printable text that may be empty. Sections are `@section` classes (frozen dataclasses
validated on construction, so `dataclasses.replace` re-checks too). Cross-field rules that no
single field can state (a meter named in the fixture exists, a limit per test wavelength) live
next to the file's loader and raise `ConfigError` the same way.

Validation errors come back as one `ConfigError` naming the file, the field (`instruments[2].slot`),
the problem and the fix, the form every refusal had before this layer.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Annotated, Any

import pydantic
from pydantic import AfterValidator, ConfigDict, Field, Strict, TypeAdapter, ValidationError

from bench.errors import ConfigError

STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
# Sections are dataclasses (so `dataclasses.replace` works and re-validates). pydantic's strict
# mode would refuse a TOML table for a nested dataclass, so a section is lax as a whole and every
# scalar in it is strict on its own: build fields with quantity(), count(), Name, Text, Flag or a
# Literal, never a bare int/float/str/bool.
_SECTION = ConfigDict(extra="forbid", allow_inf_nan=False)

section = functools.partial(pydantic.dataclasses.dataclass, frozen=True, kw_only=True, config=_SECTION)

# Characters no name carries: controls (NUL, Esc, Tab), format characters (bidi overrides such as
# U+202E, which make a certificate show another serial than the store holds), separators other
# than the plain space, and unassigned or private code points.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
NAME_MAX_CHARS = 200


def _printable(text: str) -> str:
    bad = next((char for char in text if unicodedata.category(char) in _REFUSED_CATEGORIES), None)
    if bad is not None:
        raise ValueError(f"contains the unprintable character U+{ord(bad):04X}; retype it with printable "
                         "characters only (no control, format or bidi-override characters)")
    return text


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("is empty; write a name")
    return text


Text = Annotated[str, Strict(), Field(max_length=4000), AfterValidator(_printable)]
Name = Annotated[str, Strict(), Field(min_length=1, max_length=NAME_MAX_CHARS), AfterValidator(_printable),
                 AfterValidator(_not_blank)]
Flag = Annotated[bool, Strict()]


def date_from_text(value: Any) -> Any:
    """A quoted "YYYY-MM-DD" as a date (a TOML date is one already); for a `mode="before"` validator."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError("is not a date; write it as YYYY-MM-DD") from None
    return value


def quantity(minimum: float, maximum: float, help: str = "", *, default: Any = ...,
             exclusive_minimum: bool = False) -> Any:
    """A finite number in `minimum`..`maximum` (`> minimum` when `exclusive_minimum`)."""
    low = {"gt": minimum} if exclusive_minimum else {"ge": minimum}
    return Field(default, le=maximum, strict=True, description=help or None, **low)


def count(minimum: int, maximum: int, help: str = "", *, default: Any = ...) -> Any:
    """A whole number in `minimum`..`maximum`."""
    return Field(default, ge=minimum, le=maximum, strict=True, description=help or None)


def as_tuples(value: Any) -> Any:
    """TOML arrays as tuples, all the way down: configuration objects are frozen, and strict mode
    takes a sequence field only as a tuple."""
    if isinstance(value, list | tuple):
        return tuple(as_tuples(item) for item in value)
    if isinstance(value, Mapping):
        return {key: as_tuples(item) for key, item in value.items()}
    return value


@functools.cache
def _adapter(kind: Any) -> TypeAdapter:
    return TypeAdapter(kind)


def validate(kind: Any, data: Any, source: str, prefix: str = "") -> Any:
    """`data` (TOML as read) checked against `kind`, or ConfigError for the first problem."""
    try:
        return _adapter(kind).validate_python(as_tuples(data))
    except ValidationError as error:
        raise config_error(error, source, prefix) from None


# --------------------------------------------------------------------------- errors


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_WAVELENGTH_KEY = re.compile(r"[0-9]+\.0")


def field_path(location: tuple[Any, ...], prefix: str = "") -> str:
    """pydantic's error location as a dotted TOML path: ('instruments', 2, 'slot') → instruments[2].slot.

    Union-member tags pydantic inserts (`function-after[...]`, a driver tag) are not fields and
    are left out."""
    path = prefix
    for part in location:
        if isinstance(part, bool):
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, float):  # a table keyed by wavelength, read as numbers
            path = f"{path}.{part:g}"
        elif isinstance(part, str) and _WAVELENGTH_KEY.fullmatch(part):  # a float key pydantic wrote as text
            path = f"{path}.{float(part):g}"
        elif isinstance(part, str) and not _is_tag(part):
            key = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)  # as TOML writes it
            path = f"{path}.{key}" if path else key
    return path or "<root>"


def _is_tag(part: str) -> bool:
    return "[" in part or part.startswith(("function-", "tagged-union")) or part in _TAGS


_TAGS: set[str] = set()  # union-member tags registered by the schemas that use tagged unions


def register_tags(*tags: str) -> None:
    _TAGS.update(tags)


def config_error(error: ValidationError, source: str, prefix: str = "") -> ConfigError:
    first = error.errors(include_url=False)[0]
    where = field_path(first["loc"], prefix)
    if first["type"] == "union_tag_invalid":  # the tag pydantic chose the member by: the driver
        where = f"{where}.driver"
        first = {**first, "input": (first.get("ctx") or {}).get("tag")}
    key = next((p for p in reversed(first["loc"]) if isinstance(p, str) and not _is_tag(p)), where)
    problem, fix = _explain(first, key)
    return ConfigError(source, where, problem, fix)


def _explain(error: Mapping[str, Any], key: str) -> tuple[str, str]:  # noqa: C901 - one branch per kind of mistake
    kind, value, context = error["type"], error.get("input"), error.get("ctx") or {}
    shown = _shown(value)
    if kind in ("missing", "missing_keyword_argument"):
        return "required field is missing", f"add '{key} = ...' (see bench/examples/ for a complete file)"
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return "unknown key", "remove it or correct the spelling (docs/config-schema.json lists every key)"
    if kind == "finite_number":
        return f"{shown} is not a finite number", "write a finite number (NaN and inf are not values)"
    if kind in ("int_type", "int_from_float"):
        return f"expected a whole number, got {shown}", "write a whole number without quotes"
    if kind in ("float_type",):
        return f"expected a number, got {shown}", "write a number without quotes"
    if kind in ("string_type",):
        return f"expected text, got {shown}", 'write it in quotes: "..."'
    if kind in ("bool_type",):
        return f"expected true or false, got {shown}", "write true or false without quotes"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {shown}", "write a list in brackets: [ ... ]"
    if kind in ("dict_type", "dataclass_type", "model_type", "dataclass_exact_type", "model_attributes_type"):
        return f"expected a table, got {shown}", f"write [{key}] as a TOML table"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return _out_of_range(error, value)
    if kind == "string_too_short":
        return f"expected non-empty text, got {shown}", 'write it in quotes: "..."'
    if kind == "too_short":
        return f"expected a non-empty list, got {shown}", f"list at least {context.get('min_length', 1)} item(s)"
    if kind in ("too_long", "string_too_long"):
        return "is too long", f"use at most {context.get('max_length')} item(s) or characters"
    if kind in ("literal_error", "union_tag_invalid", "enum"):
        expected = str(context.get("expected") or context.get("expected_tags") or "")
        choices = expected.replace(chr(39), "").replace(" or ", ", ")
        if not isinstance(value, str):
            return f"expected text (one of {choices}), got {shown}", f'write one of {choices}, in quotes'
        return f"unknown value {shown}", f"use one of {choices}"
    if kind in ("date_type", "date_from_datetime_parsing", "date_parsing"):
        return f"not a date: {shown}", "write it as YYYY-MM-DD"
    if kind == "value_error":
        problem, _, fix = _reason(error).partition("; ")
        if repr(value) not in problem:  # the validator may name the value itself ("unknown polish 'SPC'")
            problem = f"{shown} {problem}"
        return problem, fix or "correct the value (see docs/config-schema.json)"
    return f"{error['msg']} (got {shown})", "correct the value (see docs/config-schema.json)"


def _reason(error: Mapping[str, Any]) -> str:
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _out_of_range(error: Mapping[str, Any], value: Any) -> tuple[str, str]:
    context = error.get("ctx") or {}
    bound = _range_text(error)
    if context.get("ge") == 0 and value < 0:
        return f"{value:g} is negative", f"use a value {bound}"
    if context.get("gt") == 0 and value <= 0:
        return f"{value:g} is not positive", f"use a value {bound}"
    return f"{value:g} is out of range (must be {bound})", f"use a value {bound}"


def _range_text(error: Mapping[str, Any]) -> str:
    context = error.get("ctx") or {}
    words = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    return " and ".join(f"{words[k]} {v:g}" if isinstance(v, int | float) else f"{words[k]} {v}"
                        for k, v in context.items() if k in words)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
