"""Reopening a store whose last writer died (SIGKILL, power cut, crash), and refusing a damaged one.

First choice: clear the superblock consistency flags in place (what
`h5clear -s` does) and open normally; the writer then drops the torn tail.
If HDF5 still refuses the file, it is repaired (bench.store.repair: readable
records copied into a fresh file, verified, the original kept beside it as
`<store>.damaged-<utc>`, no record number reused).

A file whose last writer closed it cleanly but which HDF5 cannot read is not
a crash but damage: the writer refuses it and names `bench repair`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import h5py
import numpy as np

from bench.clock import utc_now_text
from bench.errors import StoreError
from bench.store.damage import StoreDamagedError, check_superblock, hdf5_lock_held, is_lock_error
from bench.store.layout import check_schema
from bench.store.repair import repair_store
from bench.store.schema import SCHEMA_VERSION
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


def _held_by_another_program(path: str, exc: OSError) -> bool:
    """HDF5 refused the file because another process holds its file lock: known from the error's
    kind (h5py raises BlockingIOError, errno EAGAIN) or by asking the OS for the lock ourselves,
    never from the words of the message (a truncated file's error mentions the "sblock")."""
    return is_lock_error(exc) or hdf5_lock_held(path)


def damaged_error(path: str, exc: BaseException) -> StoreDamagedError:
    return StoreDamagedError(
        f"{path}: committed records cannot be read ({type(exc).__name__}: {exc}); the file is damaged (its last "
        f"writer closed it cleanly, so this is not a crash). Nothing was written. Run `bench verify {path}` to "
        f"see which records, then `bench repair {path}` (keeps every readable record, quarantines the rest, "
        "never reuses a record number), or give the station a new store file"
    )


def refuse_damaged(path: str) -> bool:
    """Refuse a file with a broken superblock or a cut-off end before HDF5 sees it; return whether
    its last writer died (consistency flags set), i.e. whether an unreadable tail is a crash's."""
    facts = check_superblock(path)
    if facts.missing_bytes:
        raise StoreDamagedError(
            f"{path} is {facts.missing_bytes} bytes shorter than HDF5 recorded when it was last written: the "
            f"file was truncated (an interrupted copy or transfer, a full disk), and what was at its end cannot "
            f"be read. Nothing was written. Run `bench verify {path}` to see which records are affected, then "
            f"`bench repair {path}`, or restore the file from a complete copy"
        )
    return facts.flags != 0


def _explain_open_error(path: str, exc: OSError) -> StoreError:
    text = str(exc)
    if _held_by_another_program(path, exc):
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
        if _held_by_another_program(path, exc) or not _flags_set(path):
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
        log.warning("%s: cannot clear consistency flags (%s); repairing from committed records", path, exc)
        repair_store(path, lock_held=True, why=f"consistency flags could not be cleared: {exc}")
    if version < SCHEMA_VERSION:
        migrate(path)
    try:
        return h5py.File(path, "r+", libver=libver, rdcc_nbytes=WRITE_CACHE_BYTES)
    except OSError as exc:
        if original is None:
            raise _explain_open_error(path, exc) from None
        log.warning("%s: still unreadable after clearing flags (%s); repairing", path, exc)
        restore_superblock(path, original)
        refused = exc
    repair_store(path, lock_held=True, why=f"HDF5 refused the file after its flags were cleared: {refused}")
    try:
        return h5py.File(path, "r+", libver=libver, rdcc_nbytes=WRITE_CACHE_BYTES)
    except OSError as exc:
        raise _explain_open_error(path, exc) from None


def keep_torn_rows(path: str, table: str, rows: np.ndarray) -> None:
    """Save the visible part of uncommitted rows beside the store instead of silently dropping it."""
    real = [r for r in rows if int(r["record_index"]) != -1]
    if not real:
        return
    out = f"{path}.torn-{table}-{utc_now_text().replace(':', '')}.json"
    doc = [
        {n: (v.decode("utf-8", "replace") if isinstance(v, bytes) else v) for n, v in zip(r.dtype.names, r.item(),
                                                                                            strict=True)}
        for r in real
    ]
    with open(out, "w", encoding="utf-8") as fh:
        json.dump({"store": path, "table": table, "rows": doc}, fh, indent=1, default=str)
    log.warning("%s: %d incomplete %s rows saved to %s", path, len(real), table, out)
