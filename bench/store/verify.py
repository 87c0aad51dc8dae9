"""verify_store(): every committed record re-read, re-hashed and checked against the other tables.

Three findings, kept apart because they call for different actions:

* TAMPERED: a record reads, but its content does not match its sha256 (or the
  query index, the record numbers or the table layout disagree with it): the
  file was changed after writing.
* DAMAGED: HDF5 cannot read part of the file (a corrupt chunk, a truncated
  copy, a broken superblock). Every unreadable range is listed with the
  records it holds; every readable record is still checked.
* OK: everything reads and matches.

The tables are read chunk by chunk only where a whole read fails, so a healthy
file costs what it always did.

Over 400 lines on purpose: the checks are one walk down the tables whose state (the hash chain,
the next expected fiber row and matrix value, the record numbers a repair lost) every check reads;
split across modules they would pass that state back and forth.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from bench.store.codec import cable_blob_ids, cable_digest, decode_str, parse_utc, reference_digest
from bench.store.damage import DamagedRange, StoreScan, UnreadableRecord
from bench.store.layout import BlobReader, committed_count, extents, open_for_read, refresh
from bench.store.schema import (
    BLOB_BYTES,
    BLOB_INDEX,
    CABLE_KEYS,
    CABLES,
    FIBERS,
    POWER_MATRIX,
    REFERENCE_VALUES,
    REFERENCES,
    lost_record_indexes,
    repair_log,
)
from bench.store.superblock import read_superblock

_BATCH = 4096


class VerifyExit(IntEnum):
    """Exit status of `bench verify` (documented in docs/hdf5-schema.md and `bench verify --help`)."""

    OK = 0  # every committed record reads and matches its hash
    TAMPERED = 1  # at least one readable record does not match its hash or the other tables
    REFUSED = 2  # not checked: no such file, a directory, not an HDF5 results store, newer schema
    DAMAGED = 3  # part of the file cannot be read; the readable records were checked and are intact


@dataclass
class VerifyReport:
    """Outcome of verify_store; `status` is the exit code `bench verify` returns."""

    path: str
    n_records: int  # committed cable rows (readable or not)
    n_references: int
    bad: list[tuple[int, str, str]]  # (record_index, serial, why): content does not match
    bad_references: list[tuple[int, str, str]]
    unreadable: list[UnreadableRecord] = field(default_factory=list)
    damaged: list[DamagedRange] = field(default_factory=list)
    damaged_records: dict[int, list[str]] = field(default_factory=dict)  # range number -> "index serial"
    unverifiable: list[tuple[int, str, str]] = field(default_factory=list)  # readable, hash chain cut by a loss
    lost_in_repairs: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == VerifyExit.OK

    @property
    def status(self) -> VerifyExit:
        if self.bad or self.bad_references:
            return VerifyExit.TAMPERED
        if self.unreadable or self.damaged:
            return VerifyExit.DAMAGED
        return VerifyExit.OK

    @property
    def n_readable(self) -> int:
        return self.n_records - sum(1 for u in self.unreadable if u.table == CABLES)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "status": self.status.name,
            "exit_code": int(self.status),
            "n_records": self.n_records,
            "n_readable_records": self.n_readable,
            "n_references": self.n_references,
            "bad": [{"record_index": i, "serial": s, "why": w} for i, s, w in self.bad],
            "bad_references": [{"record_index": i, "reference_id": s, "why": w} for i, s, w in self.bad_references],
            "unreadable": [u.as_dict() for u in self.unreadable],
            "damaged_ranges": [
                {**r.as_dict(), "records": self.damaged_records.get(k, [])} for k, r in enumerate(self.damaged)
            ],
            "unverifiable": [{"record_index": i, "serial": s, "why": w} for i, s, w in self.unverifiable],
            "lost_in_repairs": self.lost_in_repairs,
            "notes": self.notes,
        }


def _safe_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


@dataclass
class _Located:
    """Where each record's parts are, to name the records a damaged range holds."""

    position: list[int] = field(default_factory=list)
    index: list[int | None] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    spans: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    blobs: list[tuple[int, ...]] = field(default_factory=list)

    def add(self, position: int, index: int | None, name: str, spans: dict[str, tuple[int, int]],
            blobs: tuple[int, ...]) -> None:
        self.position.append(position)
        self.index.append(index)
        self.name.append(name)
        for table, span in spans.items():
            self.spans.setdefault(table, []).append(span)
        self.blobs.append(blobs)

    def holding(self, damaged: DamagedRange, blob_rows: set[int]) -> list[int]:
        """Record numbers (list positions) whose parts lie in the damaged range."""
        if damaged.table in (CABLES, CABLE_KEYS, REFERENCES):
            return [k for k, p in enumerate(self.position) if damaged.start <= p < damaged.stop]
        if damaged.table == BLOB_INDEX or damaged.table == BLOB_BYTES:
            return [k for k, ids in enumerate(self.blobs) if blob_rows.intersection(ids)]
        spans = self.spans.get(damaged.table, [])
        return [k for k, (a, b) in enumerate(spans) if a < damaged.stop and b > damaged.start and b > a]


