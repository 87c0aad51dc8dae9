"""What a station's HDF5 store holds past the server's acknowledgement, as staging rows.

Reads only committed records (the store's own readers, SWMR), a bounded slice at a time: the
record numbers come from /cable_keys, then load_results() reads just the start-time window
that holds them, so a year-old store with a short backlog costs a short read.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.store import load_references, load_results
from bench.store.codec import REASON_CUT_MARK, canonical_json, decode_str, sha256_hex
from bench.store.damage import READ_ERRORS
from bench.store.layout import BlobReader, committed_count, open_for_read, refresh
from bench.store.schema import CABLE_KEYS, CABLES, FIBERS, REFERENCES, lost_record_indexes

CABLE_STAGE_COLUMNS = (
    "record_index", "serial", "lot", "attempt", "kind", "recipe_name", "product", "operator", "software_version",
    "started_utc", "finished_utc", "outcome", "reason", "decision_rule", "uncertainty_db", "coverage_factor",
    "reference_id", "polarity_found", "n_fibers", "n_wavelengths", "n_launch", "n_receive", "stored_utc", "sha256",
    "previous_sha256",
)  # fmt: skip
FIBER_STAGE_COLUMNS = (
    "record_index", "fiber_position", "wavelength_nm", "launch_position", "receive_channel", "reference_power_dbm",
    "dut_power_dbm", "insertion_loss_db", "limit_db", "margin_db", "verdict", "reason",
)  # fmt: skip
FIBER_STAGE_KINDS = (
    ("record_index", "int8"), ("fiber_position", "int4"), ("wavelength_nm", "float8"), ("launch_position", "int4"),
    ("receive_channel", "int4"), ("reference_power_dbm", "float8"), ("dut_power_dbm", "float8"),
    ("insertion_loss_db", "float8"), ("limit_db", "float8"), ("margin_db", "float8"), ("verdict", "text"),
    ("reason", "text"),
)  # fmt: skip
INSTRUMENT_STAGE_COLUMNS = ("record_index", "role_name", "manufacturer", "model", "serial_number", "firmware",
                            "calibration_due")
REFERENCE_STAGE_COLUMNS = ("record_index", "reference_id", "method", "taken_utc", "operator", "cord_ids",
                           "wavelengths_nm", "n_launch", "reference_power_dbm", "sha256")
ANNOTATION_STAGE_COLUMNS = ("annotation_index", "record_index", "kind", "note", "created_utc", "sha256")
# Where the store keeps annotations (SUSPECT marks): an append-only table, one row per
# (record, annotation); a row whose record_index is -1 was never finished and is skipped.
ANNOTATIONS_TABLE = "annotations/rows"
# A second of slack around the window: started_unix_s is a float copy of started_utc.
_WINDOW_SLACK_S = 1.0


@dataclass
class Backlog:
    """Staging rows of the records past an acknowledgement, in record order."""

    cables: list[tuple[Any, ...]] = field(default_factory=list)
    fibers: np.ndarray | None = None  # structured, FIBER_STAGE_COLUMNS
    instruments: list[tuple[Any, ...]] = field(default_factory=list)
    references: list[tuple[Any, ...]] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    more: bool = False  # further records wait beyond this slice

    @property
    def record_indexes(self) -> list[int]:
        return [row[0] for row in self.cables]


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def _keys_after(path: str, after: int, limit: int) -> tuple[np.ndarray, np.ndarray, bool, set[int]]:
    """(record numbers, start times) of the first `limit` records past `after`, plus the one at `after`
    (its hash is the next record's predecessor), whether more wait, and the numbers lost in repairs."""
    with open_for_read(path) as f:
        refresh(f)
        n = committed_count(f, CABLES)
        keys = f[CABLE_KEYS][:n]
        lost = lost_record_indexes(f, CABLES)
    index = keys["record_index"]
    new = np.flatnonzero(index > after)
    more = len(new) > limit
    new = new[:limit]
    previous = np.flatnonzero(index == after)
    wanted = np.concatenate([previous, new])
    return index[wanted], keys["started_unix_s"][wanted], more, lost


def cable_backlog(path: str | os.PathLike[str], after: int, limit: int) -> Backlog:
    """Staging rows of up to `limit` committed cable records numbered past `after`.

    Reads the stored rows directly (two slice reads: the records are consecutive rows, and so
    are their fiber rows); where part of the file cannot be read it falls back to
    load_results(), which skips unreadable records (`bench verify` names them).
    """
    path = os.fspath(path)
    try:
        return _stored_backlog(path, after, limit)
    except READ_ERRORS:
        return _loaded_backlog(path, after, limit)


def _cable_values(row: np.void, names: tuple[str, ...]) -> dict[str, Any]:
    return {n: decode_str(row[n]) if isinstance(row[n], bytes) else row[n].item() for n in names}


def _stored_backlog(path: str, after: int, limit: int) -> Backlog:
    with open_for_read(path) as f:
        refresh(f)
        n = committed_count(f, CABLES)
        index = f[CABLE_KEYS][:n]["record_index"]
        lost = lost_record_indexes(f, CABLES)
        first = int(np.searchsorted(index, after, side="right"))
        stop = min(n, first + limit)
        backlog = Backlog(more=stop < n, lost=sorted(i for i in lost if i > after))
        if first >= stop:
            return backlog
        rows = f[CABLES][max(0, first - 1) : stop]
        previous_sha = decode_str(rows[0]["sha256"]) if first > 0 else ""
        rows = rows[1:] if first > 0 else rows
        f0 = int(rows["fiber_row_start"][0])
        f1 = int(rows["fiber_row_start"][-1] + rows["fiber_row_count"][-1])
        backlog.fibers = f[FIBERS][f0:f1][list(FIBER_STAGE_COLUMNS)]
        blobs = BlobReader(f)
        names = tuple(n for n in CABLE_STAGE_COLUMNS if n not in ("product", "previous_sha256"))
        for row in rows:
            values = _cable_values(row, names)
            if values["reason"].endswith(REASON_CUT_MARK):
                values["reason"] = blobs.doc(int(row["reason_blob"]))
            values["product"] = _product(blobs.doc(int(row["recipe_blob"])))
            values["previous_sha256"] = previous_sha
            previous_sha = values["sha256"]
            backlog.cables.append(tuple(values[name] for name in CABLE_STAGE_COLUMNS))
            identities = blobs.doc(int(row["instruments_blob"]))
            backlog.instruments.extend(_instrument_rows(values["record_index"], identities))
    return backlog


def _product(recipe: Any) -> str:
    return str(recipe.get("product", "")) if isinstance(recipe, dict) else ""


def _loaded_backlog(path: str, after: int, limit: int) -> Backlog:
    indexes, started, more, lost = _keys_after(path, after, limit)
    backlog = Backlog(more=more, lost=sorted(i for i in lost if i > after))
    if not len(indexes) or indexes.max() <= after:
        return backlog
    res = load_results(path, since_utc=_utc(float(started.min()) - _WINDOW_SLACK_S),
                       until_utc=_utc(float(started.max()) + _WINDOW_SLACK_S))
    order = np.argsort(res.cables["record_index"], kind="stable")
    cables = res.cables[order]
    keep = np.isin(cables["record_index"], indexes)
    previous_sha = _previous_hashes(cables, keep)
    wanted = cables[keep & (cables["record_index"] > after)]
    recipes = res.documents_of_all("recipe")
    instruments = res.documents_of_all("instruments")
    for row in wanted:
        index = int(row["record_index"])
        values = {name: row[name].item() for name in res.cables.dtype.names}
        values["product"] = _product(recipes[index])
        values["previous_sha256"] = previous_sha[index]
        backlog.cables.append(tuple(values[name] for name in CABLE_STAGE_COLUMNS))
        backlog.instruments.extend(_instrument_rows(index, instruments[index]))
    backlog.fibers = res.fibers[np.isin(res.fibers["record_index"], wanted["record_index"])][
        list(FIBER_STAGE_COLUMNS)]
    return backlog


def _previous_hashes(cables: np.ndarray, keep: np.ndarray) -> dict[int, str]:
    """Each kept record's predecessor hash in the store's chain ("" for the store's first record).

    The window holds every record between the first kept one and the last, so the row before a
    kept row (by record number) is its predecessor, except for the first record of the store.
    """
    hashes: dict[int, str] = {}
    indexes = cables["record_index"].tolist()
    shas = cables["sha256"].tolist()
    for k in np.flatnonzero(keep).tolist():
        hashes[indexes[k]] = shas[k - 1] if k > 0 else ""
    return hashes


def _instrument_rows(index: int, identities: Any) -> list[tuple[Any, ...]]:
    rows = []
    for identity in identities if isinstance(identities, list) else []:
        if isinstance(identity, dict):
            rows.append((index, str(identity.get("name", identity.get("address", ""))),
                         *(str(identity.get(k, "")) for k in ("manufacturer", "model", "serial_number", "firmware",
                                                              "calibration_due"))))
    return rows


def reference_backlog(path: str | os.PathLike[str], after: int) -> list[tuple[Any, ...]]:
    """Staging rows of every committed reference numbered past `after`."""
    path = os.fspath(path)
    with open_for_read(path) as f:
        refresh(f)
        n = committed_count(f, REFERENCES)
        rows = f[REFERENCES][:n][["record_index", "sha256"]]
    if not len(rows) or int(rows["record_index"].max()) <= after:
        return []
    out = []
    for row, record in zip(rows, load_references(path), strict=True):
        index = int(row["record_index"])
        if index <= after:
            continue
        power = np.asarray(record.reference_power_dbm, dtype=np.float64)
        out.append((index, record.reference_id, record.method, record.taken_utc, record.operator,
                    list(record.cord_ids), [float(w) for w in record.wavelengths_nm], int(power.shape[-1]),
                    power.ravel().tolist(), row["sha256"].decode()))
    return out


def annotation_backlog(path: str | os.PathLike[str], after: int) -> list[tuple[Any, ...]]:
    """Staging rows of the store's annotations past number `after` (a row's number is its position).

    Each carries the sha256 of its canonical JSON, so a row changed after it was sent is
    reported by the server when it is sent again. A store without annotations has none.
    """
    with open_for_read(os.fspath(path)) as f:
        if ANNOTATIONS_TABLE not in f:
            return []
        table = f[ANNOTATIONS_TABLE]
        if f.swmr_mode:
            table.refresh()
        rows = table[after + 1 :] if after >= 0 else table[...]
    out = []
    for offset, row in enumerate(rows):
        values = {n: decode_str(row[n]) if isinstance(row[n], bytes) else row[n].item() for n in rows.dtype.names}
        if int(values.get("record_index", -1)) < 0:
            continue
        note = str(values.get("reason", ""))
        if int(values.get("check_record_index", -1)) >= 0:
            note += f" (check record {values['check_record_index']})"
        out.append((after + 1 + offset, int(values["record_index"]), str(values.get("kind", "")), note,
                    str(values.get("annotated_utc", "")) or None,
                    sha256_hex(canonical_json("annotation", values))))
    return out
