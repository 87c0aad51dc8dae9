"""Conversion between bench.records objects and store rows, and record hashing.

The hash of a record is computed from its *stored* form (the rows as they sit
in the file), by the same function at write time and at verify time, so a
record verifies if and only if nothing in it changed since it was written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.errors import StoreError
from bench.records import OUTCOMES, CableRecord, FiberResult, ReferenceRecord
from bench.store.causes import causes_document, causes_from_docs
from bench.store.schema import (
    CABLE_DTYPE,
    FIBER_DTYPE,
    HASH_VERSION,
    NO_BLOB,
    REFERENCE_DTYPE,
    SCHEMA_VERSION,
    STRING_WIDTHS,
)

# Layout columns say *where* a record's parts are; the hash covers the parts
# themselves, so moving a pointer still changes what the hash is computed over.
_CABLE_LAYOUT = {
    "fiber_row_start",
    "fiber_row_count",
    "matrix_start",
    "recipe_blob",
    "instruments_blob",
    "wavelengths_blob",
    "extra_blob",
    "reason_blob",
    "causes_blob",
    "blob_rows_end",
    "blob_bytes_end",
    "sha256",
}
CABLE_HASHED_FIELDS = tuple(n for n in CABLE_DTYPE.names if n not in _CABLE_LAYOUT)
_REFERENCE_LAYOUT = {"values_start", "values_count", "details_blob", "blob_rows_end", "blob_bytes_end", "sha256"}
REFERENCE_HASHED_FIELDS = tuple(n for n in REFERENCE_DTYPE.names if n not in _REFERENCE_LAYOUT)
CABLE_BLOBS = ("recipe", "instruments", "wavelengths", "extra", "reason", "causes")
# Blobs a row written by an older version may lack (its pointer is NO_BLOB or its column absent).
_LATER_BLOBS = frozenset({"causes"})
# A cable reason lists every failing fiber, so it has no useful length limit:
# the full text is a blob, and the `reason` column holds it when it fits, else
# a prefix ending with this marker (readers return the full text).
REASON_CUT_MARK = " [...]"


def encode_str(field: str, value: object, width_key: str | None = None) -> bytes:
    """UTF-8 bytes of a string field, or a StoreError naming the field (never truncates)."""
    if not isinstance(value, str):
        raise StoreError(f"field '{field}' must be a str, got {type(value).__name__}")
    if "\x00" in value:
        raise StoreError(f"field '{field}' contains a NUL character, which the store cannot keep")
    raw = value.encode("utf-8")
    width = STRING_WIDTHS[width_key or field]
    if len(raw) > width:
        raise StoreError(
            f"field '{field}' is {len(raw)} bytes in UTF-8 but the store (schema v{SCHEMA_VERSION}) "
            f"keeps at most {width}: shorten it (value starts {value[:40]!r})"
        )
    return raw


def reason_column(reason: object) -> bytes:
    """The `reason` column value: the whole text if it fits, else a marked prefix."""
    try:
        return encode_str("reason", reason)
    except StoreError:
        if not isinstance(reason, str) or "\x00" in reason:
            raise
    room = STRING_WIDTHS["reason"] - len(REASON_CUT_MARK)
    prefix = reason.encode("utf-8")[:room].decode("utf-8", "ignore")
    return (prefix + REASON_CUT_MARK).encode("utf-8")


def cable_blob_ids(row: np.void) -> dict[str, int]:
    """The blob table rows of a cable's documents, by name; a document the row predates is absent."""
    ids = {}
    for name in CABLE_BLOBS:
        column = f"{name}_blob"
        if name in _LATER_BLOBS and (column not in row.dtype.names or int(row[column]) == NO_BLOB):
            continue
        ids[name] = int(row[column])
    return ids


def decode_str(raw: bytes) -> str:
    return raw.decode("utf-8")