class _BlobProblems(dict):
    """blob id -> what is wrong with it; `unreadable` holds the ids whose row or bytes cannot be read."""

    def __init__(self) -> None:
        super().__init__()
        self.unreadable: set[int] = set()


def _blob_problems(blobs: BlobReader, index: np.ndarray, ok: np.ndarray, n_bytes: int) -> _BlobProblems:
    """sha256 of each readable blob, and the index's own layout: contiguous, inside blob_bytes."""
    problems = _BlobProblems()
    expected_offset = 0
    for blob_id in range(len(index)):
        if not ok[blob_id]:
            problems[blob_id] = f"blob_index row {blob_id} is unreadable"
            problems.unreadable.add(blob_id)
            expected_offset = None
            continue
        offset, length = int(index["offset"][blob_id]), int(index["length"][blob_id])
        if (expected_offset is not None and offset != expected_offset) or offset < 0 or offset + length > n_bytes:
            problems[blob_id] = f"blob_index row {blob_id} points outside the blob bytes or overlaps another"
            expected_offset = offset + length if offset >= 0 else None
            continue
        expected_offset = offset + length
        try:
            data, recorded_sha = blobs.raw(blob_id)
        except Exception as exc:  # noqa: BLE001 - an unreadable blob is a finding, reported per record
            problems[blob_id] = f"JSON document {blob_id} is unreadable ({exc})"
            problems.unreadable.add(blob_id)
            continue
        if hashlib.sha256(data).hexdigest() != recorded_sha:
            problems[blob_id] = f"JSON document {blob_id} does not match its sha256"
    return problems


