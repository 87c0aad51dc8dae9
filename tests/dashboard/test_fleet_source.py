"""The dashboard over the fleet database: the test store synced into a throw-away PostgreSQL server
(bench.fleet), read by a login role that holds only fleet_reader.

Every view equals the HDF5 source's for the same records; the pages' numbers equal SQL written
here by hand (and the fleet's own summary views); nothing can be written through the dashboard.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import numpy as np
import psycopg
import pytest

from bench.dashboard import Hdf5Source, create_app
from bench.dashboard.fleet_source import FleetSource
from bench.fleet.forwarder import sync_store
from bench.fleet.migrate import migrate
from bench.fleet.tempserver import TempServer

from .conftest import DAY1, DAY2, DAY3, HOSTILE_LOT, HOSTILE_SERIAL, TREND_PRODUCT, FilledStore, ServedApp, noon

READER, READER_PASSWORD = "dashboard_reader", "reader-only-password"


@pytest.fixture(scope="module")
def fleet(filled_store: FilledStore) -> Iterator[dict[str, Any]]:
    """(superuser conninfo, reader conninfo) of a fleet database holding the test store."""
    with TempServer() as server:
        admin = server.conninfo()
        with psycopg.connect(**admin) as conn:
            migrate(conn)
            report = sync_store(conn, filled_store.path, filled_store.station.name)
            assert report.ok and report.cables_new > 0
            conn.execute(f"CREATE ROLE {READER} LOGIN PASSWORD '{READER_PASSWORD}' IN ROLE fleet_reader")
            conn.commit()
        yield {"admin": admin, "reader": server.conninfo(user=READER, password=READER_PASSWORD)}


@pytest.fixture(scope="module")
def fleet_source(fleet: dict[str, Any]) -> FleetSource:
    return FleetSource(fleet["reader"], description="fleet database (test)")


def _plain(value: Any) -> Any:
    """A view as nested plain values, floats rounded to 1e-9 (sums may run in another order)."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(_plain(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, float):
        return "nan" if np.isnan(value) else round(value, 9)
    return value


def test_every_view_equals_the_hdf5_stores(filled_store, fleet_source):
    hdf5 = Hdf5Source(filled_store.path)
    for day in (DAY1, DAY2, DAY3, DAY3 + dt.timedelta(days=1)):
        assert _plain(fleet_source.plant_day(day)) == _plain(hdf5.plant_day(day)), day
    for lot in ("TREND", "LOT-A", "LOT-B", HOSTILE_LOT, "NO-SUCH-LOT"):
        fleet_view, hdf5_view = fleet_source.lot(lot), hdf5.lot(lot)
        if hdf5_view is None:
            assert fleet_view is None
            continue
        assert _plain(fleet_view) == _plain(hdf5_view), lot  # SUSPECT marks included
    for serial in ("MTP12-300003", "GOLD-0001", HOSTILE_SERIAL, "NO-SUCH"):
        fleet_view, hdf5_view = fleet_source.serial(serial), hdf5.serial(serial)
        if hdf5_view is not None:  # the fleet serves no certificates: compare all but that flag
            hdf5_view = dataclasses.replace(hdf5_view, attempts=tuple(
                dataclasses.replace(a, has_certificate=False) for a in hdf5_view.attempts))
        assert _plain(fleet_view) == _plain(hdf5_view), serial
    assert fleet_source.station_names() == hdf5.station_names()
    name = filled_store.station.name
    assert _plain(fleet_source.station(name)) == _plain(hdf5.station(name))
    assert fleet_source.station("NO-SUCH") is None
    assert _plain(fleet_source.products()) == _plain(hdf5.products())
    for baseline, recent in ((20, 100), (5, 10)):
        assert (_plain(fleet_source.spc_product(TREND_PRODUCT, baseline_cables=baseline, recent_cables=recent))
                == _plain(hdf5.spc_product(TREND_PRODUCT, baseline_cables=baseline, recent_cables=recent)))


def _sql_day(conn: psycopg.Connection, day: dt.date) -> tuple[int, int, int, int]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    window = ("FROM fleet.cables WHERE kind = 'insertion_loss' AND started_utc >= %(s)s "
              "AND started_utc < %(s)s + interval '1 day'")
    params = {"s": start}
    cables = conn.execute(f"SELECT count(DISTINCT serial) {window}", params).fetchone()[0]
    passed = conn.execute(f"SELECT count(*) FROM (SELECT DISTINCT ON (serial) outcome {window} "
                          "ORDER BY serial, attempt DESC) latest WHERE outcome = 'PASS'", params).fetchone()[0]
    first, first_pass = conn.execute(f"SELECT count(*), count(*) FILTER (WHERE outcome = 'PASS') {window} "
                                     "AND attempt = 1", params).fetchone()
    return cables, passed, first, first_pass


def test_pages_over_the_fleet_match_sql(page, fleet, fleet_source):
    app = create_app(fleet_source, refresh_s=3600, clock=noon(DAY3))
    with ServedApp(app) as served, psycopg.connect(**fleet["admin"]) as conn:
        for day in (DAY1, DAY3):
            page.goto(f"{served.url}/?day={day.isoformat()}")
            cables, passed, first, first_pass = _sql_day(conn, day)
            assert page.inner_text("#cables-tested") == str(cables)
            assert page.inner_text("#yield") == f"{100 * passed / cables:.1f} %"
            assert page.inner_text("#first-pass-yield") == f"{100 * first_pass / first:.1f} %"

        page.goto(f"{served.url}/lot?{urlencode({'name': 'LOT-B'})}")
        counts = dict(conn.execute(
            "SELECT outcome, count(*) FROM (SELECT DISTINCT ON (serial) outcome FROM fleet.cables "
            "WHERE lot = 'LOT-B' AND kind = 'insertion_loss' ORDER BY serial, attempt DESC) latest "
            "GROUP BY outcome").fetchall())
        shown = {r[0]: int(r[1]) for r in page.eval_on_selector_all(
            "#outcomes tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText))")}
        assert shown == {o: counts.get(o, 0) for o in ("PASS", "CONDITIONAL", "FAIL", "ERROR", "ABORTED")}
        # The fleet's own summary view (kept by its batch triggers) agrees on serials and yield.
        serials, final_passed = conn.execute("SELECT serials, final_passed FROM fleet.yield_by_lot "
                                             "WHERE lot = 'LOT-B'").fetchone()
        assert page.inner_text("#cables-total") == str(serials) and shown["PASS"] == final_passed
        assert page.locator("#cables a", has_text="PDF").count() == 0  # certificates stay at the station
        assert "fleet database (test)" in page.inner_text("footer")

        page.goto(f"{served.url}/serial?{urlencode({'serial': HOSTILE_SERIAL})}")
        assert page.inner_text("#title") == f"Serial {HOSTILE_SERIAL}"
        assert page.locator("script").count() == 0 and page.dialogs == []


def test_the_dashboards_fleet_session_cannot_write(fleet_source):
    def insert(cur: Any) -> None:
        cur.execute("CREATE TABLE fleet.scribble (x int)")

    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        fleet_source.query(insert)


def test_the_reader_role_cannot_change_a_record(fleet):
    with psycopg.connect(**fleet["reader"]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE fleet.cables SET outcome = 'PASS' WHERE outcome = 'FAIL'")
