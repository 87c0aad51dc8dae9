"""Fleet-wide questions, answered by the SQL views of bench/fleet/migrations/003_views.sql.

A stable interface (the dashboard builds on it): `VIEWS` names each view and its filterable
columns; `view_rows()` returns plain dicts (JSON-ready), `fleet_results()` returns the same
record shape as `bench.store.load_results()` (structured arrays with the same columns).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.fleet.errors import FleetError
from bench.store.reader import CABLE_COLUMNS, FIBER_COLUMNS

# view name -> columns a caller may filter on with equality (`lot="L42"`).
VIEWS: dict[str, tuple[str, ...]] = {
    "yield_by_lot": ("lot", "product"),
    "yield_by_product": ("product",),
    "yield_by_station_day": ("day", "station_name"),
    "yield_by_day": ("day",),
    "yield_by_station": ("station_name",),
    "failure_causes": (),
    "failure_causes_by_lot": ("lot", "product"),
    "il_by_position": ("lot", "product", "station_name", "wavelength_nm", "fiber_position"),
    "retests": ("lot", "product", "serial"),
    "suspect_awaiting_retest": ("lot", "product", "serial", "station_name"),
}
_ORDER = {
    "yield_by_lot": "lot, product", "yield_by_product": "product", "yield_by_station_day": "day, station_name",
    "yield_by_day": "day", "yield_by_station": "station_name", "failure_causes": "rank, cause",
    "failure_causes_by_lot": "lot, product, rank, cause",
    "il_by_position": "lot, product, station_name, wavelength_nm, fiber_position",
    "retests": "lot, serial", "suspect_awaiting_retest": "marked_utc, serial",
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def view_rows(conn: Any, view: str, limit: int | None = None, **filters: Any) -> list[dict[str, Any]]:
    """Rows of one view (filters: equality on the columns VIEWS names), as JSON-ready dicts."""
    if view not in VIEWS:
        raise FleetError(f"unknown fleet view {view!r}; known: {', '.join(VIEWS)}")
    where, params = [], []
    for name, value in filters.items():
        if value is None:
            continue
        if name not in VIEWS[view]:
            raise FleetError(f"view {view} cannot be filtered on {name!r}; it can on: "
                             f"{', '.join(VIEWS[view]) or 'nothing'}")
        where.append(f"{name} = %s")
        params.append(value)
    sql = f"SELECT * FROM fleet.{view}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {_ORDER[view]}"
    if limit is not None:
        sql += " LIMIT %s"
        params.append(int(limit))
    with conn.cursor() as cur:
        cur.execute(sql, params)
        names = [d.name for d in cur.description]
        rows = [{n: _jsonable(v) for n, v in zip(names, row, strict=True)} for row in cur.fetchall()]
    conn.commit()
    return rows


@dataclass
class FleetResults:
    """Attempts and fiber rows from the fleet database, with load_results()'s columns."""

    cables: np.ndarray
    fibers: np.ndarray
    station_ids: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.cables)


def _structured(rows: list[tuple[Any, ...]], columns: Iterable[str], kinds: dict[str, str]) -> np.ndarray:
    columns = list(columns)
    data = list(zip(*rows, strict=True)) if rows else [[] for _ in columns]
    arrays = []
    for name, values in zip(columns, data, strict=True):
        kind = kinds.get(name, "U")
        if kind == "U":
            values = ["" if v is None else _jsonable(v) if not isinstance(v, str) else v for v in values]
            arrays.append(np.array(values, dtype=str) if values else np.empty(0, dtype="U1"))
        else:
            arrays.append(np.array(values, dtype=kind))
    out = np.empty(len(rows), dtype=[(n, a.dtype) for n, a in zip(columns, arrays, strict=True)])
    for name, array in zip(columns, arrays, strict=True):
        out[name] = array
    return out


_CABLE_KINDS = {"record_index": "i8", "attempt": "i4", "uncertainty_db": "f8", "coverage_factor": "f8",
                "n_fibers": "i4", "n_wavelengths": "i4", "n_launch": "i4", "n_receive": "i4"}
_FIBER_KINDS = {"record_index": "i8", "fiber_position": "i4", "wavelength_nm": "f8", "launch_position": "i4",
                "receive_channel": "i4", "reference_power_dbm": "f8", "dut_power_dbm": "f8",
                "insertion_loss_db": "f8", "limit_db": "f8", "margin_db": "f8"}
_UTC_COLUMNS = ("started_utc", "finished_utc", "stored_utc")


def fleet_results(conn: Any, serial: str | None = None, lot: str | None = None,
                  since_utc: str | None = None, until_utc: str | None = None,
                  outcome: str | Iterable[str] | None = None, station_name: str | None = None) -> FleetResults:
    """Every attempt matching the filters, across stations, with load_results()'s columns.

    Record numbers are per station: (station_name, record_index) names an attempt.
    """
    where, params = [], []
    for column, value in (("serial", serial), ("lot", lot), ("station_name", station_name)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if since_utc is not None:
        where.append("started_utc >= %s")
        params.append(since_utc)
    if until_utc is not None:
        where.append("started_utc < %s")
        params.append(until_utc)
    if outcome is not None:
        where.append("outcome = ANY(%s)")
        params.append([outcome.upper()] if isinstance(outcome, str) else [o.upper() for o in outcome])
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    select = ", ".join(f"to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
                       if c in _UTC_COLUMNS else c for c in CABLE_COLUMNS)
    with conn.cursor() as cur:
        cur.execute(f"SELECT {select}, station_id FROM fleet.attempts{clause} "
                    "ORDER BY started_utc, station_id, record_index", params)
        rows = cur.fetchall()
        cables = _structured([r[:-1] for r in rows], CABLE_COLUMNS, _CABLE_KINDS)
        station_ids = np.array([r[-1] for r in rows], dtype=np.int64)
        cur.execute(f"SELECT {', '.join('f.' + c for c in FIBER_COLUMNS)} FROM fleet.fiber_results f "
                    f"JOIN fleet.attempts a ON a.station_id = f.station_id AND a.record_index = f.record_index"
                    f"{(' WHERE ' + _prefixed(where)) if where else ''} "
                    "ORDER BY a.started_utc, f.station_id, f.record_index, f.wavelength_nm, f.fiber_position",
                    params)
        fibers = _structured(cur.fetchall(), FIBER_COLUMNS, _FIBER_KINDS)
    conn.commit()
    return FleetResults(cables, fibers, station_ids)


def _prefixed(where: list[str]) -> str:
    return " AND ".join("a." + clause for clause in where)
