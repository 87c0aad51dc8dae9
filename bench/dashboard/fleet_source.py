"""The dashboard's data from the fleet database (bench.fleet): every station of the plant.

Queries go through the fleet's views (`fleet.attempts`, `fleet.fiber_results`; docs/fleet.md),
each bounded by an index (day, lot, serial, station, the product's first and latest cables), so a
page reads a day, a lot or a window, never the year. The rows become the same views as the HDF5
store's (`bench.dashboard.views`). Every session is read-only on the server's side
(default_transaction_read_only), and the dashboard should log in as a role granted only
`fleet_reader`. Power matrices are not in the fleet, so certificates stay with the stations.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.dashboard import views
from bench.dashboard.source import (
    GOLDEN_KIND,
    IL_KIND,
    VERDICT_OUTCOMES,
    InstrumentRow,
    LotView,
    PlantDay,
    ProductRow,
    SerialView,
    SpcProduct,
    StationView,
)
from bench.errors import BenchError

_UTC = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
_KEY = "((a.station_id::bigint << 40) | a.record_index)"
_CABLE_SELECT = (f"SELECT {_KEY} AS key, a.record_index, a.serial, a.lot, a.attempt, a.kind, a.recipe_name, "
                 f"a.station_name, a.operator, {_UTC.format('a.started_utc')} AS started_utc, a.outcome, a.reason, "
                 "a.reference_id, a.polarity_found, a.n_fibers FROM fleet.attempts a")
_FIBER_SELECT = ("SELECT ((f.station_id::bigint << 40) | f.record_index) AS key, f.fiber_position, f.wavelength_nm, "
                 "f.launch_position, f.receive_channel, f.insertion_loss_db, f.limit_db, f.margin_db, f.verdict, "
                 "f.reason FROM fleet.fiber_results f")
_NUMERIC = {"key": "i8", "record_index": "i8", "attempt": "i8", "n_fibers": "i8", "fiber_position": "i8",
            "launch_position": "i8", "receive_channel": "i8", "wavelength_nm": "f8", "insertion_loss_db": "f8",
            "limit_db": "f8", "margin_db": "f8", "cable_number": "i8"}
_VERDICT_CLAUSE = "a.kind = %s AND a.outcome = ANY(%s)"


def _array(names: Sequence[str], rows: list[tuple[Any, ...]]) -> np.ndarray:
    """Rows as a structured array: numbers as int64/float64, everything else as unicode."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = [np.array(col, dtype=_NUMERIC[name]) if name in _NUMERIC else np.array([str(v) for v in col], dtype=str)
              for name, col in zip(names, columns, strict=True)]
    arrays = [a if a.dtype.kind != "U" or len(a) else a.astype("U1") for a in arrays]
    out = np.empty(len(rows), dtype=[(n, a.dtype) for n, a in zip(names, arrays, strict=True)])
    for name, array in zip(names, arrays, strict=True):
        out[name] = array
    return out


