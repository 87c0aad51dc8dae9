"""Telling damage from a crash: what in a store can still be read, chunk by chunk.

A killed writer leaves a torn tail (fill-value rows, rows past the data) that
the layout's completeness test drops. Damage is different: a chunk that HDF5
cannot read (corrupt compressed data, bytes cut off the end of the file, a
broken chunk index) inside the committed part of a table. Readers, verify and
repair use `StoreScan` to read every table in a way that returns each readable
row and names each unreadable range, instead of failing the whole read or
mistaking damage for a torn tail.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from bench.errors import StoreError
from bench.store.superblock import SuperblockError, SuperblockFacts, read_superblock

# What h5py raises when it cannot read a chunk or the metadata that leads to it: OSError for
# "Can't read data" / "inflate() failed" / checksum errors, RuntimeError from some filters,
# KeyError/ValueError from a damaged B-tree or chunk index.
READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError)


class StoreDamagedError(StoreError):
    """Committed records of the store cannot be read; `bench verify` / `bench repair` say which."""


@dataclass(frozen=True)
class DamagedRange:
    """Rows [start, stop) of one table that HDF5 cannot read."""

    table: str
    start: int
    stop: int
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "rows": [self.start, self.stop], "why": self.why}

    def describe(self) -> str:
        rows = f"row {self.start}" if self.stop == self.start + 1 else f"rows {self.start}-{self.stop - 1}"
        return f"{self.table} {rows}: {self.why}"


@dataclass(frozen=True)
class UnreadableRecord:
    """A committed record that cannot be read back, with what the other tables still say of it."""

    table: str
    position: int  # row in its table
    record_index: int | None  # from /cable_keys when the row itself is unreadable; None if unknown
    name: str  # serial (cables) or reference_id (references); "" if no table still names it
    why: str

    def as_dict(self) -> dict[str, Any]:
        key = "reference_id" if self.table == "references" else "serial"
        return {"table": self.table, "row": self.position, "record_index": self.record_index, key: self.name,
                "why": self.why}


def describe_record(u: UnreadableRecord) -> str:
    index = "?" if u.record_index is None else str(u.record_index)
    name = u.name or ("reference id unknown" if u.table == "references" else "serial unknown")
    kind = "reference record" if u.table == "references" else "cable record"
    return f"{kind} {index} ({name}, row {u.position})" if u.position >= 0 else f"{kind} {index} ({name})"


def unreadable_warning(unreadable: list[UnreadableRecord]) -> str | None:
    """One warning line for readers (query, export, reports) that skipped unreadable records."""
    if not unreadable:
        return None
    shown = ", ".join(describe_record(u) for u in unreadable[:10])
    more = f" and {len(unreadable) - 10} more" if len(unreadable) > 10 else ""
    return (f"warning: {len(unreadable)} stored record(s) matching the query cannot be read and are left out: "
            f"{shown}{more}; run `bench verify` on the file")



def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def check_superblock(path: str) -> SuperblockFacts:
    """Refuse, before HDF5 sees the file, a superblock HDF5 would choke on.

    A SWMR reader retries metadata whose checksum fails (it assumes a writer is
    half-way through updating it) with a back-off that grows to minutes, so a
    damaged superblock opened with swmr=True looks like a hang. Checking the
    superblock's own checksum here makes that case fail at once.
    """
    try:
        facts = read_superblock(path)
    except SuperblockError as exc:
        raise StoreDamagedError(f"{path}: the HDF5 superblock is unreadable ({exc}); the file is damaged: "
                                "restore it from a backup, or keep it for inspection") from None
    if not facts.checksum_ok:
        raise StoreDamagedError(
            f"{path}: the HDF5 superblock (first bytes of the file) fails its checksum, so the file is damaged "
            "and no record can be located in it; restore the file from a backup (the damaged one is not "
            "changed)"
        )
    return facts


def hdf5_lock_held(path: str) -> bool:
    """True if another process holds HDF5's file lock (flock) on the store.

    Asked of the operating system (BlockingIOError), so the answer does not
    depend on HDF5's wording of an error message.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def is_lock_error(exc: BaseException) -> bool:
    """HDF5 refused the file because of a file lock (h5py raises BlockingIOError, errno EAGAIN)."""
    import errno

    return isinstance(exc, BlockingIOError) or getattr(exc, "errno", None) in (errno.EAGAIN, errno.EWOULDBLOCK)


def _fill_rows(dtype: np.dtype, n: int) -> np.ndarray:
    rows = np.zeros(n, dtype=dtype)
    if dtype.names and "record_index" in dtype.names:
        rows["record_index"] = -1
    elif dtype.kind == "f":
        rows[...] = np.nan
    return rows


