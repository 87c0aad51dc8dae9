"""Reading the committed part of a store: shared by the writer, the readers and verify.

A cable (or reference) row is the commit point of its record: its fibers,
matrix and blobs are written and flushed before it. A row at the end of a
table that is not structurally complete (fill value, wrong index, pointers past
the data) is the trace of a writer killed mid-append and is not committed.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import h5py
import numpy as np

from bench.errors import StoreError
from bench.store.codec import CABLE_BLOBS
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
    """Open a store read-only in SWMR mode, which works while a writer appends (or after it crashed)."""
    path = os.fspath(path)
    check_path_is_store(path)
    try:
        f = h5py.File(path, "r", swmr=True, rdcc_nbytes=READ_CACHE_BYTES)
    except OSError as exc:
        raise StoreError(f"cannot open {path} for reading: {exc}") from None
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
    if int(row["record_index"]) != index or not _SHA_RE.match(bytes(row["sha256"])):
        return False
    matrix_len = int(row["n_wavelengths"]) * int(row["n_launch"]) * int(row["n_receive"])
    blob_ids = [int(row[f"{name}_blob"]) for name in CABLE_BLOBS]
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
    if int(row["record_index"]) != index or not _SHA_RE.match(bytes(row["sha256"])):
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


def committed_count(f: h5py.File, table: str, ext: dict[str, int] | None = None) -> int:
    """Number of committed rows of `cables` or `references` (torn tail rows excluded)."""
    ext = ext or extents(f)
    ds = f[table]
    n = ext[table]
    if n == 0:
        return 0
    start = max(0, n - _TAIL_SCAN_ROWS)
    complete = _cable_row_complete if table == CABLES else _reference_row_complete
    while n > start:
        try:
            # One row at a time: an unreadable torn row must not hide the committed ones before it.
            row = ds[n - 1]
        except OSError:
            row = None
        if row is not None and complete(row, n - 1, ext):
            return n
        n -= 1
    return n


class BlobReader:
    """Parsed JSON documents of the blob table, cached by blob id."""

    def __init__(self, f: h5py.File) -> None:
        self._f = f
        self._index: np.ndarray | None = None
        self._bytes: np.ndarray | None = None
        self._docs: dict[int, Any] = {}

    def raw(self, blob_id: int) -> tuple[bytes, str]:
        """(bytes, sha256 recorded in the index) of one blob."""
        if self._index is None or blob_id >= len(self._index):
            self._index = self._f[BLOB_INDEX][...]
        entry = self._index[blob_id]
        offset, length = int(entry["offset"]), int(entry["length"])
        if self._bytes is not None and offset + length <= len(self._bytes):
            data = self._bytes[offset : offset + length].tobytes()
        else:
            data = self._f[BLOB_BYTES][offset : offset + length].tobytes()
        return data, bytes(entry["sha256"]).decode()

    def preload(self) -> None:
        """Read the whole blob table in one go (cheap: documents are deduplicated)."""
        self._index = self._f[BLOB_INDEX][...]
        self._bytes = self._f[BLOB_BYTES][...]

    def doc(self, blob_id: int) -> Any:
        if blob_id not in self._docs:
            data, _ = self.raw(blob_id)
            self._docs[blob_id] = json.loads(data.decode("utf-8"))
        return self._docs[blob_id]

    def cable_docs(self, row: np.void) -> dict[str, Any]:
        return {name: self.doc(int(row[f"{name}_blob"])) for name in CABLE_BLOBS}


def matrix_len(row: np.void) -> int:
    return int(row["n_wavelengths"]) * int(row["n_launch"]) * int(row["n_receive"])