class _CableChecker:
    """Walks the committed cable rows once, in batches, keeping the chain and layout state."""

    def __init__(self, f: Any, scan: StoreScan, report: VerifyReport, blobs: BlobReader,
                 blob_problems: _BlobProblems, ext: dict[str, int]) -> None:
        self.f, self.scan, self.report, self.blobs, self.blob_problems, self.ext = f, scan, report, blobs, \
            blob_problems, ext
        self.lost = lost_record_indexes(f, CABLES)
        self.previous_sha: str | None = ""
        self.previous_index: int | None = -1
        self.next_fiber: int | None = 0
        self.next_value: int | None = 0
        self.located = _Located()

    def run(self, n: int, progress: Callable[[], None]) -> None:
        for start in range(0, n, _BATCH):
            progress()
            stop = min(n, start + _BATCH)
            rows, rows_ok = self.scan.rows(CABLES, start, stop)
            keys, keys_ok = self.scan.rows(CABLE_KEYS, start, stop)
            readable = rows[rows_ok]
            f0, f1, m0, m1 = self._extents_of(readable)
            fibers, fibers_ok = self.scan.rows(FIBERS, f0, f1)
            matrix, matrix_ok = self.scan.rows(POWER_MATRIX, m0, m1)
            for k in range(stop - start):
                key = keys[k] if k < len(keys) and keys_ok[k] else None
                if rows_ok[k]:
                    self._check(start + k, rows[k], key, (fibers, fibers_ok, f0), (matrix, matrix_ok, m0))
                else:
                    self._unreadable(start + k, key)
        if self.ext[CABLE_KEYS] < n:
            self.report.bad.append((n - 1, "", f"cable_keys has {self.ext[CABLE_KEYS]} rows for {n} committed "
                                              "cables: queries cannot find the missing ones"))

    def _extents_of(self, rows: np.ndarray) -> tuple[int, int, int, int]:
        if not len(rows):
            return 0, 0, 0, 0
        fiber_ends = rows["fiber_row_start"] + rows["fiber_row_count"]
        matrix_ends = rows["matrix_start"] + (rows["n_wavelengths"].astype(np.int64) * rows["n_launch"]
                                              * rows["n_receive"])
        # Clamped, so a tampered pointer cannot make verify read past the data.
        f0 = int(np.clip(rows["fiber_row_start"].min(), 0, self.ext[FIBERS]))
        f1 = int(np.clip(fiber_ends.max(), f0, self.ext[FIBERS]))
        m0 = int(np.clip(rows["matrix_start"].min(), 0, self.ext[POWER_MATRIX]))
        m1 = int(np.clip(matrix_ends.max(), m0, self.ext[POWER_MATRIX]))
        return f0, f1, m0, m1

    def _unreadable(self, position: int, key: np.void | None) -> None:
        index = int(key["record_index"]) if key is not None else None
        serial = _safe_text(key["serial"]) if key is not None else ""
        ranges = [r for r in self.scan.ranges(CABLES) if r.start <= position < r.stop]
        why = ranges[0].why if ranges else "cable row unreadable"
        self.report.unreadable.append(UnreadableRecord(CABLES, position, index, serial, why))
        self.located.add(position, index, serial, {}, ())
        self.previous_sha, self.next_fiber, self.next_value = None, None, None
        self.previous_index = index

    def _check(self, position: int, row: np.void, key: np.void | None, fibers_part: tuple, matrix_part: tuple) -> None:
        index, serial = int(row["record_index"]), _safe_text(row["serial"])
        f_start, f_count = int(row["fiber_row_start"]), int(row["fiber_row_count"])
        m_start = int(row["matrix_start"])
        m_count = int(row["n_wavelengths"]) * int(row["n_launch"]) * int(row["n_receive"])
        blob_ids = tuple(cable_blob_ids(row).values())
        self.located.add(position, index, serial, {FIBERS: (f_start, f_start + f_count),
                                                   POWER_MATRIX: (m_start, m_start + m_count)}, blob_ids)
        chain_cut = self.previous_sha is None or self._gap_documented_before(index)
        if chain_cut:  # after a lost record, where the previous record's rows end is unknown
            self.next_fiber = self.next_value = None
        why = self._order_problem(index) or self._layout_problem(f_start, f_count, m_start, m_count)
        fibers, fibers_readable = _part(fibers_part, f_start, f_count)
        matrix, matrix_readable = _part(matrix_part, m_start, m_count)
        unreadable_parts = [name for name, readable in (("fiber rows", fibers_readable),
                                                         ("power matrix", matrix_readable)) if readable is False]
        unreadable_parts += [f"JSON document {b}" for b in blob_ids if b in self.blob_problems.unreadable]
        if not why and unreadable_parts:
            self.report.unreadable.append(UnreadableRecord(
                CABLES, position, index, serial, f"its {', '.join(unreadable_parts)} cannot be read"))
            self.previous_sha = _safe_text(row["sha256"])
            self.previous_index = index
            return
        if not why:
            try:
                why = self._content_problem(row, index, fibers, matrix, blob_ids, chain_cut)
            except Exception as exc:  # noqa: BLE001 - any failure to re-read a record is a finding
                why = f"unreadable: {exc}"
        if why == _CHAIN_CUT:
            self.report.unverifiable.append((index, serial, "its hash covers the hash of a lost record before it, "
                                                            "so its content cannot be re-checked"))
        elif why:
            self.report.bad.append((index, serial, why))
        else:
            why = _key_problem(row, key)
            if why:
                self.report.bad.append((index, serial, why))
        self.previous_sha = _safe_text(row["sha256"])
        self.previous_index = index

    def _gap_documented_before(self, index: int) -> bool:
        return self.previous_index is not None and index - 1 > self.previous_index and (index - 1) in self.lost

    def _order_problem(self, index: int) -> str | None:
        if self.previous_index is None:
            return None
        if index <= self.previous_index:
            return f"record_index column says {index}, not after {self.previous_index}"
        missing = [i for i in range(self.previous_index + 1, index) if i not in self.lost]
        if missing:
            return (f"record_index column says {index}: record numbers {missing[0]}-{missing[-1]} are missing "
                    "and no repair recorded their loss")
        return None

    def _layout_problem(self, f_start: int, f_count: int, m_start: int, m_count: int) -> str | None:
        # Records follow one another in every table; a pointer into another record's rows is an edit.
        problem = None
        if self.next_fiber is not None and f_start != self.next_fiber:
            problem = f"its fiber rows start at {f_start}, not where the previous record's end ({self.next_fiber})"
        elif self.next_value is not None and m_start != self.next_value:
            problem = f"its power matrix starts at {m_start}, not where the previous one ends ({self.next_value})"
        self.next_fiber, self.next_value = f_start + f_count, m_start + m_count
        return problem

    def _content_problem(self, row: np.void, index: int, fibers: np.ndarray | None, matrix: np.ndarray | None,
                         blob_ids: tuple[int, ...], chain_cut: bool) -> str | None:
        if fibers is None or np.any(fibers["record_index"] != index):
            return "fiber rows do not belong to this record"
        if matrix is None:
            return "power matrix pointer is out of range"
        for blob_id in blob_ids:
            if blob_id in self.blob_problems:
                return self.blob_problems[blob_id]
        if abs(parse_utc("started_utc", decode_str(row["started_utc"])) - float(row["started_unix_s"])) > 1e-3:
            return "started_unix_s does not match started_utc"
        docs = self.blobs.cable_docs(row)
        sha = decode_str(row["sha256"])
        if self.previous_sha is not None and cable_digest(row, fibers, matrix, docs, self.previous_sha) == sha:
            return None
        if chain_cut:
            return _CHAIN_CUT
        return "content does not match its sha256 (changed after it was written)"


