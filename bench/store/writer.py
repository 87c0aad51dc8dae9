"""ResultStore: the single writer of an HDF5 results store.

Over 400 lines on purpose: the class is the commit protocol (blobs, key row, fibers, matrix,
flush, cable row, fsync, and the rollback of each step), and its methods share the open file
and the committed extents; creating, recovering, migrating and repairing a file live in their
own modules (recovery, schema, repair), so what remains here is one job."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

import h5py
import numpy as np

from bench.clock import utc_now_text
from bench.errors import StoreError
from bench.records import CableRecord, ReferenceRecord
from bench.store import annotations, recovery
from bench.store.codec import (
    CABLE_BLOBS,
    cable_digest,
    decode_str,
    prepare_cable,
    prepare_reference,
    reference_digest,
    reference_record_from_rows,
    sha256_hex,
)
from bench.store.damage import READ_ERRORS
from bench.store.layout import (
    BlobReader,
    check_schema,
    committed_count,
    extents,
    matrix_len,
)
from bench.store.repair import RepairReport, repair_store
from bench.store.schema import (
    BLOB_BYTES,
    BLOB_INDEX,
    BLOB_INDEX_DTYPE,
    CABLE_KEYS,
    CABLES,
    FIBERS,
    MIGRATIONS,
    NEXT_RECORD_INDEX,
    NEXT_REFERENCE_INDEX,
    POWER_MATRIX,
    REFERENCE_VALUES,
    REFERENCES,
    SCHEMA_VERSION,
    create_layout,
)
from bench.store.writer_lock import LIBVER, WriterLock, cable_keys

log = logging.getLogger(__name__)

_BATCH_ROWS = 65536


def _check_writable_path(path: str) -> None:
    if os.path.isdir(path):
        raise StoreError(f"{path} is a directory, not a results file: give a file path such as {path}/results.h5")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise StoreError(f"the directory {parent} does not exist: create it or fix the store path")
    if os.path.exists(path):
        # Mode bits too: root passes os.access, but a store someone made
        # read-only (an archived line) must not be appended to.
        if not os.access(path, os.R_OK | os.W_OK) or not os.stat(path).st_mode & 0o222:
            raise StoreError(
                f"{path} is read-only for this user: make it writable (chmod u+w) to append to it, "
                "or read it with load_results() / `bench query`"
            )
        if not h5py.is_hdf5(path):
            raise StoreError(f"{path} exists but is not an HDF5 file; refusing to overwrite it, choose another path")
    elif not os.access(parent, os.W_OK):
        raise StoreError(f"cannot create {path}: the directory {parent} is read-only for this user")


def _create(path: str, power_matrix_dtype: str, software: str) -> None:
    """Build an empty store beside the target and link it in: never overwrites an existing file."""
    tmp = f"{path}.creating-{os.getpid()}"
    with h5py.File(tmp, "w", libver=LIBVER) as f:
        create_layout(f, power_matrix_dtype, utc_now_text(), software)
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise StoreError(f"{path} appeared while it was being created; not overwriting it") from None
    finally:
        os.unlink(tmp)


def _migrate(path: str) -> None:
    with h5py.File(path, "r+", libver=LIBVER) as f:
        version = check_schema(f, path, writing=True)
        while version < SCHEMA_VERSION:
            if version not in MIGRATIONS:
                raise StoreError(f"{path}: no migration from schema version {version} to {version + 1}")
            log.warning("migrating %s from schema version %d to %d", path, version, version + 1)
            try:
                MIGRATIONS[version](f)
            except READ_ERRORS as exc:  # the migration reads every row: damage shows here first
                raise recovery.damaged_error(path, exc) from None
            version += 1
            f.attrs["schema_version"] = version


class ResultStore:
    """Append-only, crash-safe writer of cable and reference records (one per file).

    Opening creates the file if missing, takes the writer lock, recovers from a
    writer that was killed (clears the HDF5 consistency flags, drops the torn
    tail) and switches SWMR on, so readers can read while this appends.

    fsync=True makes each append durable against power loss, not only against
    a killed process; power_matrix_dtype applies to newly created files only.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: bool = True,
        power_matrix_dtype: str = "float32",
        software: str = "mpo-bench",
    ) -> None:
        self.path = os.fspath(path)
        self._fsync = fsync
        self._mutex = threading.Lock()
        self._file: h5py.File | None = None
        self._broken: BaseException | None = None
        self.repair: RepairReport | None = None  # set when opening had to repair the file (after a crash)
        _check_writable_path(self.path)
        self._lock = WriterLock(self.path)
        self._lock.acquire(self.path)
        try:
            if not os.path.exists(self.path):
                _create(self.path, power_matrix_dtype, software)
            writer_died = recovery.refuse_damaged(self.path)
            self._file = recovery.open_writer(self.path, LIBVER, _migrate)
            try:
                self._open_tables()
            except READ_ERRORS as exc:
                self._close_file()
                if not writer_died:
                    raise recovery.damaged_error(self.path, exc) from None
                # The last writer died and its tail cannot be read or trimmed: still the crash
                # case, so repair now (readable records kept, lost numbers never reused) and say so.
                log.warning("%s: the last writer died and the tail cannot be read (%s: %s); repairing",
                            self.path, type(exc).__name__, exc)
                self.repair = repair_store(self.path, lock_held=True, why=f"on open after a crash: {exc}")
                self._file = recovery.open_writer(self.path, LIBVER, _migrate)
                self._open_tables()
        except BaseException:
            self._close_file()
            self._lock.release()
            raise

    # -- context manager -------------------------------------------------
    def __enter__(self) -> ResultStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Flush, close the file and release the writer lock (idempotent)."""
        self._close_file()
        self._lock.release()

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None

    # -- opening ----------------------------------------------------------
    def _open_tables(self) -> None:
        """Drop the torn tail, reserve record numbers, switch SWMR on, read the writer's indexes."""
        self._repair_tail()
        self._reserve_record_numbers()
        annotations.ensure_group(self._file)  # the migration of a file written before annotations
        self._file.swmr_mode = True
        self._load_state()

    def _reserve_record_numbers(self) -> None:
        """Next free record numbers: past every number the file shows (attribute, last row, last
        key row), so none lost in a repair is given again; written back before SWMR starts."""
        f = self._file
        n_cables, n_refs = f[CABLES].shape[0], f[REFERENCES].shape[0]
        shown = [int(f.attrs.get(NEXT_RECORD_INDEX, n_cables)), n_cables]
        if n_cables:
            shown += [int(f[CABLES][n_cables - 1]["record_index"]) + 1,
                      int(f[CABLE_KEYS][n_cables - 1]["record_index"]) + 1]
        shown_refs = [int(f.attrs.get(NEXT_REFERENCE_INDEX, n_refs)), n_refs]
        if n_refs:
            shown_refs.append(int(f[REFERENCES][n_refs - 1]["record_index"]) + 1)
        self._next_index, self._next_reference_index = max(shown), max(shown_refs)
        f.attrs[NEXT_RECORD_INDEX] = self._next_index
        f.attrs[NEXT_REFERENCE_INDEX] = self._next_reference_index

    def _repair_tail(self) -> None:
        """Drop rows a killed writer left beyond the last committed record."""
        f = self._file
        ext = extents(f)
        n_cables = committed_count(f, CABLES, ext)
        n_refs = committed_count(f, REFERENCES, ext)
        for table, n in ((CABLES, n_cables), (REFERENCES, n_refs)):
            if ext[table] > n:
                recovery.keep_torn_rows(self.path, table, f[table][n : ext[table]])
        committed = self._committed_extents(n_cables, n_refs)
        for name, end in committed.items():
            if ext[name] > end:
                log.warning("%s: dropping %d uncommitted rows of %s", self.path, ext[name] - end, name)
                f[name].resize((end,))
        f.flush()

    def _committed_extents(self, n_cables: int, n_refs: int) -> dict[str, int]:
        f = self._file
        ends = {CABLES: n_cables, CABLE_KEYS: n_cables, REFERENCES: n_refs, FIBERS: 0, POWER_MATRIX: 0,
                REFERENCE_VALUES: 0, BLOB_INDEX: 0, BLOB_BYTES: 0}
        if n_cables:
            last = f[CABLES][n_cables - 1]
            ends[FIBERS] = int(last["fiber_row_start"]) + int(last["fiber_row_count"])
            ends[POWER_MATRIX] = int(last["matrix_start"]) + matrix_len(last)
            ends[BLOB_INDEX] = int(last["blob_rows_end"])
            ends[BLOB_BYTES] = int(last["blob_bytes_end"])
        if n_refs:
            last = f[REFERENCES][n_refs - 1]
            ends[REFERENCE_VALUES] = int(last["values_start"]) + int(last["values_count"])
            ends[BLOB_INDEX] = max(ends[BLOB_INDEX], int(last["blob_rows_end"]))
            ends[BLOB_BYTES] = max(ends[BLOB_BYTES], int(last["blob_bytes_end"]))
        return ends

    def _load_state(self) -> None:
        f = self._file
        self._extent = extents(f)
        self._dataset_ids = {name: f[name].id for name in self._extent}
        self._matrix_dtype = f[POWER_MATRIX].dtype
        index = f[BLOB_INDEX][...]
        self._blob_ids = {bytes(sha).decode(): i for i, sha in enumerate(index["sha256"])}
        self._attempts: Counter[str] = Counter()
        self._serial_attempts: set[tuple[str, int]] = set()
        self._citations: Counter[str] = Counter()
        cables = f[CABLES]
        keys = f[CABLE_KEYS]
        for start in range(0, self._extent[CABLES], _BATCH_ROWS):
            rows = keys[start : min(self._extent[CABLES], start + _BATCH_ROWS)]
            for serial, attempt, reference_id in zip(
                rows["serial"].tolist(), rows["attempt"].tolist(), rows["reference_id"].tolist(), strict=True
            ):
                self._attempts[serial.decode()] += 1
                self._serial_attempts.add((serial.decode(), attempt))
                self._citations[reference_id.decode()] += 1
        n = self._extent[CABLES]
        self._last_cable_sha = decode_str(cables[n - 1]["sha256"]) if n else ""
        refs = f[REFERENCES][...]
        self._reference_rows = {decode_str(r["reference_id"]): i for i, r in enumerate(refs)}
        self._latest_by_station: dict[str, int] = {}
        for i, r in enumerate(refs):
            self._note_reference(i, r)
        self._last_reference_sha = decode_str(refs[-1]["sha256"]) if len(refs) else ""

    def _note_reference(self, index: int, row: np.void) -> None:
        station = decode_str(row["station_name"])
        best = self._latest_by_station.get(station)
        if best is None or float(row["taken_unix_s"]) >= float(self._file[REFERENCES][best]["taken_unix_s"]):
            self._latest_by_station[station] = index

    # -- writing ----------------------------------------------------------
    def _writable(self) -> h5py.File:
        if self._file is None:
            raise StoreError(f"{self.path}: the store is closed")
        if self._broken is not None:
            raise StoreError(
                f"{self.path}: an earlier append failed and could not be rolled back ({self._broken}); "
                "close and reopen the store (committed records are safe)"
            )
        return self._file

    def _append(self, name: str, data: np.ndarray) -> int:
        # Low-level h5py calls: the high-level Dataset rebuilds its compound
        # dtype on every access, which cost more than the write itself.
        start, count = self._extent[name], len(data)
        if count:
            dataset_id = self._dataset_ids[name]
            dataset_id.set_extent((start + count,))
            file_space = dataset_id.get_space()
            file_space.select_hyperslab((start,), (count,))
            dataset_id.write(h5py.h5s.create_simple((count,)), file_space, np.ascontiguousarray(data))
            self._extent[name] = start + count
        return start

    def _put_blob(self, data: bytes, pending: dict[str, int]) -> int:
        sha = sha256_hex(data)
        if sha in self._blob_ids:
            return self._blob_ids[sha]
        if sha in pending:
            return pending[sha]
        offset = self._append(BLOB_BYTES, np.frombuffer(data, dtype=np.uint8))
        entry = np.array([(sha, offset, len(data))], dtype=BLOB_INDEX_DTYPE)
        pending[sha] = self._append(BLOB_INDEX, entry)
        return pending[sha]

    @contextmanager
    def _transaction(self) -> Iterator[dict[str, int]]:
        """Roll every table back to its committed extent if an append fails half-way."""
        committed = dict(self._extent)
        pending: dict[str, int] = {}
        try:
            yield pending
        except BaseException as exc:
            try:
                for name, end in committed.items():
                    if self._extent[name] != end:
                        self._dataset_ids[name].set_extent((end,))
                self._file.flush()
                self._extent = committed
            except BaseException as rollback_exc:  # noqa: BLE001 - the store must stop accepting writes
                self._broken = rollback_exc
            # h5py reports a failed write inside HDF5 (e.g. ENOSPC while flushing
            # metadata) as RuntimeError, not OSError; both are storage failures.
            if isinstance(exc, OSError | RuntimeError):
                raise StoreError(f"{self.path}: writing failed ({exc}); nothing of this record was kept; "
                                 "free disk space, then restart: committed records are safe") from exc
            raise
        self._blob_ids.update(pending)

    def _commit(self, table: str, row: np.ndarray) -> int:
        # Everything the row points to is on disk before the row itself.
        self._file.flush()
        index = self._append(table, row)
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.id.get_vfd_handle())
        return index

    def append_cable(self, record: CableRecord) -> int:
        """Store one cable test attempt; returns its record index once it is on disk."""
        prepared = prepare_cable(record, self._matrix_dtype)
        key = (record.serial, int(record.attempt))
        with self._mutex:
            self._writable()
            if key in self._serial_attempts:
                raise StoreError(
                    f"serial {record.serial!r} attempt {record.attempt} is already stored; records are never "
                    f"overwritten: store the retest as attempt {self.next_attempt(record.serial)} "
                    "(see ResultStore.next_attempt)"
                )
            index = self._next_index
            with self._transaction() as pending:
                row = prepared.row
                for name in CABLE_BLOBS:
                    row[f"{name}_blob"] = self._put_blob(prepared.blobs[name], pending)
                prepared.fibers["record_index"] = index
                row["fiber_row_start"] = self._append(FIBERS, prepared.fibers)
                row["matrix_start"] = self._append(POWER_MATRIX, prepared.matrix)
                row["record_index"] = index
                row["blob_rows_end"] = self._extent[BLOB_INDEX]
                row["blob_bytes_end"] = self._extent[BLOB_BYTES]
                row["stored_utc"] = utc_now_text()
                docs = {name: json.loads(prepared.blobs[name]) for name in CABLE_BLOBS}
                sha = cable_digest(row[0], prepared.fibers, prepared.matrix, docs, self._last_cable_sha)
                row["sha256"] = sha
                self._append(CABLE_KEYS, cable_keys(row))
                self._commit(CABLES, row)
            self._last_cable_sha = sha
            self._last_appended_index = index
            self._next_index = index + 1
            self._attempts[record.serial] += 1
            self._serial_attempts.add(key)
            self._citations[record.reference_id] += 1
            return index

    def add_reference(self, record: ReferenceRecord) -> int:
        """Store a reference once; storing the same reference_id again is a no-op if identical."""
        prepared = prepare_reference(record)
        with self._mutex:
            self._writable()
            existing = self._reference_rows.get(record.reference_id)
            if existing is not None:
                if not _same_reference(self.reference(record.reference_id), record):
                    raise StoreError(
                        f"reference_id {record.reference_id!r} is already stored with different content; "
                        "records are never overwritten: give the new reference a new reference_id"
                    )
                return int(self._file[REFERENCES][existing]["record_index"])
            position, index = self._extent[REFERENCES], self._next_reference_index
            with self._transaction() as pending:
                row = prepared.row
                row["details_blob"] = self._put_blob(prepared.details, pending)
                row["values_start"] = self._append(REFERENCE_VALUES, prepared.values)
                row["record_index"] = index
                row["blob_rows_end"] = self._extent[BLOB_INDEX]
                row["blob_bytes_end"] = self._extent[BLOB_BYTES]
                row["stored_utc"] = utc_now_text()
                details = json.loads(prepared.details)
                sha = reference_digest(row[0], prepared.values, details, self._last_reference_sha)
                row["sha256"] = sha
                self._commit(REFERENCES, row)
            self._last_reference_sha = sha
            self._next_reference_index = index + 1
            self._reference_rows[record.reference_id] = position
            self._note_reference(position, row[0])
            return index

    def annotate(self, record_indexes: list[int], *, kind: str, reason: str, check_record_index: int = -1) -> int:
        """Append annotations (bench.store.annotations) about committed records; never rewrites a record."""
        with self._mutex:
            f = self._writable()
            return annotations.append_annotations(f, [int(i) for i in record_indexes], kind=kind, reason=reason,
                                                  check_record_index=check_record_index, annotated_utc=utc_now_text())

    # -- queries on the writer side --------------------------------------
    @property
    def last_cable_sha256(self) -> str:
        """The hash of the last committed cable record ("" in an empty store): what a line
        script's acknowledgement of that record carries (`bench line --json`)."""
        return self._last_cable_sha

    @property
    def last_appended_index(self) -> int | None:
        """Record index of the last cable this writer committed (None before its first)."""
        return getattr(self, "_last_appended_index", None)

    def next_attempt(self, serial: str) -> int:
        """1 + the number of attempts already stored for this serial."""
        return self._attempts[serial] + 1

    def reference(self, reference_id: str) -> ReferenceRecord | None:
        index = self._reference_rows.get(reference_id)
        if index is None:
            return None
        return _read_reference(self._writable(), index)

    def latest_reference(self, station_name: str) -> ReferenceRecord | None:
        """The reference of this station with the latest taken_utc (ties: the last stored)."""
        index = self._latest_by_station.get(station_name)
        return None if index is None else _read_reference(self._writable(), index)

    def count_cables_since_reference(self, reference_id: str) -> int:
        """Number of stored cable records that cite this reference."""
        return self._citations[reference_id]

    def __len__(self) -> int:
        """Number of cable records in the file (record numbers may be higher after a repair)."""
        return self._extent[CABLES]


def _read_reference(f: h5py.File, index: int) -> ReferenceRecord:
    row = f[REFERENCES][index]
    start, count = int(row["values_start"]), int(row["values_count"])
    values = f[REFERENCE_VALUES][start : start + count]
    return reference_record_from_rows(row, values, BlobReader(f).doc(int(row["details_blob"])))


def _same_reference(a: ReferenceRecord | None, b: ReferenceRecord) -> bool:
    if a is None:
        return False
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
            if x.shape != y.shape or not np.array_equal(x, y, equal_nan=True):
                return False
        elif name in ("cord_ids", "wavelengths_nm", "launch_positions", "receive_channels", "instruments"):
            if list(x) != [dict(i) if isinstance(i, dict) else i for i in y]:
                return False
        elif x != y:
            return False
    return True
