"""Repairing a damaged store: keep every readable record, quarantine the rest, never reuse a number.

Why an explicit `bench repair` (and not a repair on open): damage is not a crash. A
killed writer leaves a torn tail the next writer drops by itself, losing nothing
that was acknowledged; damage (a corrupt chunk, a truncated copy) means something
outside the bench changed the file, and a repair rewrites the whole file and drops
records. That should happen when a person decides it, after `bench verify` has
said what is lost, not silently inside `ResultStore()` at the start of a shift. So
the writer refuses a damaged file and names this command. The one exception is a
file whose last writer died *and* whose tail HDF5 cannot read: that is still the
crash case, so the writer repairs it on open, with the same function, and says so.

What a repair does:

* copies every readable committed record into a fresh file (record numbers,
  hashes and contents unchanged; only layout pointers move), verifies the copy,
  keeps the original as `<store>.damaged-<utc>` and puts the copy in its place;
* writes the raw bytes of every unreadable chunk, and what `/cable_keys` still
  says of each lost record (record number, serial, lot, attempt), to
  `<store>.quarantine-<utc>/` (manifest.json + one .bin per damaged range);
* records in the file (`repair_log` attribute) which record numbers were lost
  and why, and sets `next_record_index` past every number any table still shows,
  so a lost number is never given to another cable.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from bench.clock import utc_now_text
from bench.errors import StoreError
from bench.store.annotations import copy_annotations
from bench.store.codec import decode_str
from bench.store.damage import (
    DamagedRange,
    StoreScan,
    UnreadableRecord,
    check_superblock,
    raw_chunk_bytes,
    raw_file_bytes,
)
from bench.store.layout import BlobReader, check_path_is_store, check_schema, committed_count, extents
from bench.store.schema import (
    BLOB_BYTES,
    BLOB_INDEX,
    CABLE_KEYS,
    CABLES,
    FIBERS,
    NEXT_RECORD_INDEX,
    NEXT_REFERENCE_INDEX,
    POWER_MATRIX,
    REFERENCE_VALUES,
    REFERENCES,
    REPAIR_LOG,
    create_layout,
    current_cable_rows,
    repair_log,
)
from bench.store.superblock import clear_consistency_flags, read_superblock
from bench.store.verify import verify_store
from bench.store.writer_lock import LIBVER, WriterLock, cable_keys

log = logging.getLogger(__name__)
_COPY_ROWS = 1 << 20



@dataclass
class RepairReport:
    """What a repair did; `summary()` is what `bench repair` prints."""

    path: str
    original_kept_as: str
    quarantine_dir: str | None
    n_kept: int
    n_references_kept: int
    lost: list[UnreadableRecord]
    damaged: list[DamagedRange]
    next_record_index: int
    lost_index_estimated: list[int] = field(default_factory=list)
    n_tampered_kept: int = 0  # readable records that fail their hash: kept as they are, not "repaired"

    def summary(self) -> str:
        cables = [u for u in self.lost if u.table == CABLES]
        refs = [u for u in self.lost if u.table == REFERENCES]
        text = f"kept {self.n_kept} cable records and {self.n_references_kept} references"
        if cables:
            text += f"; lost {len(cables)} cable records (" + ", ".join(
                f"{u.record_index if u.record_index is not None else '?'} {u.name or 'serial unknown'}"
                for u in cables) + ")"
        if refs:
            text += f"; lost {len(refs)} references"
        if self.n_tampered_kept:
            text += (f"; {self.n_tampered_kept} kept records fail their hash (kept as they are; "
                     "`bench verify` lists them)")
        return text + f"; next record number {self.next_record_index}"

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "original_kept_as": self.original_kept_as, "quarantine": self.quarantine_dir,
                "n_kept": self.n_kept, "n_references_kept": self.n_references_kept,
                "lost": [u.as_dict() for u in self.lost], "damaged_ranges": [r.as_dict() for r in self.damaged],
                "next_record_index": self.next_record_index,
                "lost_index_estimated": self.lost_index_estimated, "n_tampered_kept": self.n_tampered_kept,
                "summary": self.summary()}


def _kept_extents(cables: np.ndarray, refs: np.ndarray) -> dict[str, int]:
    """Where the kept records' rows end in each table they point into.

    Those tables are copied as they are up to there (readable parts; unreadable rows as fill
    values, never pointed to by a kept record), so no pointer of a kept record changes.
    """
    def end(rows: np.ndarray, stop: np.ndarray) -> int:
        return int(stop.max()) if len(rows) else 0

    matrix = cables["n_wavelengths"].astype(np.int64) * cables["n_launch"] * cables["n_receive"]
    return {
        FIBERS: end(cables, cables["fiber_row_start"] + cables["fiber_row_count"]),
        POWER_MATRIX: end(cables, cables["matrix_start"] + matrix),
        REFERENCE_VALUES: end(refs, refs["values_start"] + refs["values_count"]),
        BLOB_INDEX: max(end(cables, cables["blob_rows_end"]), end(refs, refs["blob_rows_end"])),
        BLOB_BYTES: max(end(cables, cables["blob_bytes_end"]), end(refs, refs["blob_bytes_end"])),
    }


def _copy_whole(scan: StoreScan, name: str, dst: h5py.Dataset, end: int) -> None:
    dst.resize((end,))
    for start in range(0, end, _COPY_ROWS):
        rows, _ = scan.rows(name, start, min(end, start + _COPY_ROWS))
        dst[start : start + len(rows)] = rows


def _key_view(scan: StoreScan, n: int) -> tuple[np.ndarray, np.ndarray]:
    keys, ok = scan.rows(CABLE_KEYS, 0, n)
    if len(keys) < n:
        keys = np.concatenate([keys, np.zeros(n - len(keys), dtype=keys.dtype)])
        ok = np.concatenate([ok, np.zeros(n - len(ok), dtype=bool)])
    return keys, ok


def _next_free(indexes: list[int | None], attr_next: int) -> tuple[int, list[int | None], list[int]]:
    """Fill in unknown record numbers (row positions whose cable and key rows are both unreadable)
    with the smallest numbers they can have, and return the first number nobody can have used."""
    filled: list[int | None] = []
    estimated: list[int] = []
    previous = -1
    for index in indexes:
        if index is None:
            index = previous + 1  # numbers only increase, by at least one per row
            estimated.append(index)
        filled.append(index)
        previous = index
    # An estimated number could be too low if a gap preceded it; reserve up to the next known
    # number or, at the end, as far as the attribute says.
    return max([attr_next, previous + 1, *[i + 1 for i in filled if i is not None]]), filled, estimated


def _quarantine(path: str, src: h5py.File, damaged: list[DamagedRange], lost: list[UnreadableRecord],
                keys: np.ndarray, keys_ok: np.ndarray, stamp: str) -> str | None:
    if not damaged and not lost:
        return None
    folder = f"{path}.quarantine-{stamp}"
    os.makedirs(folder, exist_ok=False)
    ranges = []
    for r in damaged:
        ds = src[r.table]
        files = []
        chunk = ds.chunks[0] if ds.chunks else r.stop - r.start
        for start in range(r.start - r.start % chunk, r.stop, chunk):
            data = raw_chunk_bytes(ds, start)
            source = "chunk as stored (filters not undone)"
            if data is None:
                data = raw_file_bytes(path, ds, start)
                source = "bytes the chunk index points to, read from the file"
            if data is None:
                continue
            name = f"{r.table}-rows-{start}-{min(start + chunk, ds.shape[0]) - 1}.bin"
            with open(os.path.join(folder, name), "wb") as fh:
                fh.write(data)
            files.append({"file": name, "bytes": len(data), "source": source,
                          "filters": "shuffle+gzip" if ds.compression else "none"})
        ranges.append({**r.as_dict(), "raw": files})
    records = []
    for u in lost:
        entry = u.as_dict()
        if u.table == CABLES and 0 <= u.position < len(keys) and keys_ok[u.position]:
            key = keys[u.position]
            entry["cable_keys"] = {n: (decode_str(key[n]) if key.dtype[n].kind == "S" else key[n].item())
                                   for n in key.dtype.names}
        records.append(entry)
    manifest = {"store": path, "quarantined_utc": utc_now_text(), "damaged_ranges": ranges, "lost_records": records,
                "note": "The original file is kept beside the store as .damaged-*; these are copies of the "
                        "unreadable parts and what the query index still says of each lost record."}
    with open(os.path.join(folder, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1, default=str)
    return folder


def repair_store(path: str | os.PathLike[str], *, lock_held: bool = False, why: str = "bench repair") -> RepairReport:
    """Rebuild the store from its readable committed records (see the module docstring).

    lock_held: the caller (a ResultStore opening the file) already holds the writer lock.
    """

    path = os.fspath(path)
    check_path_is_store(path)
    facts = check_superblock(path)
    lock = None if lock_held else WriterLock(path)
    if lock is not None:
        lock.acquire(path)
    try:
        if facts.flags and not facts.missing_bytes:
            clear_consistency_flags(path)  # a writer died: what every writer does first
        before = verify_store(path)
        return _rebuild(path, before, why, LIBVER, verify_store)
    finally:
        if lock is not None:
            lock.release()


def _copy_annotations(src: h5py.File, dst: h5py.File, kept_record_indexes: set[int]) -> dict[str, Any]:
    """Carry `/annotations` (SUSPECT marks) over; what cannot come along is said in the repair log."""
    try:
        left_out = copy_annotations(src, dst, kept_record_indexes)
    except (OSError, KeyError, ValueError) as error:
        log.warning("the annotations table could not be read (%s): the repaired file has none", error)
        return {"copied": False, "why": f"/annotations unreadable: {error}"}
    return {"copied": True, "left_out_of_lost_records": [a.as_dict() for a in left_out]}


def _rebuild(path: str, before: Any, why: str, libver: tuple[str, str], verify_store: Any) -> RepairReport:

    stamp = utc_now_text().replace(":", "")
    lost_cables = {u.position: u for u in before.unreadable if u.table == CABLES}
    lost_refs = {u.position: u for u in before.unreadable if u.table == REFERENCES}
    copy_path = f"{path}.recovering-{os.getpid()}"
    with h5py.File(path, "r", swmr=True) as src:
        check_schema(src, path, writing=True)
        scan = StoreScan(src, read_superblock(path))
        ext = extents(src)
        n = committed_count(src, CABLES, ext, scan)
        n_refs = committed_count(src, REFERENCES, ext, scan)
        rows, rows_ok = scan.rows(CABLES, 0, n)
        keys, keys_ok = _key_view(scan, n)
        refs, refs_ok = scan.rows(REFERENCES, 0, n_refs)
        indexes: list[int | None] = [
            int(rows["record_index"][p]) if rows_ok[p] else (int(keys["record_index"][p]) if keys_ok[p] else None)
            for p in range(n)
        ]
        next_index, indexes, estimated = _next_free(indexes, int(src.attrs.get(NEXT_RECORD_INDEX, n)))
        lost = [UnreadableRecord(u.table, p, indexes[p], u.name, u.why) for p, u in sorted(lost_cables.items())]
        ref_indexes = [int(refs["record_index"][p]) if refs_ok[p] else None for p in range(n_refs)]
        next_ref, ref_indexes, _ = _next_free(ref_indexes, int(src.attrs.get(NEXT_REFERENCE_INDEX, n_refs)))
        lost += [UnreadableRecord(u.table, p, ref_indexes[p], u.name, u.why) for p, u in sorted(lost_refs.items())]
        damaged = list(before.damaged)
        blobs = BlobReader(src)
        blobs.preload(scan)
        quarantine = _quarantine(path, src, damaged, lost, keys, keys_ok, stamp)
        kept = np.array([p for p in range(n) if p not in lost_cables], dtype=np.int64)
        kept_refs = np.array([p for p in range(n_refs) if p not in lost_refs], dtype=np.int64)
        entry = {
            "repaired_utc": utc_now_text(), "why": why, "original_kept_as": f"{path}.damaged-{stamp}",
            "quarantine": quarantine, "summary": "",
            "lost": {
                CABLES: {"record_indexes": [u.record_index for u in lost if u.table == CABLES],
                         "serials": [u.name for u in lost if u.table == CABLES],
                         "why": [u.why for u in lost if u.table == CABLES]},
                REFERENCES: {"record_indexes": [u.record_index for u in lost if u.table == REFERENCES],
                             "why": [u.why for u in lost if u.table == REFERENCES]},
            },
            "record_indexes_estimated": [i for i in estimated if i in {u.record_index for u in lost}],
            "damaged_ranges": [r.as_dict() for r in damaged],
            "blob_index_rebuilt_from_blob_bytes": blobs.index_rebuilt,
        }
        with h5py.File(copy_path, "w", libver=libver) as dst:
            create_layout(dst, src[POWER_MATRIX].dtype.str, str(src.attrs["created_utc"]),
                          str(src.attrs["created_by"]))
            kept_rows, kept_ref_rows = rows[kept], refs[kept_refs]
            ends = _kept_extents(kept_rows, kept_ref_rows)
            for name in (FIBERS, POWER_MATRIX, REFERENCE_VALUES, BLOB_BYTES):
                _copy_whole(scan, name, dst[name], ends[name])
            blob_index = blobs.index_rows()[: ends[BLOB_INDEX]]
            # A version 1 or 2 file is repaired into the current layout: its rows gain the later columns.
            for name, data in ((CABLES, current_cable_rows(kept_rows)), (CABLE_KEYS, cable_keys(kept_rows)),
                               (REFERENCES, kept_ref_rows), (BLOB_INDEX, blob_index)):
                dst[name].resize((len(data),))
                if len(data):
                    dst[name][:] = data
            # Only records the copy keeps count here: a bad one that was lost is in `lost` already.
            kept_indexes = {int(i) for i in kept_rows["record_index"]}
            kept_ref_indexes = {int(i) for i in kept_ref_rows["record_index"]}
            n_tampered_kept = (sum(index in kept_indexes for index, _, _ in before.bad)
                               + sum(index in kept_ref_indexes for index, _, _ in before.bad_references))
            report = RepairReport(path, entry["original_kept_as"], quarantine, len(kept), len(kept_refs), lost,
                                  damaged, next_index, entry["record_indexes_estimated"], n_tampered_kept)
            entry["annotations"] = _copy_annotations(src, dst, {int(i) for i in kept_rows["record_index"]})
            entry["summary"] = report.summary()
            dst.attrs[NEXT_RECORD_INDEX] = next_index
            dst.attrs[NEXT_REFERENCE_INDEX] = next_ref
            dst.attrs[REPAIR_LOG] = json.dumps([*repair_log(src), entry], sort_keys=True)
            dst.attrs["recovered_utc"] = entry["repaired_utc"]
    after = verify_store(copy_path)
    problems = [b for b in after.bad if b not in before.bad] + after.unreadable
    if problems or after.damaged or after.n_records != len(kept):
        raise StoreError(
            f"{path}: the repaired copy {copy_path} did not verify ({len(problems)} problems, "
            f"{after.n_records} of {len(kept)} records); the original is untouched, inspect both files"
        )
    os.link(path, entry["original_kept_as"])
    os.replace(copy_path, path)
    log.warning("%s repaired (%s): %s; original kept as %s%s", path, why, report.summary(),
                entry["original_kept_as"], f", unreadable parts in {quarantine}" if quarantine else "")
    return report