class FleetSource:
    """`DashboardSource` over a fleet database; `conninfo` are psycopg.connect keywords (or a libpq string)."""

    serves_certificates = False

    def __init__(self, conninfo: dict[str, Any] | str, *, description: str | None = None) -> None:
        import psycopg

        self._psycopg = psycopg
        self._conninfo = ({"conninfo": conninfo} if isinstance(conninfo, str) else dict(conninfo))
        self._local = threading.local()
        self.description = description or "fleet database"
        self.query(lambda cur: cur.execute("SELECT 1 FROM fleet.attempts LIMIT 1"))  # refuse a wrong database now

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            try:
                conn = self._psycopg.connect(**self._conninfo, options="-c default_transaction_read_only=on",
                                             application_name="bench-dashboard")
            except self._psycopg.OperationalError as error:
                raise BenchError(f"cannot reach the fleet database: {str(error).strip()}") from None
            self._local.conn = conn
        return conn

    def query(self, work: Any) -> Any:
        """Run `work(cursor)` in one read-only transaction of this thread's connection."""
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                return work(cur)
        finally:
            conn.rollback()  # nothing to keep: every transaction only reads

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> np.ndarray:
        def work(cur: Any) -> np.ndarray:
            cur.execute(sql, params)
            return _array([d.name for d in cur.description], cur.fetchall())
        return self.query(work)

    def plant_day(self, day: dt.date) -> PlantDay:
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        cables = self._rows(f"{_CABLE_SELECT} WHERE a.started_utc >= %s AND a.started_utc < %s",
                            (start, start + dt.timedelta(days=1)))
        return views.plant_day(day, cables)

    def lot(self, lot: str) -> LotView | None:
        cables = self._rows(f"{_CABLE_SELECT} WHERE a.lot = %s", (lot,))
        fibers = self._rows(f"{_FIBER_SELECT} WHERE f.lot = %s", (lot,))
        view = views.lot_view(lot, cables, fibers)
        if view is None:
            return None
        suspect = self.query(lambda cur: cur.execute(
            "SELECT c.serial, c.attempt, n.note FROM fleet.annotations n JOIN fleet.cables c "
            "USING (station_id, record_index) WHERE c.lot = %s AND upper(n.kind) = 'SUSPECT' "
            "ORDER BY n.created_utc, c.serial", (lot,)).fetchall())
        return dataclasses.replace(view, suspect=tuple((str(s), int(a), str(n)) for s, a, n in suspect))

    def serial(self, serial: str) -> SerialView | None:
        cables = self._rows(f"{_CABLE_SELECT} WHERE a.serial = %s", (serial,))
        fibers = self._rows(f"{_FIBER_SELECT} WHERE f.serial = %s", (serial,))
        return views.serial_view(serial, cables, fibers, certificates=False)

    def certificate_pdf(self, serial: str, attempt: int) -> bytes | None:
        return None

    def station_names(self) -> tuple[str, ...]:
        rows = self.query(lambda cur: cur.execute("SELECT station_name FROM fleet.stations ORDER BY 1").fetchall())
        return tuple(str(r[0]) for r in rows)

    def station(self, station_name: str) -> StationView | None:
        found = self.query(lambda cur: cur.execute("SELECT station_id FROM fleet.stations WHERE station_name = %s",
                                                   (station_name,)).fetchone())
        if found is None:
            return None
        station_id = int(found[0])
        references = self.query(lambda cur: cur.execute(
            f"SELECT reference_id, method, {_UTC.format('taken_utc')}, operator, cord_ids "
            "FROM fleet.reference_measurements WHERE station_id = %s ORDER BY record_index", (station_id,)).fetchall())
        per_reference = dict(self.query(lambda cur: cur.execute(
            "SELECT reference_id, count(*) FROM fleet.cables WHERE station_id = %s AND kind = %s "
            "GROUP BY reference_id", (station_id, IL_KIND)).fetchall()))
        golden = self._rows(f"{_CABLE_SELECT} WHERE a.station_id = %s AND a.kind = %s", (station_id, GOLDEN_KIND))
        golden_fibers = self._fibers_of(golden)
        return views.station_view(station_name, [(str(r), str(m), str(t), str(o), tuple(c or ()))
                                                 for r, m, t, o, c in references],
                                  per_reference, golden, golden_fibers, self._instruments(station_id))

    def _instruments(self, station_id: int) -> tuple[InstrumentRow, ...]:
        rows = self.query(lambda cur: cur.execute(
            "SELECT ci.role_name, i.manufacturer, i.model, i.serial_number, i.calibration_due "
            "FROM fleet.cable_instruments ci JOIN fleet.instruments i USING (instrument_id) "
            "WHERE (ci.station_id, ci.record_index) = (SELECT station_id, record_index FROM fleet.cables "
            "WHERE station_id = %s ORDER BY started_utc DESC, record_index DESC LIMIT 1)", (station_id,)).fetchall())
        return tuple(InstrumentRow(*(str(v) for v in row)) for row in rows)

    def products(self) -> tuple[ProductRow, ...]:
        rows = self.query(lambda cur: cur.execute(
            "SELECT recipe_name, count(*) FROM fleet.cables a WHERE " + _VERDICT_CLAUSE +
            " GROUP BY recipe_name ORDER BY recipe_name", (IL_KIND, list(VERDICT_OUTCOMES))).fetchall())
        return tuple(ProductRow(str(name), int(n)) for name, n in rows)

    def spc_product(self, recipe_name: str, *, baseline_cables: int, recent_cables: int) -> SpcProduct | None:
        where = f"a.recipe_name = %s AND {_VERDICT_CLAUSE}"
        params = (recipe_name, IL_KIND, list(VERDICT_OUTCOMES))
        total = int(self.query(lambda cur: cur.execute(f"SELECT count(*) FROM fleet.cables a WHERE {where}",
                                                       params).fetchone()[0]))
        if total == 0:
            return None
        first = self._window(where, params, "ASC", baseline_cables)
        last = self._window(where, params, "DESC", recent_cables)
        baseline = views.spc_rows(first, np.arange(len(first)), self._fibers_of(first))
        recent = views.spc_rows(last, total - 1 - np.arange(len(last)), self._fibers_of(last))
        return views.spc_product(recipe_name, total, min(baseline_cables, total), baseline, recent)

    def _window(self, where: str, params: Sequence[Any], way: str, limit: int) -> np.ndarray:
        """The product's first (ASC) or latest (DESC) `limit` cables, in that order."""
        return self._rows(f"SELECT {_KEY} AS key, a.serial, {_UTC.format('a.started_utc')} AS started_utc "
                          f"FROM fleet.cables a WHERE {where} "
                          f"ORDER BY a.started_utc {way}, a.station_id {way}, a.record_index {way} LIMIT %s",
                          (*params, limit))

    def _fibers_of(self, cables: np.ndarray) -> np.ndarray:
        keys = cables["key"].astype(np.int64)
        return self._rows(f"{_FIBER_SELECT} JOIN unnest(%s::int[], %s::bigint[]) AS k(station_id, record_index) "
                          "USING (station_id, record_index)",
                          ((keys >> 40).tolist(), (keys & ((1 << 40) - 1)).tolist()))
