"""The [fleet] table, the station and reader roles, SUSPECT records and migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.config.station import load_station
from bench.errors import ConfigError
from bench.fleet.errors import FleetError
from bench.fleet.forwarder import connect, sync_store
from bench.fleet.migrate import applied_versions, migrate, migrations
from bench.fleet.queries import view_rows
from bench.fleet.settings import FleetSettings, fleet_settings_of, parse_fleet
from bench.fleet.tempserver import TempServer
from tests.fleet.conftest import count

REPO = Path(__file__).resolve().parents[2]


def _station(tmp_path: Path, fleet_table: str) -> Path:
    path = tmp_path / "st.toml"
    path.write_text((REPO / "bench/examples/station_demo.toml").read_text(encoding="utf-8") + fleet_table,
                    encoding="utf-8")
    return path


def test_fleet_table_is_read_with_defaults(tmp_path: Path) -> None:
    station = load_station(_station(tmp_path, '\n[fleet]\nhost = "192.0.2.10"\nuser = "station_line3"\n'))
    settings = fleet_settings_of(station)
    assert settings == FleetSettings(host="192.0.2.10", user="station_line3")
    assert settings.sslmode == "prefer"
    assert "password" not in settings.conninfo()


@pytest.mark.parametrize(("table", "field", "fix"), [
    ('host = "192.0.2.10"\npassword = "x"', "fleet.password", "PGPASSWORD"),
    ('host = "192.0.2.10"\nsslmode = "on"', "fleet.sslmode", "verify-full"),
    ('host = "192.0.2.10"\nport = 70000', "fleet.port", "5432"),
    ('host = "192.0.2.10"\nbatch_size = 5', "fleet.batch_size", "batch_cables"),
    ('user = "x"', "fleet.host", "host ="),
])
def test_bad_fleet_table_names_file_field_and_fix(tmp_path: Path, table: str, field: str, fix: str) -> None:
    path = _station(tmp_path, f"\n[fleet]\n{table}\n")
    with pytest.raises(ConfigError) as error:
        fleet_settings_of(load_station(path))
    assert error.value.field == field and str(path) in str(error.value) and fix in error.value.fix


def test_station_without_fleet_table_is_told_to_add_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[fleet\]"):
        fleet_settings_of(load_station(REPO / "bench/examples/station_demo.toml"))
    with pytest.raises(ConfigError):
        parse_fleet(["not", "a", "table"], "<x>")


def _login(conn: psycopg.Connection, role: str, group: str) -> None:
    conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}' IN ROLE {group}")
    conn.commit()


def test_station_role_inserts_and_reads_only(conn: psycopg.Connection, fleet_db: dict[str, Any], lot_store: Path,
                                             pg_server: TempServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _login(conn, "station_a", "fleet_station")
    monkeypatch.setenv("PGPASSWORD", "pw-station_a")  # libpq reads it: the settings carry no password
    settings = FleetSettings(host="127.0.0.1", port=pg_server.port, dbname=fleet_db["dbname"], user="station_a")
    with connect(settings) as station:
        assert sync_store(station, lot_store, "line-a").cables_new == 100
        assert view_rows(station, "yield_by_lot", lot="L42")[0]["serials"] == 100
        for statement in ("UPDATE fleet.cables SET outcome = 'PASS'", "DELETE FROM fleet.fibers",
                          "TRUNCATE fleet.cables", "UPDATE fleet.lot_counts SET serials = 0"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                station.execute(statement)
            station.rollback()
        with pytest.raises(psycopg.errors.UniqueViolation):  # a batch's summaries cannot be counted twice
            station.execute("SELECT fleet.apply_summaries(1)")
        station.rollback()
    assert count(conn, "SELECT count(*) FROM fleet.cables WHERE outcome = 'FAIL'") == 2


def test_reader_role_reads_the_views_and_writes_nothing(conn: psycopg.Connection, fleet_db: dict[str, Any],
                                                        lot_store: Path, pg_server: TempServer) -> None:
    sync_store(conn, lot_store, "line-1")
    _login(conn, "dash", "fleet_reader")
    with psycopg.connect(**pg_server.conninfo(user="dash", password="pw-dash", dbname=fleet_db["dbname"])) as reader:
        assert view_rows(reader, "yield_by_station", station_name="line-1")[0]["attempts"] == 100
        for statement in ("INSERT INTO fleet.stations (station_name) VALUES ('x')",
                          "SELECT fleet.accept_batch('x', 'y')", "DELETE FROM fleet.annotations"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(statement)
            reader.rollback()


def test_wrong_password_is_a_fleet_error_naming_the_server(pg_server: TempServer) -> None:
    settings = FleetSettings(host="127.0.0.1", port=pg_server.port, dbname="postgres", user="nobody_here")
    with pytest.raises(FleetError, match=rf"nobody_here@127.0.0.1:{pg_server.port}/postgres"):
        connect(settings)


def _mark_suspect(path: Path, record_index: int, reason: str) -> None:
    """A SUSPECT row as the store keeps annotations (/annotations/rows, append-only)."""
    import h5py
    import numpy as np

    dtype = np.dtype([("record_index", "<i8"), ("kind", h5py.string_dtype("utf-8", 16)),
                      ("reason", h5py.string_dtype("utf-8", 256)), ("check_record_index", "<i8"),
                      ("annotated_utc", h5py.string_dtype("utf-8", 40))])
    with h5py.File(path, "r+") as f:
        table = f.require_group("annotations").require_dataset("rows", shape=(0,), maxshape=(None,), dtype=dtype,
                                                               chunks=(256,), exact=False)
        row = np.zeros(1, dtype=dtype)
        row[0] = (record_index, b"SUSPECT", reason.encode(), 99, b"2026-12-02T10:00:00Z")
        table.resize((table.shape[0] + 1,))
        table[-1:] = row


def test_suspect_records_are_forwarded_and_wait_for_a_retest(conn: psycopg.Connection, lot_store: Path,
                                                             tmp_path: Path) -> None:
    import io
    import shutil

    from bench.sim_launch import run_demo

    store = tmp_path / "copy.h5"
    shutil.copy(lot_store, store)
    sync_store(conn, store, "line-1")
    _mark_suspect(store, 9, "golden check failed")
    report = sync_store(conn, store, "line-1")
    assert (report.cables_new, report.annotations_new, report.incidents) == (0, 1, [])
    [suspect] = view_rows(conn, "suspect_awaiting_retest")
    assert (suspect["serial"], suspect["record_index"], suspect["note"]) == (
        "MTP12-000010", 9, "golden check failed (check record 99)")
    assert sync_store(conn, store, "line-1").annotations_new == 0  # a repeat adds nothing

    run_demo(cables=10, failing=(), seed=5, store_path=store, stream=io.StringIO(), lot="L42")  # retests 1..10
    report = sync_store(conn, store, "line-1")
    assert report.cables_new == 10 and report.incidents == []
    assert view_rows(conn, "suspect_awaiting_retest") == []
    retests = view_rows(conn, "retests", lot="L42")
    assert len(retests) == 10 and {r["attempts"] for r in retests} == {2}
    [lot] = view_rows(conn, "yield_by_lot", lot="L42")
    assert (lot["serials"], lot["attempts"], lot["retested"]) == (100, 110, 10)


def test_migrations_are_ordered_and_recorded(pg_server: TempServer) -> None:
    versions = [m.version for m in migrations()]
    assert versions == list(range(1, len(versions) + 1))
    with psycopg.connect(**pg_server.conninfo()) as conn:  # the session's plain database
        assert migrate(conn) in (versions, [])
        assert applied_versions(conn) == versions
        assert migrate(conn) == []
        conn.execute("INSERT INTO fleet.schema_migrations (version, name) VALUES (999, 'from_the_future')")
        conn.commit()
        with pytest.raises(FleetError, match="upgrade mpo-bench"):
            migrate(conn)
        conn.rollback()
        conn.execute("DELETE FROM fleet.schema_migrations WHERE version = 999")
        conn.commit()
