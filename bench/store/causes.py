"""A cable record's causes in the store: the JSON document of schema 3, and what readers give for
a record stored before causes were (docs/causes.md, docs/hdf5-schema.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.errors import StoreError
from bench.records import Cause, CauseCode, Outcome


def causes_document(causes: object) -> list[dict[str, str]]:
    """The JSON document of a record's causes, or a StoreError naming the field (never guesses)."""
    if not isinstance(causes, tuple | list):
        raise StoreError(f"field 'causes' must be a tuple of bench.records.Cause, got {type(causes).__name__}")
    document = []
    for i, cause in enumerate(causes):
        if not isinstance(cause, Cause):
            raise StoreError(f"field 'causes[{i}]' must be a bench.records.Cause, got {type(cause).__name__}")
        if cause.code not in _CAUSE_CODES:
            raise StoreError(f"field 'causes[{i}].code' = {cause.code!r} is not a known cause code: use a "
                             "bench.records.CauseCode (docs/causes.md lists them)")
        if not isinstance(cause.detail, str):
            raise StoreError(f"field 'causes[{i}].detail' must be a str, got {type(cause.detail).__name__}")
        document.append({"code": str(cause.code), "detail": cause.detail})
    return document


_CAUSE_CODES = frozenset(CauseCode)


def causes_from_docs(docs: Mapping[str, Any], outcome: str, reason: str) -> tuple[Cause, ...]:
    """A record's causes: as stored (schema v3), or, for a record stored before causes were,
    one UNCLASSIFIED cause per "; "-separated part of the reason of a record that is no PASS."""
    if "causes" in docs:
        return tuple(Cause(CauseCode(c["code"]), c["detail"]) for c in docs["causes"])
    if outcome == Outcome.PASS or not reason:
        return ()
    return tuple(Cause(CauseCode.UNCLASSIFIED, part) for part in reason.split("; ") if part)
