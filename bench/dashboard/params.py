"""Validation of every query parameter the dashboard accepts: unknown, repeated or malformed ones are refused."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping

from bench.errors import ConfigError
from bench.run.labels import check_label


class BadParameter(ValueError):
    """A query parameter the page cannot use; the message names it and says what to give instead."""


def only(query: Iterable[tuple[str, str]], allowed: Iterable[str]) -> dict[str, str]:
    """The query as a dict, refusing names not in `allowed` and names given twice."""
    allowed = tuple(allowed)
    out: dict[str, str] = {}
    for name, value in query:
        if name not in allowed:
            known = ", ".join(allowed) or "none"
            raise BadParameter(f"unknown parameter {name!r}; this page takes: {known}")
        if name in out:
            raise BadParameter(f"parameter {name!r} is given twice; give it once")
        out[name] = value
    return out


def label(params: Mapping[str, str], name: str, what: str) -> str:
    """A serial, lot, station or product name: required, printable, as long as the store keeps."""
    if name not in params:
        raise BadParameter(f"parameter {name!r} (the {what}) is missing; add ?{name}=...")
    try:
        return check_label(what, params[name])
    except ConfigError as error:
        raise BadParameter(f"parameter {name!r}: {error.problem}") from None


def day(params: Mapping[str, str], name: str, default: dt.date) -> dt.date:
    if name not in params or params[name] == "":
        return default
    try:
        return dt.date.fromisoformat(params[name])
    except ValueError:
        raise BadParameter(f"parameter {name!r} must be a date as YYYY-MM-DD, got {params[name]!r}") from None


def integer(params: Mapping[str, str], name: str, default: int | None, low: int, high: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        if default is None:
            raise BadParameter(f"parameter {name!r} is missing; give a whole number from {low} to {high}")
        return default
    if not text.isascii() or not text.isdigit():
        raise BadParameter(f"parameter {name!r} must be a whole number from {low} to {high}, got {text!r}")
    value = int(text)
    if not low <= value <= high:
        raise BadParameter(f"parameter {name!r} must be from {low} to {high}, got {value}")
    return value


def wavelength(params: Mapping[str, str], name: str) -> float:
    text = params.get(name, "")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 600.0 <= value <= 1700.0):
        raise BadParameter(f"parameter {name!r} must be a wavelength in nm from 600 to 1700, got {text!r}")
    return value