_CHAIN_CUT = "chain cut"


def _part(part: tuple, start: int, count: int) -> tuple[np.ndarray | None, bool | None]:
    """(values, readable) of one record's slice of a batch; (None, None) if the pointer is out of range."""
    values, ok, first = part
    lo = start - first
    if lo < 0 or lo + count > len(values):
        return None, None
    return values[lo : lo + count], bool(ok[lo : lo + count].all())


def _key_problem(row: np.void, key: np.void | None) -> str | None:
    """The query index must say what the cable row says, or a query could hide a record."""
    if key is None:
        return None  # an unreadable key row is damage, listed with the damaged ranges
    if any(key[name] != row[name] for name in key.dtype.names):
        return "its cable_keys row (used by queries) does not match the cable row"
    return None


def _check_references(f: Any, scan: StoreScan, report: VerifyReport, blobs: BlobReader,
                      blob_problems: _BlobProblems, n_refs: int) -> None:
    rows, rows_ok = scan.rows(REFERENCES, 0, n_refs)
    previous: str | None = ""
    for index in range(n_refs):
        if not rows_ok[index]:
            report.unreadable.append(UnreadableRecord(REFERENCES, index, None, "", "reference row unreadable"))
            previous = None
            continue
        row = rows[index]
        name = _safe_text(row["reference_id"])
        start, count = int(row["values_start"]), int(row["values_count"])
        values, values_ok = scan.rows(REFERENCE_VALUES, start, start + count)
        blob_id = int(row["details_blob"])
        if int(row["record_index"]) < index:
            why = f"record_index column says {int(row['record_index'])}"
        elif len(values) != count:
            why = "reference values pointer is out of range"
        elif not values_ok.all() or blob_id in blob_problems.unreadable:
            report.unreadable.append(UnreadableRecord(REFERENCES, index, int(row["record_index"]), name,
                                                      "its values or details cannot be read"))
            previous = _safe_text(row["sha256"])
            continue
        elif blob_id in blob_problems:
            why = blob_problems[blob_id]
        elif previous is None:
            why = None  # the previous reference is unreadable: this one's chain link cannot be checked
        else:
            try:
                digest = reference_digest(row, values, blobs.doc(blob_id), previous)
                why = None if digest == decode_str(row["sha256"]) else \
                    "content does not match its sha256 (changed after it was written)"
            except Exception as exc:  # noqa: BLE001
                why = f"unreadable: {exc}"
        if why:
            report.bad_references.append((int(row["record_index"]), name, why))
        previous = _safe_text(row["sha256"])


