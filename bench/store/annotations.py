"""Annotations: later knowledge about committed records (SUSPECT after a failed golden check).

Committed cable rows are never rewritten (docs/hdf5-schema.md). What is learnt about a record
after it was stored goes into its own append-only table, `/annotations/rows`, one row per
(record, annotation): the record index it concerns, the kind (`SUSPECT`), the reason, the
record index of the check that found it out, and when. Rows are only ever appended; a row whose
`record_index` is still the fill value -1 is one a killed writer did not finish, and readers skip it.

The group is created when a writer opens a file without it, before SWMR starts (SWMR forbids
new objects later): that is the whole migration for files written before annotations existed,
and a reader treats a file without the group as one with no annotations.
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np

GROUP = "annotations"
ROWS = "rows"
SUSPECT = "SUSPECT"

ANNOTATION_DTYPE = np.dtype([
    ("record_index", "<i8"),
    ("kind", h5py.string_dtype("utf-8", 16)),
    ("reason", h5py.string_dtype("utf-8", 256)),
    ("check_record_index", "<i8"),  # the golden check (or other record) the annotation rests on; -1 none
    ("annotated_utc", h5py.string_dtype("utf-8", 40)),
])


@dataclass(frozen=True)
class Annotation:
    record_index: int
    kind: str
    reason: str
    check_record_index: int
    annotated_utc: str

    def as_dict(self) -> dict[str, object]:
        return {"record_index": self.record_index, "kind": self.kind, "reason": self.reason,
                "check_record_index": self.check_record_index, "annotated_utc": self.annotated_utc}


def ensure_group(f: h5py.File) -> None:
    """Create the empty annotations table if the file has none (must run before SWMR is on)."""
    if GROUP in f:
        return
    group = f.create_group(GROUP)
    fill = np.zeros((), dtype=ANNOTATION_DTYPE)
    fill["record_index"] = -1
    fill["check_record_index"] = -1
    group.create_dataset(ROWS, shape=(0,), maxshape=(None,), dtype=ANNOTATION_DTYPE, chunks=(256,),
                         fillvalue=fill)


def _clip(text: str, limit_bytes: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit_bytes:
        return text
    return data[: limit_bytes - 3].decode("utf-8", errors="ignore") + "…"


def append_annotations(f: h5py.File, record_indexes: list[int], *, kind: str, reason: str,
                       check_record_index: int, annotated_utc: str) -> int:
    """Append one row per record index and flush; returns the number of rows written."""
    if not record_indexes:
        return 0
    dataset = f[GROUP][ROWS]
    rows = np.zeros(len(record_indexes), dtype=ANNOTATION_DTYPE)
    rows["record_index"] = record_indexes
    rows["kind"] = kind.encode("utf-8")
    rows["reason"] = _clip(reason, 256).encode("utf-8")
    rows["check_record_index"] = check_record_index
    rows["annotated_utc"] = annotated_utc.encode("utf-8")
    start = dataset.shape[0]
    dataset.resize((start + len(rows),))
    dataset[start:] = rows
    f.flush()
    return len(rows)


def read_annotations(f: h5py.File) -> list[Annotation]:
    """Every finished annotation row in the file, in the order they were appended."""
    if GROUP not in f or ROWS not in f[GROUP]:
        return []
    dataset = f[GROUP][ROWS]
    if f.swmr_mode:
        dataset.refresh()  # a reader beside a live writer sees the rows appended since it opened
    rows = dataset[...]
    found = []
    for row in rows[rows["record_index"] >= 0]:
        found.append(Annotation(int(row["record_index"]), _text(row["kind"]), _text(row["reason"]),
                                int(row["check_record_index"]), _text(row["annotated_utc"])))
    return found


def _text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def suspect_by_record(annotations: list[Annotation]) -> dict[int, str]:
    """record index → the reason of its first SUSPECT annotation."""
    found: dict[int, str] = {}
    for annotation in annotations:
        if annotation.kind == SUSPECT:
            found.setdefault(annotation.record_index, annotation.reason)
    return found
