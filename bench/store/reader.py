"""Readers: load_results() and load_references() (verify_store() is in bench.store.verify).

All of them open the file read-only in SWMR mode, so they work while a bench
writes (and on a file whose writer was killed), and they only ever see
committed records.

Just over 400 lines: the plain and the damage-aware fiber reads share one block-mask pass
(`_wanted_blocks`) and one result type; apart, the damage-aware path would copy the plain one.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.errors import StoreError
from bench.records import CableRecord, Cause, ReferenceRecord
from bench.store.annotations import Annotation, read_annotations, suspect_by_record
from bench.store.causes import causes_from_docs
from bench.store.codec import (
    REASON_CUT_MARK,
    cable_record_from_rows,
    decode_str,
    parse_utc,
    reference_record_from_rows,
)
from bench.store.damage import (
    READ_ERRORS,
    DamagedRange,
    StoreDamagedError,
    StoreScan,
    UnreadableRecord,
    unreadable_warning,
)
from bench.store.layout import (
    BlobReader,
    committed_count,
    extents,
    matrix_len,
    open_for_read,
    refresh,
)
from bench.store.schema import CABLE_KEYS, CABLES, FIBERS, POWER_MATRIX, REFERENCE_VALUES, REFERENCES
from bench.store.superblock import SuperblockError, SuperblockFacts, read_superblock

log = logging.getLogger(__name__)

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
    parts = [ds[start:stop][mask] for start, stop, mask in _wanted_blocks(runs, end)]
    return np.concatenate(parts) if parts else np.empty(0, dtype=ds.dtype)


def _wanted_blocks(runs: list[tuple[int, int]], end: int) -> list[tuple[int, int, np.ndarray]]:
    """(start, stop, row mask) of each block of `_BLOCK_ROWS` rows below `end` that holds a wanted row."""
    wanted = np.zeros(end, dtype=bool)
    for a, b in runs:
        wanted[a:b] = True
    blocks = []
    for start in range(0, end, _BLOCK_ROWS):
        stop = min(end, start + _BLOCK_ROWS)
        if wanted[start:stop].any():
            blocks.append((start, stop, wanted[start:stop]))
    return blocks


def _facts(path: str) -> SuperblockFacts | None:
    try:
        return read_superblock(path)
    except (SuperblockError, OSError):
        return None


def _rows_at(scan: StoreScan, table: str, positions: np.ndarray, end: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, readable mask) at the given sorted positions: a few slice reads, or one pass."""
    runs = _ranges(positions, np.ones(len(positions), dtype=np.int64))
    if len(positions) == end or len(runs) > _MAX_RANGE_READS:
        rows, ok = scan.rows(table, 0, end)
        return rows[positions], ok[positions]
    parts = [scan.rows(table, a, b) for a, b in runs]
    if not parts:
        return np.empty(0, dtype=scan.f[table].dtype), np.empty(0, dtype=bool)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _query_keys(scan: StoreScan, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The query columns of every committed cable, from /cable_keys, or from /cables where a key
    row is unreadable; the mask says which rows are known at all."""
    from bench.store.writer import cable_keys  # the writer builds key rows; avoid an import cycle

    keys, ok = scan.rows(CABLE_KEYS, 0, n)
    if len(keys) != n:
        raise StoreError(f"{scan.f.filename}: the cable_keys table is shorter than cables; run `bench verify`")
    if not ok.all():
        missing = np.flatnonzero(~ok)
        rows, rows_ok = _rows_at(scan, CABLES, missing, n)
        keys[missing[rows_ok]] = cable_keys(rows[rows_ok])
        ok[missing[rows_ok]] = True
    return keys, ok


def _select(scan: StoreScan, filters: dict[str, Any]) -> tuple[np.ndarray, list[UnreadableRecord]]:
    """(readable cable rows matching the filters, committed records that cannot be read)."""
    f = scan.f
    refresh(f)
    n = committed_count(f, CABLES, extents(f), scan)
    if n == 0:
        return np.empty(0, dtype=f[CABLES].dtype), []
    keys, keys_ok = _query_keys(scan, n)
    match = select_cables(keys, **filters)
    unreadable = [
        UnreadableRecord(CABLES, int(p), None, "", "neither its cable row nor its cable_keys row can be read "
                                                     "(it may or may not match the filters)")
        for p in np.flatnonzero(~keys_ok)
    ]
    positions = np.flatnonzero(match & keys_ok)
    rows, rows_ok = _rows_at(scan, CABLES, positions, n)
    for p in positions[~rows_ok]:
        unreadable.append(UnreadableRecord(CABLES, int(p), int(keys["record_index"][p]),
                                           decode_str(keys["serial"][p]), "its cable row cannot be read"))
    unreadable.sort(key=lambda u: u.position)
    return rows[rows_ok], unreadable


def _fibers_of(scan: StoreScan, selected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fiber rows of the selected cables in order, per-cable mask: all its fiber rows readable)."""
    ds = scan.f[FIBERS]
    runs = _ranges(selected["fiber_row_start"], selected["fiber_row_count"])
    if len(runs) <= _MAX_RANGE_READS:
        parts = [scan.rows(FIBERS, a, b) for a, b in runs]
    else:
        parts = []
        for start, stop, mask in _wanted_blocks(runs, int(ds.shape[0])):
            rows, ok = scan.rows(FIBERS, start, stop)
            parts.append((rows[mask], ok[mask]))
    if not parts:
        return np.empty(0, dtype=ds.dtype), np.ones(len(selected), dtype=bool)
    rows = np.concatenate([p[0] for p in parts])
    ok = np.concatenate([p[1] for p in parts])
    counts = selected["fiber_row_count"].astype(np.int64)
    if ok.all() and len(ok) == counts.sum():
        return rows, np.ones(len(selected), dtype=bool)
    ends = np.cumsum(counts)
    per_cable = np.array([len(ok) >= e and bool(ok[e - c : e].all()) for e, c in zip(ends, counts, strict=True)],
                         dtype=bool)
    keep = np.repeat(per_cable, counts)[: len(rows)]
    return rows[keep], per_cable


def _read_or_damaged(f: Any, table: str, start: int, stop: int, record_index: int) -> np.ndarray:
    try:
        return f[table][start:stop]
    except READ_ERRORS as exc:
        raise StoreDamagedError(f"{f.filename}: record {record_index}: {table} rows {start}-{stop - 1} cannot "
                                f"be read ({type(exc).__name__}: {exc}); run `bench verify`") from None


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
    # Committed records matching the query (or that might) that cannot be read: the file is
    # damaged there (`bench verify` lists every damaged range, `bench repair` keeps the rest).
    unreadable: list[UnreadableRecord] = field(default_factory=list)
    damaged: list[DamagedRange] = field(default_factory=list)
    # Later knowledge about these records, append-only (bench.store.annotations): SUSPECT marks.
    annotations: list[Annotation] = field(default_factory=list)

    @property
    def suspect(self) -> dict[int, str]:
        """record index → why it is SUSPECT (graded before a failed golden check), for these records."""
        return suspect_by_record(self.annotations)

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
            values = _read_or_damaged(f, POWER_MATRIX, start, start + matrix_len(row), record_index)
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

    def documents_of_all(self, name: str) -> dict[int, Any]:
        """One JSON document ("recipe", "instruments", "wavelengths", "extra", "reason") of every
        record here, by record number: one file open, each distinct document parsed once (a
        station repeats its recipe and instrument identities on every cable)."""
        with open_for_read(self.path) as f:
            blobs = BlobReader(f)
            return {int(row["record_index"]): blobs.doc(int(row[f"{name}_blob"])) for row in self._stored}

    def causes(self, record_index: int) -> tuple[Cause, ...]:
        """Why the record is not a PASS, as (code, detail); a record stored before causes were
        (schema v1, v2) gives one `unclassified` cause per part of its reason."""
        row = self._row(record_index)
        reason = self._documents(record_index)["reason"]
        return causes_from_docs(self._documents(record_index), decode_str(row["outcome"]), reason)

    def cable_record(self, record_index: int) -> CableRecord:
        """The full CableRecord as stored (power matrix in the store's dtype)."""
        row = self._row(record_index)
        fibers = self._stored_fibers(row)
        return cable_record_from_rows(row, fibers, self.power_matrix(record_index), self._documents(record_index))

    def _stored_fibers(self, row: np.void) -> np.ndarray:
        start = int(row["fiber_row_start"])
        with open_for_read(self.path) as f:
            return _read_or_damaged(f, FIBERS, start, start + int(row["fiber_row_count"]), int(row["record_index"]))


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
        scan = StoreScan(f, _facts(path))
        selected, unreadable = _select(scan, filters)
        fiber_rows, fibers_ok = _fibers_of(scan, selected)
        for row in selected[~fibers_ok]:
            unreadable.append(UnreadableRecord(CABLES, -1, int(row["record_index"]), decode_str(row["serial"]),
                                               "its fiber rows cannot be read"))
        selected = selected[fibers_ok]
        cables = _decode_columns(selected, CABLE_COLUMNS)
        cables = _full_reasons(f, selected, cables)
        damaged = list(scan.damaged)
        wanted = set(selected["record_index"].tolist())
        notes = [a for a in read_annotations(f) if a.record_index in wanted]
    if unreadable:
        # Reports and scripts that only look at .cables must still hear of it (stderr by default).
        log.warning("%s: %s", path, unreadable_warning(unreadable))
    fibers = _join_fibers(fiber_rows, selected)
    return LoadedResults(path=path, cables=cables, fibers=fibers, _stored=selected, unreadable=unreadable,
                         damaged=damaged, annotations=notes)


def _full_reasons(f: Any, selected: np.ndarray, cables: np.ndarray) -> np.ndarray:
    """Replace reasons cut to fit the column by their full text (kept in the blob table)."""
    cut = np.flatnonzero(np.char.endswith(selected["reason"], REASON_CUT_MARK.encode()))
    if not len(cut):
        return cables
    blobs = BlobReader(f)
    full = []
    for k in cut:
        try:
            full.append(blobs.doc(int(selected["reason_blob"][k])))
        except StoreDamagedError:  # the full text is unreadable: keep the prefix, marked " [...]"
            full.append(decode_str(selected["reason"][k]))
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
