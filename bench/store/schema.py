"""Layout of the HDF5 results store, schema version 3 (see docs/hdf5-schema.md).

Every dataset is created once, when the file is created, because SWMR forbids
new objects and attributes once a writer has switched it on. Strings are
fixed-length UTF-8 byte strings (variable-length strings are not SWMR-safe);
the widths below are part of the schema and a longer value is rejected, never
truncated.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import h5py
import numpy as np

SCHEMA_VERSION = 3
# The "schema_version" inside each record's hashed document: the hash format, which versions 2
# and 3 did not change (3 adds a blob the document lists when a record has it), so records
# written by any version verify the same way.
HASH_VERSION = 1
FORMAT_NAME = "mpo-bench results store"

CABLES = "cables"
CABLE_KEYS = "cable_keys"
FIBERS = "fibers"
POWER_MATRIX = "power_matrix_dbm"
REFERENCES = "references"
REFERENCE_VALUES = "reference_values_dbm"
BLOB_BYTES = "blob_bytes"
BLOB_INDEX = "blob_index"

# UTF-8 byte widths of the fixed-length string fields (schema v1).
STRING_WIDTHS: dict[str, int] = {
    "serial": 64,
    "lot": 64,
    "kind": 32,
    "recipe_name": 64,
    "station_name": 64,
    "operator": 64,
    "software_version": 64,
    "started_utc": 40,
    "finished_utc": 40,
    "stored_utc": 40,
    "outcome": 16,
    "reason": 256,
    "decision_rule": 32,
    "reference_id": 64,
    "polarity_found": 32,
    "sha256": 64,
    "verdict": 16,
    "fiber_reason": 128,
    "method": 32,
    "taken_utc": 40,
}


def utf8(width: int) -> np.dtype:
    return h5py.string_dtype("utf-8", width)


def _s(name: str, width_key: str | None = None) -> tuple[str, np.dtype]:
    return (name, utf8(STRING_WIDTHS[width_key or name]))


CABLE_DTYPE = np.dtype(
    [
        ("record_index", "<i8"),
        _s("serial"),
        _s("lot"),
        ("attempt", "<i4"),
        _s("kind"),
        _s("recipe_name"),
        _s("station_name"),
        _s("operator"),
        _s("software_version"),
        _s("started_utc"),
        _s("finished_utc"),
        ("started_unix_s", "<f8"),
        _s("outcome"),
        _s("reason"),
        _s("decision_rule"),
        ("uncertainty_db", "<f8"),
        ("coverage_factor", "<f8"),
        _s("reference_id"),
        _s("polarity_found"),
        ("n_fibers", "<i4"),
        ("n_wavelengths", "<i4"),
        ("n_launch", "<i4"),
        ("n_receive", "<i4"),
        ("fiber_row_start", "<i8"),
        ("fiber_row_count", "<i4"),
        ("matrix_start", "<i8"),
        ("recipe_blob", "<i8"),
        ("instruments_blob", "<i8"),
        ("wavelengths_blob", "<i8"),
        ("extra_blob", "<i8"),
        ("reason_blob", "<i8"),
        ("causes_blob", "<i8"),  # NO_BLOB in a row written before version 3 (no causes were recorded)
        ("blob_rows_end", "<i8"),
        ("blob_bytes_end", "<i8"),
        _s("stored_utc"),
        _s("sha256"),
    ]
)

FIBER_DTYPE = np.dtype(
    [
        ("record_index", "<i8"),
        ("fiber_position", "<i4"),
        ("wavelength_nm", "<f8"),
        ("launch_position", "<i4"),
        ("receive_channel", "<i4"),
        ("reference_power_dbm", "<f8"),
        ("dut_power_dbm", "<f8"),
        ("insertion_loss_db", "<f8"),
        ("limit_db", "<f8"),
        ("margin_db", "<f8"),
        _s("verdict"),
        _s("reason", "fiber_reason"),
    ]
)

REFERENCE_DTYPE = np.dtype(
    [
        ("record_index", "<i8"),
        _s("reference_id"),
        _s("method"),
        _s("taken_utc"),
        ("taken_unix_s", "<f8"),
        _s("station_name"),
        _s("operator"),
        ("values_start", "<i8"),
        ("values_count", "<i8"),
        ("details_blob", "<i8"),
        ("blob_rows_end", "<i8"),
        ("blob_bytes_end", "<i8"),
        _s("stored_utc"),
        _s("sha256"),
    ]
)

# The columns queries filter on, duplicated from `cables` into a small
# uncompressed table so a query reads ~230 bytes per cable instead of ~1.1 kB
# of compressed rows. verify_store checks that both agree.
CABLE_KEY_DTYPE = np.dtype(
    [
        ("record_index", "<i8"),
        _s("serial"),
        _s("lot"),
        ("attempt", "<i4"),
        _s("reference_id"),
        ("started_unix_s", "<f8"),
        _s("outcome"),
    ]
)

# A blob pointer that points nowhere: the document did not exist when the row was written.
NO_BLOB = -1

BLOB_INDEX_DTYPE = np.dtype([("sha256", utf8(64)), ("offset", "<i8"), ("length", "<i8")])

CABLE_UNITS = {
    "uncertainty_db": "dB",
    "coverage_factor": "1",
    "started_unix_s": "s since 1970-01-01T00:00:00Z",
    "started_utc": "ISO 8601, UTC",
    "finished_utc": "ISO 8601, UTC",
    "stored_utc": "ISO 8601, UTC",
}
CABLE_UNITS_KEYS = {"started_unix_s": CABLE_UNITS["started_unix_s"]}
FIBER_UNITS = {
    "wavelength_nm": "nm",
    "reference_power_dbm": "dBm",
    "dut_power_dbm": "dBm",
    "insertion_loss_db": "dB",
    "limit_db": "dB",
    "margin_db": "dB",
}
REFERENCE_UNITS = {"taken_utc": "ISO 8601, UTC", "taken_unix_s": "s since 1970-01-01T00:00:00Z"}

# Under SWMR, HDF5 never reuses the file space of a rewritten compressed chunk
# (a reader may still be reading it), and every append rewrites the last,
# partly filled chunk of each table. Compressed tables therefore get small
# chunks; the power matrix (noisy floats, barely compressible) is stored
# uncompressed so its chunks are updated in place and nothing leaks.
CHUNK_ROWS = {
    CABLES: 8,
    CABLE_KEYS: 512,
    FIBERS: 48,
    POWER_MATRIX: 16384,
    REFERENCES: 8,
    REFERENCE_VALUES: 4096,
    BLOB_BYTES: 16384,
    BLOB_INDEX: 64,
}
COMPRESSED = {CABLES, FIBERS, REFERENCES, BLOB_INDEX}

# Fill values let a reader tell a row that never got its data (a torn append)
# from a real one: record_index -1 is never a committed row.
def _fill(dtype: np.dtype) -> np.ndarray:
    row = np.zeros((), dtype=dtype)
    if "record_index" in dtype.names:
        row["record_index"] = -1
    if "offset" in dtype.names:
        row["offset"] = -1
    return row


# File attributes of version 2. A record number is never given twice, even after a repair dropped
# unreadable rows: the writer starts from max(next_record_index, what the tables show).
NEXT_RECORD_INDEX = "next_record_index"
NEXT_REFERENCE_INDEX = "next_reference_index"
REPAIR_LOG = "repair_log"  # JSON list, one entry per repair: what was lost, why, where it was quarantined


DESCRIPTIONS = {
    CABLES: "One row per cable test attempt; the commit point of a record.",
    CABLE_KEYS: "Query columns of /cables, same row order (an index).",
    FIBERS: "One row per fiber x wavelength; rows of a cable are contiguous.",
    POWER_MATRIX: "Flat power matrices, C order [wavelength, launch, receive]; cables.matrix_start + n_* give each.",
    REFERENCES: "One row per reference measurement.",
    REFERENCE_VALUES: "Per reference: reference_power_dbm [wavelength, launch] then power_matrix_dbm, C order, flat.",
    BLOB_BYTES: "Concatenated canonical UTF-8 JSON documents (deduplicated).",
    BLOB_INDEX: "One row per distinct JSON document: sha256, offset, length.",
}


def _create_table(f: h5py.File, name: str, dtype: np.dtype, units: dict[str, str]) -> h5py.Dataset:
    ds = f.create_dataset(
        name,
        shape=(0,),
        maxshape=(None,),
        dtype=dtype,
        chunks=(CHUNK_ROWS[name],),
        compression="gzip" if name in COMPRESSED else None,
        compression_opts=4 if name in COMPRESSED else None,
        shuffle=name in COMPRESSED,
        fillvalue=_fill(dtype) if dtype.names else None,
    )
    ds.attrs["units"] = json.dumps(units, sort_keys=True)
    ds.attrs["description"] = DESCRIPTIONS[name]
    return ds


def create_layout(f: h5py.File, power_matrix_dtype: str, created_utc: str, software: str) -> None:
    """Create every dataset and attribute of an empty store (current schema)."""
    f.attrs["schema_version"] = SCHEMA_VERSION
    f.attrs[NEXT_RECORD_INDEX] = 0
    f.attrs[NEXT_REFERENCE_INDEX] = 0
    f.attrs[REPAIR_LOG] = "[]"
    f.attrs["format"] = FORMAT_NAME
    f.attrs["created_utc"] = created_utc
    f.attrs["created_by"] = software
    f.attrs["documentation"] = "docs/hdf5-schema.md in the mpo-bench repository"

    _create_table(f, CABLES, CABLE_DTYPE, CABLE_UNITS)
    _create_table(f, CABLE_KEYS, CABLE_KEY_DTYPE, CABLE_UNITS_KEYS)
    _create_table(f, FIBERS, FIBER_DTYPE, FIBER_UNITS)
    _create_table(f, POWER_MATRIX, np.dtype(power_matrix_dtype), {"value": "dBm"})
    _create_table(f, REFERENCES, REFERENCE_DTYPE, REFERENCE_UNITS)
    _create_table(f, REFERENCE_VALUES, np.dtype("<f8"), {"value": "dBm"})
    _create_table(f, BLOB_BYTES, np.dtype("u1"), {})
    _create_table(f, BLOB_INDEX, BLOB_INDEX_DTYPE, {})


def current_cable_rows(rows: np.ndarray) -> np.ndarray:
    """Cable rows of any version in the current dtype: every column they have, unchanged, and
    NO_BLOB for a blob they predate (a version 1 or 2 row has no causes)."""
    if rows.dtype == CABLE_DTYPE:
        return rows
    out = np.zeros(rows.shape, dtype=CABLE_DTYPE)
    for name in CABLE_DTYPE.names:
        out[name] = rows[name] if name in rows.dtype.names else (NO_BLOB if name.endswith("_blob") else 0)
    return out


def _v1_to_v2(f: h5py.File) -> None:
    """Version 1 numbered records by row position; version 2 keeps that but may skip numbers a
    repair lost, and remembers the next free number. Data is not touched; a v1 file's rows are
    its record numbers, so the next free ones are its extents (a torn tail row only reserves a
    number that was never given)."""
    f.attrs[NEXT_RECORD_INDEX] = int(f[CABLES].shape[0])
    f.attrs[NEXT_REFERENCE_INDEX] = int(f[REFERENCES].shape[0])
    f.attrs[REPAIR_LOG] = "[]"


# The new /cables while the 2 -> 3 migration builds it (docs/hdf5-schema.md).
MIGRATING_CABLES = "cables_migrating_to_v3"


def _v2_to_v3(f: h5py.File) -> None:
    """Version 3 records a cable's causes (code, detail) as a JSON document, so /cables gains a
    `causes_blob` column: the table is rewritten with it, every existing row unchanged and
    pointing nowhere (NO_BLOB: no causes were recorded), so every hash still verifies. The old
    table's file space is not reused (HDF5 does not shrink a file; h5repack does)."""
    # The new table is complete before the old one goes, so a migration killed at any point
    # leaves either the old table, or both (redone), or only the complete new one (renamed).
    if CABLES not in f and MIGRATING_CABLES in f:
        f.move(MIGRATING_CABLES, CABLES)
    if MIGRATING_CABLES in f:
        del f[MIGRATING_CABLES]
    old = f[CABLES]
    rows = current_cable_rows(old[...])
    new = f.create_dataset(MIGRATING_CABLES, data=rows, maxshape=(None,), chunks=(CHUNK_ROWS[CABLES],),
                           compression="gzip", compression_opts=4, shuffle=True, fillvalue=_fill(CABLE_DTYPE))
    new.attrs["units"], new.attrs["description"] = old.attrs["units"], old.attrs["description"]
    f.flush()
    del f[CABLES]
    f.move(MIGRATING_CABLES, CABLES)


# Migrations from version n to n + 1, applied by the writer on open. Each one
# receives the file opened read/write (not SWMR) and must leave it at n + 1.
MIGRATIONS: dict[int, Callable[[h5py.File], None]] = {1: _v1_to_v2, 2: _v2_to_v3}


def repair_log(f: h5py.File) -> list[dict]:
    """The repairs recorded in the file (empty for a v1 file or one never repaired)."""
    return json.loads(f.attrs.get(REPAIR_LOG, "[]"))


def lost_record_indexes(f: h5py.File, table: str = CABLES) -> set[int]:
    """Record numbers a repair recorded as lost (unreadable, quarantined) in `table`."""
    return {int(i) for entry in repair_log(f) for i in entry.get("lost", {}).get(table, {}).get("record_indexes", [])}