def verify_store(path: str | os.PathLike[str], progress: Callable[[], None] | None = None) -> VerifyReport:
    """Recompute the sha256 of every committed record and check the tables against each other.

    Each hash also covers the previous record's hash, so a record deleted or
    reordered in the middle shows up on the record after it. Raises StoreError
    (StoreDamagedError for a broken superblock) only when nothing can be checked.
    progress, if given, is called after each batch of records (the CLI's watchdog).
    """
    progress = progress or (lambda: None)
    path = os.fspath(path)
    facts = read_superblock(path) if os.path.isfile(path) else None
    with open_for_read(path) as f:
        refresh(f)
        scan = StoreScan(f, facts)
        ext = extents(f)
        n = committed_count(f, CABLES, ext, scan)
        n_refs = committed_count(f, REFERENCES, ext, scan)
        report = VerifyReport(path, n, n_refs, [], [])
        report.lost_in_repairs = sorted(lost_record_indexes(f, CABLES))
        for entry in repair_log(f):
            report.notes.append(f"repaired {entry.get('repaired_utc', '?')}: {entry.get('summary', '')}")
        blobs = BlobReader(f)
        blobs.preload(scan)
        index = blobs.index_rows()
        index_ok = np.ones(len(index), dtype=bool) if blobs.index_rebuilt else scan.rows(BLOB_INDEX, 0,
                                                                                          ext[BLOB_INDEX])[1]
        if blobs.index_rebuilt:
            report.notes.append("the blob index was unreadable and was rebuilt from the blob bytes to check the "
                                "records (each record's hash covers its documents)")
        blob_problems = _blob_problems(blobs, index, index_ok, ext[BLOB_BYTES])
        progress()
        checker = _CableChecker(f, scan, report, blobs, blob_problems, ext)
        checker.run(n, progress)
        _check_references(f, scan, report, blobs, blob_problems, n_refs)
        report.damaged = list(scan.damaged)
        for k, damaged in enumerate(report.damaged):
            bad_blobs = blob_problems.unreadable if damaged.table in (BLOB_INDEX, BLOB_BYTES) else set()
            report.damaged_records[k] = [
                f"record {checker.located.index[j] if checker.located.index[j] is not None else '?'} "
                f"({checker.located.name[j] or 'serial unknown'})"
                for j in checker.located.holding(damaged, bad_blobs)
            ]
        if facts is not None and facts.extra_bytes and not facts.flags:
            report.notes.append(f"{facts.extra_bytes} bytes follow the end HDF5 recorded (appended by something "
                                "else; HDF5 ignores them, no record is affected)")
    return report
