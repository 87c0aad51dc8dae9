"""Forwarding a station's store into the fleet database: counts, repeats, views."""

from __future__ import annotations

from pathlib import Path

import psycopg

from bench.fleet.forwarder import sync_store
from bench.fleet.queries import fleet_results, view_rows
from bench.store import load_results
from tests.fleet.conftest import count


def test_sync_of_100_cables_twice_leaves_the_counts_unchanged(conn: psycopg.Connection, lot_store: Path) -> None:
    first = sync_store(conn, lot_store, "line-1", batch_cables=30)
    assert (first.cables_new, first.batches, first.references_new, first.incidents) == (100, 4, 1, [])
    counts = {t: count(conn, f"SELECT count(*) FROM fleet.{t}")
              for t in ("cables", "fibers", "reference_measurements", "cable_instruments", "sync_batches")}
    assert counts["cables"] == 100 and counts["fibers"] == 100 * 12 * 2

    again = sync_store(conn, lot_store, "line-1", batch_cables=30)
    assert (again.cables_sent, again.cables_new, again.incidents) == (0, 0, [])
    resent = sync_store(conn, lot_store, "line-1", batch_cables=30, resend_from=0)
    assert (resent.cables_sent, resent.cables_new, resent.duplicates, resent.incidents) == (100, 0, 100, [])
    after = {t: count(conn, f"SELECT count(*) FROM fleet.{t}")
             for t in ("cables", "fibers", "reference_measurements", "cable_instruments")}
    assert after == {t: counts[t] for t in after}
    [lot] = view_rows(conn, "yield_by_lot", lot="L42")
    assert (lot["serials"], lot["attempts"], lot["final_passed"]) == (100, 100, 98)


def test_fleet_results_have_the_shape_and_values_of_load_results(conn: psycopg.Connection, lot_store: Path) -> None:
    sync_store(conn, lot_store, "line-1")
    local = load_results(lot_store, lot="L42", outcome="FAIL")
    fleet = fleet_results(conn, lot="L42", outcome="FAIL")
    assert fleet.cables.dtype.names == local.cables.dtype.names
    assert fleet.fibers.dtype.names == local.fibers.dtype.names
    assert list(fleet.cables["serial"]) == list(local.cables["serial"])
    assert list(fleet.cables["sha256"]) == list(local.cables["sha256"])
    assert list(fleet.cables["started_utc"]) == list(local.cables["started_utc"])
    assert (fleet.fibers["insertion_loss_db"] == local.fibers["insertion_loss_db"]).all()


def test_views_agree_with_the_store(conn: psycopg.Connection, lot_store: Path) -> None:
    sync_store(conn, lot_store, "line-1")
    local = load_results(lot_store)
    fibers = local.fibers
    stats = view_rows(conn, "il_by_position", lot="L42", wavelength_nm=1310.0, fiber_position=5)
    assert len(stats) == 1
    il = fibers["insertion_loss_db"][(fibers["wavelength_nm"] == 1310.0) & (fibers["fiber_position"] == 5)]
    assert stats[0]["n"] == len(il) == 100
    assert abs(stats[0]["mean_il_db"] - il.mean()) < 1e-12
    assert abs(stats[0]["std_il_db"] - il.std(ddof=1)) < 1e-9
    assert stats[0]["max_il_db"] == il.max()
    causes = view_rows(conn, "failure_causes")
    assert causes[0]["rank"] == 1 and causes[0]["cause"].startswith("insertion loss over limit")
    assert sum(c["attempts"] for c in causes if c["cause"].endswith("at 1310 nm")) == 2
    [day] = view_rows(conn, "yield_by_station_day", station_name="line-1")
    assert (day["attempts"], day["passed"], day["first_attempts"]) == (100, 98, 100)
