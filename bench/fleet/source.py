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
from bench.store.layout import committed_count, open_for_read, refresh
from bench.store.schema import CABLE_KEYS, CABLES, REFERENCES, lost_record_indexes

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
INSTRUMENT_STAGE_COLUMNS = ("record_index", "role_name", "manufacturer", "model", "serial_number", "firmware",
                            "calibration_due")
REFERENCE_STAGE_COLUMNS = ("record_index", "reference_id", "method", "taken_utc", "operator", "cord_ids",
                           "wavelengths_nm", "n_launch", "reference_power_dbm", "sha256")
# A second of slack around the window: started_unix_s is a float copy of started_utc.
_WINDOW_SLACK_S = 1.0


@dataclass
class Backlog:
    """Staging rows of the records past an acknowledgement, in record order."""

    cables: list[tuple[Any, ...]] = field(default_factory=list)
    fibers: list[tuple[Any, ...]] = field(default_factory=list)
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
    """Staging rows of up to `limit` committed cable records numbered past `after`."""
    path = os.fspath(path)
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
        values["product"] = str(recipes[index].get("product", "")) if isinstance(recipes[index], dict) else ""
        values["previous_sha256"] = previous_sha[index]
        backlog.cables.append(tuple(values[name] for name in CABLE_STAGE_COLUMNS))
        backlog.instruments.extend(_instrument_rows(index, instruments[index]))
    fibers = res.fibers[np.isin(res.fibers["record_index"], wanted["record_index"])]
    columns = [fibers[name].tolist() for name in FIBER_STAGE_COLUMNS]
    backlog.fibers = list(zip(*columns, strict=True))
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
