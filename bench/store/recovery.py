"""Reopening a store whose last writer died (SIGKILL, power cut, crash).

First choice: clear the superblock consistency flags in place (what
`h5clear -s` does) and open normally; the writer then drops the torn tail.
If HDF5 still refuses the file, the committed records are copied into a fresh
file, the copy is verified, and only then does it take the store's name; the
original is kept beside it as `<store>.damaged-<utc>`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable

import h5py
import numpy as np

from bench.errors import StoreError
from bench.store.codec import utc_now
from bench.store.layout import check_schema, committed_count, extents, matrix_len
from bench.store.schema import (
    BLOB_BYTES,
    BLOB_INDEX,
    CABLE_KEYS,
    CABLES,
    FIBERS,
    POWER_MATRIX,
    REFERENCE_VALUES,
    REFERENCES,
    SCHEMA_VERSION,
    create_layout,
)
from bench.store.superblock import (
    SuperblockError,
    clear_consistency_flags,
    consistency_flags,
    restore_superblock,
)

log = logging.getLogger(__name__)
# HDF5's chunk cache is per dataset: an append touches only each table's last chunk (the
# largest, power_matrix, is 128 KiB), so 1 MiB per table is plenty. At 16 MiB the caches
# kept filling with written chunks and the writer's resident memory grew ~8 MB per 1,000
# cables for the first few thousand (docs/reliability.md).
WRITE_CACHE_BYTES = 1 * 1024 * 1024
_COPY_ROWS = 1 << 20


def _held_by_another_program(exc: OSError) -> bool:
    """HDF5 refused the file because another process holds its file lock."""
    return "lock" in str(exc).lower()


def _explain_open_error(path: str, exc: OSError) -> StoreError:
    text = str(exc)
    if _held_by_another_program(exc):
        return StoreError(
            f"{path} is open in another program that holds the HDF5 file lock (HDFView, a script using "
            f"h5py without swmr=True, ...): close it, then retry ({text})"
        )
    return StoreError(f"cannot open {path} for writing: {text}")


def _read_schema_version(path: str) -> int:
    with h5py.File(path, "r", swmr=True) as f:
        return check_schema(f, path, writing=True)


def _schema_version(path: str) -> tuple[int, bytes | None]:
    """The file's schema version, and the superblock as found if its flags had to be cleared first.

    A writer killed after opening the file for writing but before switching it to SWMR leaves
    the "open for writing" flag without the SWMR one, and HDF5 then refuses even a SWMR read
    ("file is not already open for SWMR writing"). Only reached while holding the writer lock,
    so no writer of ours is alive; a file another program holds the HDF5 lock on is left alone.
    """
    try:
        return _read_schema_version(path), None
    except OSError as exc:
        if _held_by_another_program(exc) or not _flags_set(path):
            raise _explain_open_error(path, exc) from None
        log.warning("%s: last writer died before switching to SWMR; clearing its consistency flags", path)
        try:
            original = clear_consistency_flags(path)
        except SuperblockError:
            raise _explain_open_error(path, exc) from None
    try:
        return _read_schema_version(path), original
    except OSError as exc:
        raise _explain_open_error(path, exc) from None


def _flags_set(path: str) -> bool:
    try:
        return consistency_flags(path) != 0
    except (SuperblockError, OSError):
        return False


def open_writer(path: str, libver: tuple[str, str], migrate: Callable[[str], None]) -> h5py.File:
    """Open the store read/write (not yet SWMR), recovering from a killed writer on the way."""
    version, original = _schema_version(path)
    try:
        if original is None and consistency_flags(path):
            # Only reached while holding the writer lock, so no writer of ours is alive.
            log.warning("%s: last writer did not close the file; clearing its consistency flags", path)
            original = clear_consistency_flags(path)
    except SuperblockError as exc:
        log.warning("%s: cannot clear consistency flags (%s); rebuilding from committed records", path, exc)
        rebuild_from_committed(path, libver)
    if version < SCHEMA_VERSION:
        migrate(path)
    try:
        return h5py.File(path, "r+", libver=libver, rdcc_nbytes=WRITE_CACHE_BYTES)
    except OSError as exc:
        if original is None:
            raise _explain_open_error(path, exc) from None
        log.warning("%s: still unreadable after clearing flags (%s); rebuilding", path, exc)
        restore_superblock(path, original)
    rebuild_from_committed(path, libver)
    try:
        return h5py.File(path, "r+", libver=libver, rdcc_nbytes=WRITE_CACHE_BYTES)
    except OSError as exc:
        raise _explain_open_error(path, exc) from None


def _copy_prefix(src: h5py.Dataset, dst: h5py.Dataset, end: int) -> None:
    dst.resize((end,))
    for start in range(0, end, _COPY_ROWS):
        stop = min(end, start + _COPY_ROWS)
        dst[start:stop] = src[start:stop]


def rebuild_from_committed(path: str, libver: tuple[str, str]) -> None:
    """Copy every committed record into a fresh file, verify it, then swap it in."""
    from bench.store.reader import verify_store  # verify needs the reader; avoid an import cycle

    stamp = utc_now().replace(":", "")
    copy_path = f"{path}.recovering-{os.getpid()}"
    with h5py.File(path, "r", swmr=True) as src:
        ext = extents(src)
        n_cables = committed_count(src, CABLES, ext)
        n_refs = committed_count(src, REFERENCES, ext)
        ends = {CABLES: n_cables, CABLE_KEYS: n_cables, REFERENCES: n_refs}
        last = src[CABLES][n_cables - 1] if n_cables else None
        ends[FIBERS] = int(last["fiber_row_start"]) + int(last["fiber_row_count"]) if n_cables else 0
        ends[POWER_MATRIX] = int(last["matrix_start"]) + matrix_len(last) if n_cables else 0
        last_ref = src[REFERENCES][n_refs - 1] if n_refs else None
        ends[REFERENCE_VALUES] = int(last_ref["values_start"]) + int(last_ref["values_count"]) if n_refs else 0
        blob_rows = [int(r["blob_rows_end"]) for r in (last, last_ref) if r is not None]
        blob_bytes = [int(r["blob_bytes_end"]) for r in (last, last_ref) if r is not None]
        ends[BLOB_INDEX] = max(blob_rows, default=0)
        ends[BLOB_BYTES] = max(blob_bytes, default=0)
        with h5py.File(copy_path, "w", libver=libver) as dst:
            create_layout(dst, src[POWER_MATRIX].dtype.str, str(src.attrs["created_utc"]),
                          str(src.attrs["created_by"]))
            dst.attrs["recovered_utc"] = utc_now()
            for name, end in ends.items():
                _copy_prefix(src[name], dst[name], end)
    report = verify_store(copy_path)
    if not report.ok or report.n_records != n_cables:
        raise StoreError(
            f"{path}: recovery copy {copy_path} did not verify ({len(report.bad)} bad records); the original "
            "is untouched, inspect both files"
        )
    damaged = f"{path}.damaged-{stamp}"
    os.link(path, damaged)
    os.replace(copy_path, path)
    log.warning("%s: rebuilt from %d committed records; original kept as %s", path, n_cables, damaged)


def keep_torn_rows(path: str, table: str, rows: np.ndarray) -> None:
    """Save the visible part of uncommitted rows beside the store instead of silently dropping it."""
    real = [r for r in rows if int(r["record_index"]) != -1]
    if not real:
        return
    out = f"{path}.torn-{table}-{utc_now().replace(':', '')}.json"
    doc = [
        {n: (v.decode("utf-8", "replace") if isinstance(v, bytes) else v) for n, v in zip(r.dtype.names, r.item(),
                                                                                            strict=True)}
        for r in real
    ]
    with open(out, "w", encoding="utf-8") as fh:
        json.dump({"store": path, "table": table, "rows": doc}, fh, indent=1, default=str)
    log.warning("%s: %d incomplete %s rows saved to %s", path, len(real), table, out)
