"""`bench fleet check`: does the server still hold what the station's file holds, and is the file intact?

Two witnesses, each checking the other: the station's HDF5 store proves itself with its record
hashes (verify_store), and every server row of the station is compared, value by value, with the
record of the same number in the store. An edit on the server (a DBA's UPDATE) shows as a
differing value; an edit in the file shows as a hash mismatch (and, once the record was sent, as
a differing value too); a record on one side only is listed.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.fleet.queries import fleet_results
from bench.store import load_results, verify_store


@dataclass
class CheckReport:
    station_name: str
    store_path: str
    n_store: int = 0
    n_server: int = 0
    store_tampered: list[dict[str, Any]] = field(default_factory=list)  # the file's own hash check
    differing: list[dict[str, Any]] = field(default_factory=list)  # server value != store value
    only_on_server: list[int] = field(default_factory=list)
    not_yet_sent: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.store_tampered or self.differing or self.only_on_server)

    def as_dict(self) -> dict[str, Any]:
        return {"station_name": self.station_name, "store": self.store_path, "ok": self.ok,
                "n_store": self.n_store, "n_server": self.n_server, "store_tampered": self.store_tampered,
                "differing": self.differing, "only_on_server": self.only_on_server,
                "not_yet_sent": len(self.not_yet_sent)}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float | np.floating) and isinstance(b, float | np.floating):
        return bool(a == b or (np.isnan(a) and np.isnan(b)))
    return bool(a == b)


def _instant(text: str) -> dt.datetime | str:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text


def _differences(local: np.void, remote: np.void, names: tuple[str, ...]) -> list[str]:
    """Columns whose values differ (times compared as instants: the store keeps them as written)."""
    differing = []
    for name in names:
        a, b = local[name].item(), remote[name].item()
        if name.endswith("_utc"):
            a, b = _instant(a), _instant(b)
        if not _same(a, b):
            differing.append(name)
    return differing


def _fibers_by_record(fibers: np.ndarray) -> dict[int, np.ndarray]:
    if not len(fibers):
        return {}
    order = np.lexsort((fibers["fiber_position"], fibers["wavelength_nm"], fibers["record_index"]))
    fibers = fibers[order]
    cuts = np.flatnonzero(np.diff(fibers["record_index"])) + 1
    return {int(group["record_index"][0]): group for group in np.split(fibers, cuts)}


def check_station(conn: Any, store_path: str | os.PathLike[str], station_name: str) -> CheckReport:
    """Compare the server's rows of one station with its store, and verify the store's hashes."""
    path = os.fspath(store_path)
    report = CheckReport(station_name, path)
    verified = verify_store(path)
    report.store_tampered = [{"record_index": i, "serial": s, "why": w} for i, s, w in verified.bad]
    local = load_results(path)
    remote = fleet_results(conn, station_name=station_name)
    report.n_store, report.n_server = len(local.cables), len(remote.cables)
    local_rows = {int(r["record_index"]): r for r in local.cables}
    remote_rows = {int(r["record_index"]): r for r in remote.cables}
    local_fibers, remote_fibers = _fibers_by_record(local.fibers), _fibers_by_record(remote.fibers)
    cable_names = tuple(n for n in local.cables.dtype.names if n != "station_name")
    fiber_names = local.fibers.dtype.names
    for index in sorted(remote_rows):
        if index not in local_rows:
            report.only_on_server.append(index)
            continue
        fields = _differences(local_rows[index], remote_rows[index], cable_names)
        mine, theirs = local_fibers.get(index), remote_fibers.get(index)
        if mine is None or theirs is None or len(mine) != len(theirs):
            fields.append("fibers (row count)")
        else:
            fields += sorted({f"fibers.{name}" for a, b in zip(mine, theirs, strict=True)
                              for name in _differences(a, b, fiber_names)})
        if fields:
            report.differing.append({"record_index": index, "serial": str(local_rows[index]["serial"]),
                                     "fields": fields})
    report.not_yet_sent = sorted(set(local_rows) - set(remote_rows))
    return report