def parse_utc(field: str, text: str) -> float:
    """Seconds since the epoch of an ISO 8601 UTC timestamp; StoreError if not UTC."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise StoreError(
            f"field '{field}' = {text!r} is not an ISO 8601 timestamp; use e.g. 2024-05-01T12:00:00Z"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() != dt.timedelta(0):
        raise StoreError(f"field '{field}' = {text!r} must be in UTC (end it with Z or +00:00)")
    return moment.timestamp()


def _json_default(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, dt.datetime | dt.date | dt.time):
        # TOML recipes may hold dates; they are kept as ISO text.
        return obj.isoformat()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def canonical_json(field: str, obj: object) -> bytes:
    """Deterministic UTF-8 JSON (sorted keys, no spaces, shortest float repr)."""
    try:
        text = json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True, default=_json_default
        )
    except (TypeError, ValueError) as exc:
        raise StoreError(f"field '{field}' cannot be stored as JSON: {exc}") from None
    return text.encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _as_int(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise StoreError(f"field '{field}' must be an int, got {value!r}")
    return int(value)


def _as_float(field: str, value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise StoreError(f"field '{field}' must be a number, got {value!r}") from None


def _row_values(row: np.void, names: Sequence[str]) -> dict[str, Any]:
    values = dict(zip(row.dtype.names, row.item(), strict=True))
    return {n: decode_str(values[n]) if isinstance(values[n], bytes) else values[n] for n in names}


def _array_digest(values: np.ndarray, shape: Sequence[int], dtype: str) -> dict[str, Any]:
    flat = np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"dtype": flat.dtype.str, "shape": [int(s) for s in shape], "sha256": sha256_hex(flat.tobytes())}


def cable_digest(
    row: np.void, fibers: np.ndarray, matrix: np.ndarray, docs: Mapping[str, Any], previous_sha256: str
) -> str:
    """sha256 of the canonical JSON of a stored cable record (row, fibers, matrix, blobs)."""
    fiber_rows = [[decode_str(v) if isinstance(v, bytes) else v for v in r] for r in fibers.tolist()]
    shape = (int(row["n_wavelengths"]), int(row["n_launch"]), int(row["n_receive"]))
    document = {
        "schema_version": HASH_VERSION,
        "table": "cables",
        "previous_sha256": previous_sha256,
        "cable": _row_values(row, CABLE_HASHED_FIELDS),
        # A document a row predates is left out, so the hash it was written with still holds.
        "blobs": {name: docs[name] for name in CABLE_BLOBS if name in docs},
        "fibers": {"fields": list(FIBER_DTYPE.names), "rows": fiber_rows},
        "power_matrix_dbm": _array_digest(matrix, shape, matrix.dtype.str),
    }
    return sha256_hex(canonical_json("record", document))


def reference_digest(row: np.void, values: np.ndarray, details: Mapping[str, Any], previous_sha256: str) -> str:
    document = {
        "schema_version": HASH_VERSION,
        "table": "references",
        "previous_sha256": previous_sha256,
        "reference": _row_values(row, REFERENCE_HASHED_FIELDS),
        "details": details,
        "values_dbm": _array_digest(values, [len(values)], "<f8"),
    }
    return sha256_hex(canonical_json("reference", document))


@dataclass
class PreparedCable:
    """A validated cable record in stored form; layout columns are filled by the writer."""

    row: np.ndarray  # shape (1,), CABLE_DTYPE
    fibers: np.ndarray  # FIBER_DTYPE
    matrix: np.ndarray  # flat, store dtype
    blobs: dict[str, bytes]  # canonical JSON per CABLE_BLOBS name


def prepare_cable(record: CableRecord, matrix_dtype: np.dtype) -> PreparedCable:
    """Validate every field and build the rows; raises StoreError before anything is written."""
    if not isinstance(record, CableRecord):
        raise StoreError(f"append_cable expects a bench.records.CableRecord, got {type(record).__name__}")
    if record.outcome not in OUTCOMES:
        raise StoreError(f"field 'outcome' = {record.outcome!r} is not one of {', '.join(OUTCOMES)}")
    attempt = _as_int("attempt", record.attempt)
    if attempt < 1:
        raise StoreError(f"field 'attempt' must be >= 1, got {attempt}")
    wavelengths = [_as_float("wavelengths_nm", w) for w in record.wavelengths_nm]
    matrix = np.asarray(record.power_matrix_dbm, dtype=np.float64)
    if matrix.ndim != 3:
        raise StoreError(
            f"field 'power_matrix_dbm' must be 3-D [wavelength, launch, receive], got shape {matrix.shape}"
        )
    if matrix.shape[0] != len(wavelengths):
        raise StoreError(
            f"field 'power_matrix_dbm' has {matrix.shape[0]} wavelengths but wavelengths_nm lists "
            f"{len(wavelengths)}"
        )
    stored_matrix = matrix.astype(matrix_dtype)
    if np.any(np.isfinite(matrix) & ~np.isfinite(stored_matrix)):
        raise StoreError(f"field 'power_matrix_dbm' has values out of range for {matrix_dtype}")

    causes = causes_document(record.causes)
    row = np.zeros(1, dtype=CABLE_DTYPE)
    for name in ("serial", "lot", "kind", "recipe_name", "station_name", "operator", "software_version",
                 "started_utc", "finished_utc", "outcome", "decision_rule", "reference_id", "polarity_found"):
        row[name] = encode_str(name, getattr(record, name))
    row["reason"] = reason_column(record.reason)
    row["started_unix_s"] = parse_utc("started_utc", record.started_utc)
    if record.finished_utc:
        parse_utc("finished_utc", record.finished_utc)
    row["attempt"] = attempt
    row["uncertainty_db"] = _as_float("uncertainty_db", record.uncertainty_db)
    row["coverage_factor"] = _as_float("coverage_factor", record.coverage_factor)
    row["n_wavelengths"] = len(wavelengths)
    row["n_launch"], row["n_receive"] = matrix.shape[1], matrix.shape[2]

    fibers = prepare_fibers(record.fibers)
    row["n_fibers"] = len(np.unique(fibers["fiber_position"]))
    row["fiber_row_count"] = len(fibers)
    instruments = [dict(i) for i in record.instruments]
    blobs = {
        "recipe": canonical_json("recipe_snapshot", record.recipe_snapshot),
        "instruments": canonical_json("instruments", instruments),
        "wavelengths": canonical_json("wavelengths_nm", wavelengths),
        "extra": canonical_json("extra", record.extra),
        "reason": canonical_json("reason", record.reason),
        "causes": canonical_json("causes", causes),
    }
    return PreparedCable(row=row, fibers=fibers, matrix=stored_matrix.ravel(), blobs=blobs)


def _column(fibers: Sequence[FiberResult], name: str, kind: str) -> np.ndarray:
    values = [getattr(f, name) for f in fibers]
    try:
        column = np.asarray(values, dtype=np.float64 if kind == "f" else None)
    except (TypeError, ValueError):
        column = None
    if kind == "i" and column is not None and column.dtype.kind not in "iu":
        column = None
    if column is None or column.ndim != 1:
        bad = next((k for k, v in enumerate(values) if not isinstance(v, int | float | np.number)), 0)
        raise StoreError(f"field 'fibers[{bad}].{name}' must be {'an int' if kind == 'i' else 'a number'}, "
                         f"got {values[bad]!r}")
    return column


def prepare_fibers(fibers: Sequence[FiberResult]) -> np.ndarray:
    for i, fiber in enumerate(fibers):
        if not isinstance(fiber, FiberResult):
            raise StoreError(f"fibers[{i}] must be a bench.records.FiberResult, got {type(fiber).__name__}")
    rows = np.zeros(len(fibers), dtype=FIBER_DTYPE)
    if not fibers:
        return rows
    rows["record_index"] = -1
    for name in ("fiber_position", "launch_position", "receive_channel"):
        rows[name] = _column(fibers, name, "i")
    for name in ("wavelength_nm", "reference_power_dbm", "dut_power_dbm", "insertion_loss_db", "limit_db",
                 "margin_db"):
        rows[name] = _column(fibers, name, "f")
    rows["verdict"] = [encode_str(f"fibers[{i}].verdict", f.verdict, "verdict") for i, f in enumerate(fibers)]
    rows["reason"] = [encode_str(f"fibers[{i}].reason", f.reason, "fiber_reason") for i, f in enumerate(fibers)]
    return rows


def cable_record_from_rows(
    row: np.void, fibers: np.ndarray, matrix: np.ndarray, docs: Mapping[str, Any]
) -> CableRecord:
    """Rebuild the CableRecord a stored row came from (power matrix in the store's dtype)."""
    v = _row_values(row, row.dtype.names)
    shape = (v["n_wavelengths"], v["n_launch"], v["n_receive"])
    fiber_results = tuple(
        FiberResult(
            fiber_position=int(f["fiber_position"]),
            wavelength_nm=float(f["wavelength_nm"]),
            launch_position=int(f["launch_position"]),
            receive_channel=int(f["receive_channel"]),
            reference_power_dbm=float(f["reference_power_dbm"]),
            dut_power_dbm=float(f["dut_power_dbm"]),
            insertion_loss_db=float(f["insertion_loss_db"]),
            limit_db=float(f["limit_db"]),
            margin_db=float(f["margin_db"]),
            verdict=decode_str(f["verdict"]),
            reason=decode_str(f["reason"]),
        )
        for f in fibers
    )
    return CableRecord(
        serial=v["serial"],
        lot=v["lot"],
        attempt=v["attempt"],
        recipe_name=v["recipe_name"],
        recipe_snapshot=docs["recipe"],
        station_name=v["station_name"],
        operator=v["operator"],
        software_version=v["software_version"],
        started_utc=v["started_utc"],
        finished_utc=v["finished_utc"],
        outcome=v["outcome"],
        reason=docs["reason"],
        decision_rule=v["decision_rule"],
        uncertainty_db=v["uncertainty_db"],
        coverage_factor=v["coverage_factor"],
        reference_id=v["reference_id"],
        polarity_found=v["polarity_found"],
        instruments=tuple(docs["instruments"]),
        wavelengths_nm=tuple(docs["wavelengths"]),
        power_matrix_dbm=np.asarray(matrix).reshape(shape),
        fibers=fiber_results,
        kind=v["kind"],
        extra=docs["extra"],
        causes=causes_from_docs(docs, v["outcome"], docs["reason"]),
    )


@dataclass
class PreparedReference:
    row: np.ndarray  # shape (1,), REFERENCE_DTYPE
    values: np.ndarray  # float64: reference_power_dbm then power_matrix_dbm, flat
    details: bytes


def prepare_reference(record: ReferenceRecord) -> PreparedReference:
    if not isinstance(record, ReferenceRecord):
        raise StoreError(f"add_reference expects a bench.records.ReferenceRecord, got {type(record).__name__}")
    row = np.zeros(1, dtype=REFERENCE_DTYPE)
    for name in ("reference_id", "method", "taken_utc", "station_name", "operator"):
        row[name] = encode_str(name, getattr(record, name))
    if not record.reference_id:
        raise StoreError("field 'reference_id' must not be empty")
    row["taken_unix_s"] = parse_utc("taken_utc", record.taken_utc)
    reference_power = np.asarray(record.reference_power_dbm, dtype=np.float64)
    matrix = np.asarray(record.power_matrix_dbm, dtype=np.float64)
    details = {
        "cord_ids": [encode_str("cord_ids", c, "serial").decode() for c in record.cord_ids],
        "wavelengths_nm": [_as_float("wavelengths_nm", w) for w in record.wavelengths_nm],
        "launch_positions": [_as_int("launch_positions", p) for p in record.launch_positions],
        "receive_channels": [_as_int("receive_channels", p) for p in record.receive_channels],
        "instruments": [dict(i) for i in record.instruments],
        "reference_power_shape": list(reference_power.shape),
        "power_matrix_shape": list(matrix.shape),
    }
    values = np.concatenate([reference_power.ravel(), matrix.ravel()])
    row["values_count"] = len(values)
    return PreparedReference(row=row, values=values, details=canonical_json("reference details", details))


def reference_record_from_rows(row: np.void, values: np.ndarray, details: Mapping[str, Any]) -> ReferenceRecord:
    v = _row_values(row, REFERENCE_DTYPE.names)
    power_shape = tuple(details["reference_power_shape"])
    n_power = math.prod(power_shape)
    return ReferenceRecord(
        reference_id=v["reference_id"],
        method=v["method"],
        taken_utc=v["taken_utc"],
        station_name=v["station_name"],
        operator=v["operator"],
        cord_ids=tuple(details["cord_ids"]),
        wavelengths_nm=tuple(details["wavelengths_nm"]),
        launch_positions=tuple(details["launch_positions"]),
        receive_channels=tuple(details["receive_channels"]),
        reference_power_dbm=np.asarray(values[:n_power]).reshape(power_shape),
        power_matrix_dbm=np.asarray(values[n_power:]).reshape(tuple(details["power_matrix_shape"])),
        instruments=tuple(details["instruments"]),
    )
