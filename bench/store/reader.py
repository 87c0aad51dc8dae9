"""Readers: load_results(), load_references() and verify_store().

All of them open the file read-only in SWMR mode, so they work while a bench
writes (and on a file whose writer was killed), and they only ever see
committed records.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.errors import StoreError
from bench.records import CableRecord, ReferenceRecord
from bench.store.codec import (
    CABLE_BLOBS,
    REASON_CUT_MARK,
    cable_digest,
    cable_record_from_rows,
    decode_str,
    parse_utc,
    reference_digest,
    reference_record_from_rows,
)
from bench.store.layout import (
    BlobReader,
    committed_count,
    extents,
    matrix_len,
    open_for_read,
    refresh,
)
from bench.store.schema import BLOB_INDEX, CABLE_KEYS, CABLES, FIBERS, POWER_MATRIX, REFERENCE_VALUES, REFERENCES

# Public columns of LoadedResults.cables / .fibers, in this order.
CABLE_COLUMNS = (
    "record_index", "serial", "lot", "attempt", "recipe_name", "station_name", "operator",
    "software_version", "started_utc", "finished_utc", "outcome", "reason", "decision_rule",
    "uncertainty_db", "coverage_factor", "reference_id", "polarity_found", "kind", "n_fibers",
    "n_wavelengths", "n_launch", "n_receive", "stored_utc", "sha256",
)  # fmt: skip
FIBER_COLUMNS = (
    "record_index", "serial", "lot", "fiber_position", "wavelength_nm", "launch_position",
    "receive_channel", "reference_power_dbm", "dut_power_dbm", "insertion_loss_db", "limit_db",
    "margin_db", "verdict", "reason",
)  # fmt: skip
_BLOCK_ROWS = 1 << 20
# Above this many separate fiber ranges one sequential pass beats many small reads.
_MAX_RANGE_READS = 512


def _decode_columns(rows: np.ndarray, columns: Iterable[str]) -> np.ndarray:
    """Structured array with the given columns, byte strings decoded to numpy unicode."""
    arrays, dtypes = [], []
    for name in columns:
        col = rows[name]
        if col.dtype.kind == "S":
            col = np.char.decode(col, "utf-8") if len(col) else col.astype("U1")
        arrays.append(col)
        dtypes.append((name, col.dtype))
    out = np.empty(len(rows), dtype=dtypes)
    for (name, _), col in zip(dtypes, arrays, strict=True):
        out[name] = col
    return out


def _utc_bound(name: str, value: str | dt.datetime | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise StoreError(f"{name} must be timezone-aware (UTC), got a naive datetime {value}")
        return value.timestamp()
    if isinstance(value, dt.date):
        value = value.isoformat()
    if len(value) == 10:  # a bare date means midnight UTC
        value += "T00:00:00Z"
    return parse_utc(name, value)


def _outcome_set(outcome: str | Iterable[str] | None) -> set[bytes] | None:
    if outcome is None:
        return None
    names = [outcome] if isinstance(outcome, str) else list(outcome)
    return {n.upper().encode() for n in names}


def select_cables(
    rows: np.ndarray,
    serial: str | None = None,
    lot: str | None = None,
    since_utc: str | dt.datetime | None = None,
    until_utc: str | dt.datetime | None = None,
    outcome: str | Iterable[str] | None = None,
) -> np.ndarray:
    """Boolean mask over stored cable rows. since is inclusive, until exclusive (on started_utc)."""
    mask = np.ones(len(rows), dtype=bool)
    if serial is not None:
        mask &= rows["serial"] == serial.encode("utf-8")
    if lot is not None:
        mask &= rows["lot"] == lot.encode("utf-8")
    since, until = _utc_bound("since_utc", since_utc), _utc_bound("until_utc", until_utc)
    if since is not None:
        mask &= rows["started_unix_s"] >= since
    if until is not None:
        mask &= rows["started_unix_s"] < until
    outcomes = _outcome_set(outcome)
    if outcomes is not None:
        mask &= np.isin(rows["outcome"], list(outcomes))
    return mask


def _ranges(starts: np.ndarray, counts: np.ndarray) -> list[tuple[int, int]]:
    """Merge [start, start + count) ranges that touch into runs."""
    runs: list[tuple[int, int]] = []
    for start, count in zip(starts.tolist(), counts.tolist(), strict=True):
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], start + count)
        elif count:
            runs.append((start, start + count))
    return runs


def _read_runs(ds: Any, runs: list[tuple[int, int]], end: int) -> np.ndarray:
    """Rows [a, b) of every run, in order: a few slice reads, or one pass when runs are many."""
    if len(runs) <= _MAX_RANGE_READS:
        parts = [ds[a:b] for a, b in runs]
        return np.concatenate(parts) if parts else np.empty(0, dtype=ds.dtype)
    wanted = np.zeros(end, dtype=bool)
    for a, b in runs:
        wanted[a:b] = True
    parts = []
    for start in range(0, end, _BLOCK_ROWS):
        stop = min(end, start + _BLOCK_ROWS)
        if wanted[start:stop].any():
            parts.append(ds[start:stop][wanted[start:stop]])
    return np.concatenate(parts) if parts else np.empty(0, dtype=ds.dtype)


def _selected_cables(f: Any, filters: dict[str, Any]) -> tuple[np.ndarray, int]:
    """(stored cable rows matching the filters, end of the committed fiber rows)."""
    refresh(f)
    n = committed_count(f, CABLES, extents(f))
    if n == 0:
        return np.empty(0, dtype=f[CABLES].dtype), 0
    keys = f[CABLE_KEYS][:n]
    if len(keys) != n:
        raise StoreError(f"{f.filename}: the cable_keys table is shorter than cables; run `bench verify`")
    positions = np.flatnonzero(select_cables(keys, **filters))
    if len(positions) == n:
        selected = f[CABLES][:n]
    else:
        selected = _read_runs(f[CABLES], _ranges(positions, np.ones(len(positions), dtype=np.int64)), n)
    last = f[CABLES][n - 1]
    return selected, int(last["fiber_row_start"]) + int(last["fiber_row_count"])


@dataclass
class LoadedResults:
    """Cable and fiber rows matching a query, as numpy structured arrays.

    String columns are numpy unicode ('U'), so `res.cables["serial"] == "SN1"`
    works; floats are float64 except power matrices, which keep the store's
    dtype (float32 by default). Power matrices and JSON documents are read from
    the file on demand.
    """

    path: str
    cables: np.ndarray
    fibers: np.ndarray
    _stored: np.ndarray = field(repr=False)
    _docs: dict[int, dict[str, Any]] = field(repr=False, default_factory=dict)

    def __len__(self) -> int:
        return len(self.cables)

    def _row(self, record_index: int) -> np.void:
        pos = np.searchsorted(self._stored["record_index"], record_index)
        if pos >= len(self._stored) or self._stored["record_index"][pos] != record_index:
            raise KeyError(f"record {record_index} is not in these results")
        return self._stored[pos]

    def power_matrix(self, record_index: int) -> np.ndarray:
        """Power matrix of one record in dBm, shaped [wavelength, launch, receive]."""
        row = self._row(record_index)
        start = int(row["matrix_start"])
        with open_for_read(self.path) as f:
            values = f[POWER_MATRIX][start : start + matrix_len(row)]
        return values.reshape(int(row["n_wavelengths"]), int(row["n_launch"]), int(row["n_receive"]))

    def _documents(self, record_index: int) -> dict[str, Any]:
        if record_index not in self._docs:
            row = self._row(record_index)
            with open_for_read(self.path) as f:
                self._docs[record_index] = BlobReader(f).cable_docs(row)
        return self._docs[record_index]

    def recipe_snapshot(self, record_index: int) -> dict[str, Any]:
        return self._documents(record_index)["recipe"]

    def instruments(self, record_index: int) -> list[dict[str, Any]]:
        return self._documents(record_index)["instruments"]

    def wavelengths_nm(self, record_index: int) -> list[float]:
        return self._documents(record_index)["wavelengths"]

    def extra(self, record_index: int) -> dict[str, Any]:
        return self._documents(record_index)["extra"]

    def cable_record(self, record_index: int) -> CableRecord:
        """The full CableRecord as stored (power matrix in the store's dtype)."""
        row = self._row(record_index)
        fibers = self._stored_fibers(row)
        return cable_record_from_rows(row, fibers, self.power_matrix(record_index), self._documents(record_index))

    def _stored_fibers(self, row: np.void) -> np.ndarray:
        start = int(row["fiber_row_start"])
        with open_for_read(self.path) as f:
            return f[FIBERS][start : start + int(row["fiber_row_count"])]


def load_results(
    path: str | os.PathLike[str],
    serial: str | None = None,
    lot: str | None = None,
    since_utc: str | dt.datetime | None = None,
    until_utc: str | dt.datetime | None = None,
    outcome: str | Iterable[str] | None = None,
) -> LoadedResults:
    """Committed cable records matching every given filter (None = no filter).

    since_utc is inclusive and until_utc exclusive, both on started_utc (ISO
    8601 UTC, a bare date means midnight UTC); outcome is one name or several.
    """
    path = os.fspath(path)
    with open_for_read(path) as f:
        filters = {"serial": serial, "lot": lot, "since_utc": since_utc, "until_utc": until_utc, "outcome": outcome}
        selected, fibers_end = _selected_cables(f, filters)
        runs = _ranges(selected["fiber_row_start"], selected["fiber_row_count"])
        fiber_rows = _read_runs(f[FIBERS], runs, fibers_end)
        cables = _decode_columns(selected, CABLE_COLUMNS)
        cables = _full_reasons(f, selected, cables)
    fibers = _join_fibers(fiber_rows, selected)
    return LoadedResults(path=path, cables=cables, fibers=fibers, _stored=selected)


def _full_reasons(f: Any, selected: np.ndarray, cables: np.ndarray) -> np.ndarray:
    """Replace reasons cut to fit the column by their full text (kept in the blob table)."""
    cut = np.flatnonzero(np.char.endswith(selected["reason"], REASON_CUT_MARK.encode()))
    if not len(cut):
        return cables
    blobs = BlobReader(f)
    full = [blobs.doc(int(selected["reason_blob"][k])) for k in cut]
    width = max(cables.dtype["reason"].itemsize // 4, *(len(t) for t in full))
    widened = cables.astype([(n, f"<U{width}" if n == "reason" else cables.dtype[n]) for n in cables.dtype.names])
    widened["reason"][cut] = full
    return widened


def _join_fibers(fiber_rows: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """Fiber rows with the serial and lot of their cable (stored once per cable, joined here)."""
    pos = np.searchsorted(selected["record_index"], fiber_rows["record_index"])
    pos = np.clip(pos, 0, max(len(selected) - 1, 0))
    joined = np.empty(len(fiber_rows), dtype=[(n, fiber_rows.dtype[n]) for n in fiber_rows.dtype.names]
                      + [("serial", selected.dtype["serial"]), ("lot", selected.dtype["lot"])])
    for name in fiber_rows.dtype.names:
        joined[name] = fiber_rows[name]
    if len(selected):
        joined["serial"] = selected["serial"][pos]
        joined["lot"] = selected["lot"][pos]
    return _decode_columns(joined, FIBER_COLUMNS)


def load_references(path: str | os.PathLike[str]) -> list[ReferenceRecord]:
    """Every committed reference record, in storage order."""
    with open_for_read(os.fspath(path)) as f:
        refresh(f)
        n = committed_count(f, REFERENCES)
        rows = f[REFERENCES][:n]
        blobs = BlobReader(f)
        values = f[REFERENCE_VALUES]
        return [
            reference_record_from_rows(
                r,
                values[int(r["values_start"]) : int(r["values_start"]) + int(r["values_count"])],
                blobs.doc(int(r["details_blob"])),
            )
            for r in rows
        ]


@dataclass
class VerifyReport:
    """Outcome of verify_store: ok is True when every record matches its hash."""

    path: str
    n_records: int
    n_references: int
    bad: list[tuple[int, str, str]]
    bad_references: list[tuple[int, str, str]]

    @property
    def ok(self) -> bool:
        return not self.bad and not self.bad_references

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "n_records": self.n_records,
            "n_references": self.n_references,
            "bad": [{"record_index": i, "serial": s, "why": w} for i, s, w in self.bad],
            "bad_references": [{"record_index": i, "reference_id": s, "why": w} for i, s, w in self.bad_references],
        }


def _cable_batches(
    f: Any, n: int, ext: dict[str, int], batch: int = 4096
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray, int, np.ndarray, int]]:
    """(first index, cable rows, key rows, fiber rows, first fiber row, matrix values, first value) per batch."""
    for start in range(0, n, batch):
        rows = f[CABLES][start : min(n, start + batch)]
        keys = f[CABLE_KEYS][start : min(n, start + batch)]
        fiber_ends = rows["fiber_row_start"] + rows["fiber_row_count"]
        matrix_ends = rows["matrix_start"] + rows["n_wavelengths"].astype(np.int64) * rows["n_launch"] * rows[
            "n_receive"
        ]
        # Clamped, so a tampered pointer cannot make verify read past the data.
        f0 = int(np.clip(rows["fiber_row_start"].min(), 0, ext[FIBERS]))
        f1 = int(np.clip(fiber_ends.max(), f0, ext[FIBERS]))
        m0 = int(np.clip(rows["matrix_start"].min(), 0, ext[POWER_MATRIX]))
        m1 = int(np.clip(matrix_ends.max(), m0, ext[POWER_MATRIX]))
        yield start, rows, keys, f[FIBERS][f0:f1], f0, f[POWER_MATRIX][m0:m1], m0


def _slice(values: np.ndarray, first: int, start: int, count: int) -> np.ndarray | None:
    lo = start - first
    if lo < 0 or lo + count > len(values):
        return None
    return values[lo : lo + count]


def _blob_problems(blobs: BlobReader, n_blobs: int) -> dict[int, str]:
    problems = {}
    for blob_id in range(n_blobs):
        data, recorded_sha = blobs.raw(blob_id)
        if hashlib.sha256(data).hexdigest() != recorded_sha:
            problems[blob_id] = f"JSON document {blob_id} does not match its sha256"
    return problems


def _cable_problem(
    row: np.void, index: int, fibers: np.ndarray | None, matrix: np.ndarray | None, blobs: BlobReader,
    blob_problems: dict[int, str], previous_sha: str,
) -> str | None:
    if int(row["record_index"]) != index:
        return f"record_index column says {int(row['record_index'])}"
    if fibers is None or np.any(fibers["record_index"] != index):
        return "fiber rows do not belong to this record"
    if matrix is None:
        return "power matrix pointer is out of range"
    for name in CABLE_BLOBS:
        blob_id = int(row[f"{name}_blob"])
        if blob_id in blob_problems:
            return blob_problems[blob_id]
    if abs(parse_utc("started_utc", decode_str(row["started_utc"])) - float(row["started_unix_s"])) > 1e-3:
        return "started_unix_s does not match started_utc"
    if cable_digest(row, fibers, matrix, blobs.cable_docs(row), previous_sha) != decode_str(row["sha256"]):
        return "content does not match its sha256 (changed after it was written)"
    return None


def _key_problem(row: np.void, key: np.void | None) -> str | None:
    """The query index must say what the cable row says, or a query could hide a record."""
    if key is None or any(key[name] != row[name] for name in key.dtype.names):
        return "its cable_keys row (used by queries) does not match the cable row"
    return None


def _safe_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def verify_store(path: str | os.PathLike[str]) -> VerifyReport:
    """Recompute the sha256 of every committed cable and reference record.

    Each hash also covers the previous record's hash, so a record deleted or
    reordered in the middle shows up on the record after it.
    """
    path = os.fspath(path)
    bad: list[tuple[int, str, str]] = []
    bad_refs: list[tuple[int, str, str]] = []
    with open_for_read(path) as f:
        refresh(f)
        ext = extents(f)
        n = committed_count(f, CABLES, ext)
        n_refs = committed_count(f, REFERENCES, ext)
        blobs = BlobReader(f)
        blobs.preload()
        blob_problems = _blob_problems(blobs, ext[BLOB_INDEX])
        previous = ""
        for start, rows, keys, fibers, f0, matrix, m0 in _cable_batches(f, n, ext):
            for k, row in enumerate(rows):
                index = start + k
                try:
                    why = _cable_problem(
                        row, index,
                        _slice(fibers, f0, int(row["fiber_row_start"]), int(row["fiber_row_count"])),
                        _slice(matrix, m0, int(row["matrix_start"]), matrix_len(row)),
                        blobs, blob_problems, previous,
                    ) or _key_problem(row, keys[k] if k < len(keys) else None)
                except Exception as exc:  # noqa: BLE001 - any failure to re-read a record is a finding
                    why = f"unreadable: {exc}"
                if why:
                    bad.append((index, _safe_text(row["serial"]), why))
                previous = _safe_text(row["sha256"])
        previous = ""
        values = f[REFERENCE_VALUES]
        for index, row in enumerate(f[REFERENCES][:n_refs]):
            try:
                why = _reference_problem(row, index, values, blobs, blob_problems, previous)
            except Exception as exc:  # noqa: BLE001
                why = f"unreadable: {exc}"
            if why:
                bad_refs.append((index, _safe_text(row["reference_id"]), why))
            previous = _safe_text(row["sha256"])
    return VerifyReport(path, n, n_refs, bad, bad_refs)


def _reference_problem(
    row: np.void, index: int, values: Any, blobs: BlobReader, blob_problems: dict[int, str], previous_sha: str
) -> str | None:
    if int(row["record_index"]) != index:
        return f"record_index column says {int(row['record_index'])}"
    blob_id = int(row["details_blob"])
    if blob_id in blob_problems:
        return blob_problems[blob_id]
    start, count = int(row["values_start"]), int(row["values_count"])
    data = values[start : start + count]
    if len(data) != count:
        return "reference values pointer is out of range"
    if reference_digest(row, data, blobs.doc(blob_id), previous_sha) != decode_str(row["sha256"]):
        return "content does not match its sha256 (changed after it was written)"
    return None