def _merge(ranges: list[DamagedRange]) -> list[DamagedRange]:
    out: list[DamagedRange] = []
    for r in sorted(ranges, key=lambda r: (r.table, r.start)):
        if out and out[-1].table == r.table and out[-1].stop >= r.start:
            last = out[-1]
            why = last.why if last.why == r.why else f"{last.why}; {r.why}"
            out[-1] = DamagedRange(r.table, last.start, max(last.stop, r.stop), why)
        else:
            out.append(r)
    return out


class StoreScan:
    """Reads rows of an open store, returning what is readable and recording what is not."""

    def __init__(self, f: h5py.File, facts: SuperblockFacts | None = None) -> None:
        self.f = f
        self.damaged: list[DamagedRange] = []
        self._past_eof: dict[str, list[tuple[int, int]]] = {}
        if facts is not None and facts.missing_bytes:
            self._find_chunks_past_eof(facts)

    def _find_chunks_past_eof(self, facts: SuperblockFacts) -> None:
        """Chunks that lie (partly) beyond a truncated file's end: HDF5 reads zeros for the missing
        bytes, which an uncompressed table would return as if they were data."""
        end = facts.file_size - facts.base_address
        for name in self.f:
            ds = self.f[name]
            if not isinstance(ds, h5py.Dataset) or ds.chunks is None:
                continue
            chunk, extent = ds.chunks[0], ds.shape[0]
            cut: list[tuple[int, int]] = []

            def visit(info: Any, cut: list[tuple[int, int]] = cut, chunk: int = chunk, extent: int = extent) -> None:
                if info.byte_offset + info.size > end:
                    start = int(info.chunk_offset[0])
                    cut.append((start, min(start + chunk, extent)))

            try:
                ds.id.chunk_iter(visit)
            except READ_ERRORS as exc:
                cut = [(0, extent)]
                self.damaged.append(DamagedRange(name, 0, extent, f"chunk index unreadable ({_why(exc)})"))
            if cut:
                self._past_eof[name] = cut
                why = f"data beyond the end of the file (file is {facts.missing_bytes} bytes short: truncated)"
                self.damaged.extend(DamagedRange(name, a, b, why) for a, b in cut if b > a)
        self.damaged = _merge(self.damaged)

    def rows(self, table: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows [start, stop), boolean mask of the readable ones); unreadable rows hold fill values."""
        ds = self.f[table]
        stop = max(start, min(stop, ds.shape[0]))
        known = [(a, b) for a, b in self._past_eof.get(table, ()) if a < stop and b > start]
        if not known:
            try:
                return ds[start:stop], np.ones(stop - start, dtype=bool)
            except READ_ERRORS:
                pass
        return self._rows_by_chunk(ds, table, start, stop, known)

    def _rows_by_chunk(
        self, ds: h5py.Dataset, table: str, start: int, stop: int, known: list[tuple[int, int]]
    ) -> tuple[np.ndarray, np.ndarray]:
        rows = _fill_rows(ds.dtype, stop - start)
        ok = np.ones(stop - start, dtype=bool)
        chunk = ds.chunks[0] if ds.chunks else max(1, stop - start)
        found: list[DamagedRange] = []
        for a in range(start - start % chunk, stop, chunk):
            lo, hi = max(a, start), min(a + chunk, stop)
            if any(x < hi and y > lo for x, y in known):
                ok[lo - start : hi - start] = False
                continue
            try:
                rows[lo - start : hi - start] = ds[lo:hi]
            except READ_ERRORS as exc:
                ok[lo - start : hi - start] = False
                found.append(DamagedRange(table, a, min(a + chunk, ds.shape[0]), f"chunk unreadable ({_why(exc)})"))
        if found:
            self.damaged = _merge(self.damaged + found)
        return rows, ok

    def row(self, table: str, index: int) -> np.void | None:
        rows, ok = self.rows(table, index, index + 1)
        return rows[0] if len(rows) and ok[0] else None

    def ranges(self, table: str | None = None) -> list[DamagedRange]:
        return [r for r in self.damaged if table is None or r.table == table]


def raw_chunk_bytes(ds: h5py.Dataset, start: int) -> bytes | None:
    """The stored (compressed) bytes of the chunk holding row `start`, as they are on disk."""
    try:
        _, data = ds.id.read_direct_chunk((start - start % ds.chunks[0],))
        return bytes(data)
    except READ_ERRORS:
        return None


def raw_file_bytes(path: str, ds: h5py.Dataset, start: int) -> bytes | None:
    """The chunk's bytes read from the file itself (what is left of a chunk cut by truncation)."""
    try:
        info = ds.id.get_chunk_info_by_coord((start - start % ds.chunks[0],))
    except READ_ERRORS:
        return None
    if info.byte_offset is None:
        return None
    with open(path, "rb") as fh:
        fh.seek(info.byte_offset)
        return fh.read(info.size)
