"""Reading the committed part of a store: shared by the writer, the readers and verify.

A cable (or reference) row is the commit point of its record: its fibers,
matrix and blobs are written and flushed before it. A *readable* row at the end
of a table that is not structurally complete (fill value, impossible index,
pointers past the data) is the trace of a writer killed mid-append and is not
committed. An *unreadable* row is not a torn one: a killed writer leaves rows
HDF5 can read, so an unreadable row is damage to a committed record, and it
counts as committed (its record number stays taken) even though it is lost.

Record numbers: in schema version 1 the record_index of a row is its position.
Version 2 keeps that until a repair drops unreadable rows; from then on the
numbers still only increase, and the ones skipped are listed in the file's
repair log (docs/hdf5-schema.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

import h5py
import numpy as np

from bench.errors import StoreError
from bench.store.codec import cable_blob_ids
from bench.store.damage import READ_ERRORS, StoreDamagedError, StoreScan, check_superblock, is_lock_error
from bench.store.schema import (
    BLOB_BYTES,
    BLOB_INDEX,
    CABLE_KEYS,
    CABLES,
    FIBERS,
    FORMAT_NAME,
    POWER_MATRIX,
    REFERENCE_VALUES,
    REFERENCES,
    SCHEMA_VERSION,
)

_SHA_RE = re.compile(rb"^[0-9a-f]{64}$")
# Rows scanned from the end when looking for the last committed one; a crash
# leaves at most the one in-flight row, the margin covers unexpected cases.
_TAIL_SCAN_ROWS = 8
READ_CACHE_BYTES = 64 * 1024 * 1024


def check_path_is_store(path: str) -> None:
    if os.path.isdir(path):
        raise StoreError(f"{path} is a directory, not a results file: give a file path such as {path}/results.h5")
    if not os.path.exists(path):
        raise StoreError(f"{path} does not exist: check the path (a writer creates it with ResultStore)")
    if not h5py.is_hdf5(path):
        raise StoreError(f"{path} is not an HDF5 file, so it is not a results store; check the path")


def check_schema(f: h5py.File, path: str, *, writing: bool) -> int:
    version = f.attrs.get("schema_version")
    if f.attrs.get("format") != FORMAT_NAME or version is None:
        raise StoreError(
            f"{path} is an HDF5 file but not an mpo-bench results store (no format/schema_version "
            f"attributes); refusing to {'write into' if writing else 'read'} it"
        )
    version = int(version)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} uses store schema version {version}, newer than this software understands "
            f"({SCHEMA_VERSION}); upgrade mpo-bench before {'writing to' if writing else 'reading'} it"
        )
    return version


def open_for_read(path: str) -> h5py.File:
    """Open a store read-only in SWMR mode, which works while a writer appends (or after it crashed).

    The superblock is checked first (StoreDamagedError): HDF5 in SWMR mode would retry a
    damaged one for minutes instead of failing.
    """
    path = os.fspath(path)
    check_path_is_store(path)
    check_superblock(path)
    try:
        f = h5py.File(path, "r", swmr=True, rdcc_nbytes=READ_CACHE_BYTES)
    except OSError as exc:
        if is_lock_error(exc):
            raise StoreError(f"cannot open {path} for reading: another program holds it open for writing "
                             f"without SWMR (HDFView, a script): close it, then retry ({exc})") from None
        # The superblock is sound, so HDF5 failed on the metadata it leads to: the file is damaged.
        raise StoreDamagedError(f"cannot open {path} for reading: {exc}; the file's HDF5 metadata is damaged, "
                                "so no record can be located (restore it from a backup)") from None
    try:
        check_schema(f, path, writing=False)
    except BaseException:
        f.close()
        raise
    return f


def refresh(f: h5py.File) -> None:
    """Pick up what a SWMR writer flushed since the file was opened (commit tables first)."""
    if f.swmr_mode and f.mode == "r":
        for name in (CABLES, REFERENCES, CABLE_KEYS, FIBERS, POWER_MATRIX, REFERENCE_VALUES, BLOB_INDEX, BLOB_BYTES):
            f[name].refresh()


def _cable_row_complete(row: np.void, index: int, extents: dict[str, int]) -> bool:
    # index is the row's position: its record number is at least that (equal until a repair).
    if int(row["record_index"]) < index or not _SHA_RE.match(bytes(row["sha256"])):
        return False
    matrix_len = int(row["n_wavelengths"]) * int(row["n_launch"]) * int(row["n_receive"])
    blob_ids = cable_blob_ids(row).values()
    return (
        0 <= int(row["fiber_row_start"])
        and int(row["fiber_row_start"]) + int(row["fiber_row_count"]) <= extents[FIBERS]
        and 0 <= int(row["matrix_start"])
        and int(row["matrix_start"]) + matrix_len <= extents[POWER_MATRIX]
        and int(row["blob_rows_end"]) <= extents[BLOB_INDEX]
        and int(row["blob_bytes_end"]) <= extents[BLOB_BYTES]
        and all(0 <= b < int(row["blob_rows_end"]) for b in blob_ids)
    )


def _reference_row_complete(row: np.void, index: int, extents: dict[str, int]) -> bool:
    if int(row["record_index"]) < index or not _SHA_RE.match(bytes(row["sha256"])):
        return False
    return (
        0 <= int(row["values_start"])
        and int(row["values_start"]) + int(row["values_count"]) <= extents[REFERENCE_VALUES]
        and int(row["blob_rows_end"]) <= extents[BLOB_INDEX]
        and int(row["blob_bytes_end"]) <= extents[BLOB_BYTES]
        and 0 <= int(row["details_blob"]) < int(row["blob_rows_end"])
    )


def extents(f: h5py.File) -> dict[str, int]:
    return {name: int(f[name].shape[0]) for name in f if isinstance(f[name], h5py.Dataset)}


def committed_count(f: h5py.File, table: str, ext: dict[str, int] | None = None,
                    scan: StoreScan | None = None) -> int:
    """Number of committed rows of `cables` or `references`: torn tail rows excluded, unreadable
    (damaged) rows included, since only damage makes a committed row unreadable."""
    ext = ext or extents(f)
    scan = scan or StoreScan(f)
    n = ext[table]
    start = max(0, n - _TAIL_SCAN_ROWS)
    complete = _cable_row_complete if table == CABLES else _reference_row_complete
    while n > start:
        row = scan.row(table, n - 1)  # one row at a time, recording an unreadable one as damage
        if row is None or complete(row, n - 1, ext):
            return n
        n -= 1
    return n


class BlobReader:
    """Parsed JSON documents of the blob table, cached by blob id.

    A blob whose index entry or bytes cannot be read raises StoreDamagedError.
    """

    def __init__(self, f: h5py.File) -> None:
        self._f = f
        self._index: np.ndarray | None = None
        self._index_ok: np.ndarray | None = None
        self._bytes: np.ndarray | None = None
        self._bytes_ok: np.ndarray | None = None
        self._docs: dict[int, Any] = {}

    def _read(self, name: str, start: int, stop: int) -> np.ndarray:
        try:
            return self._f[name][start:stop]
        except READ_ERRORS as exc:
            raise StoreDamagedError(f"{self._f.filename}: {name} rows {start}-{stop - 1} are unreadable "
                                    f"({type(exc).__name__}: {exc}); run `bench verify`") from None

    def raw(self, blob_id: int) -> tuple[bytes, str]:
        """(bytes, sha256 recorded in the index) of one blob."""
        if self._index is None or blob_id >= len(self._index):
            self._index = self._read(BLOB_INDEX, 0, self._f[BLOB_INDEX].shape[0])
            self._index_ok = None
        if self._index_ok is not None and not self._index_ok[blob_id]:
            raise StoreDamagedError(f"{self._f.filename}: blob_index row {blob_id} is unreadable")
        entry = self._index[blob_id]
        offset, length = int(entry["offset"]), int(entry["length"])
        if self._bytes is not None and 0 <= offset and offset + length <= len(self._bytes):
            if not self._bytes_ok[offset : offset + length].all():
                raise StoreDamagedError(f"{self._f.filename}: bytes of JSON document {blob_id} are unreadable")
            data = self._bytes[offset : offset + length].tobytes()
        else:
            data = self._read(BLOB_BYTES, offset, offset + length).tobytes()
        return data, bytes(entry["sha256"]).decode()

    def preload(self, scan: StoreScan | None = None) -> None:
        """Read the whole blob table in one go (cheap: documents are deduplicated)."""
        scan = scan or StoreScan(self._f)
        self._index, self._index_ok = scan.rows(BLOB_INDEX, 0, self._f[BLOB_INDEX].shape[0])
        self._bytes, self._bytes_ok = scan.rows(BLOB_BYTES, 0, self._f[BLOB_BYTES].shape[0])
        if not self._index_ok.all() and self._bytes_ok.all():
            rebuilt = rebuild_blob_index(self._bytes.tobytes(), self._index, self._index_ok)
            if rebuilt is not None:
                self._index, self._index_ok = rebuilt, np.ones(len(rebuilt), dtype=bool)
                self.index_rebuilt = True

    index_rebuilt = False  # the blob index was unreadable and was rebuilt from the blob bytes

    def index_rows(self) -> np.ndarray:
        """The blob index as preloaded (rebuilt from the bytes if it was unreadable)."""
        return self._index

    def readable(self, blob_id: int) -> bool:
        try:
            self.raw(blob_id)
        except (StoreDamagedError, IndexError):
            return False
        return True

    def doc(self, blob_id: int) -> Any:
        if blob_id not in self._docs:
            data, _ = self.raw(blob_id)
            self._docs[blob_id] = json.loads(data.decode("utf-8"))
        return self._docs[blob_id]

    def cable_docs(self, row: np.void) -> dict[str, Any]:
        return {name: self.doc(blob_id) for name, blob_id in cable_blob_ids(row).items()}


def rebuild_blob_index(data: bytes, index: np.ndarray, index_ok: np.ndarray) -> np.ndarray | None:
    """Recompute /blob_index from /blob_bytes, or None if that cannot be done with certainty.

    The bytes are the documents one after another, in the order their index rows were
    written, each a canonical JSON object, array or string (never a bare number, so where
    one ends is unambiguous). Readable index rows must agree with what is recomputed.
    """
    decoder = json.JSONDecoder()
    rows = np.zeros(len(index), dtype=index.dtype)
    offset = 0
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # Offsets are in bytes; walk the text and the byte count together.
    pos = 0
    for k in range(len(index)):
        if pos >= len(text) or text[pos] not in "{[\"":
            return None
        try:
            _, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return None
        doc = text[pos:end].encode("utf-8")
        rows[k] = (hashlib.sha256(doc).hexdigest(), offset, len(doc))
        if index_ok[k] and (int(index["offset"][k]), int(index["length"][k])) != (offset, len(doc)):
            return None
        offset += len(doc)
        pos = end
    return rows


def matrix_len(row: np.void) -> int:
    return int(row["n_wavelengths"]) * int(row["n_launch"]) * int(row["n_receive"])
