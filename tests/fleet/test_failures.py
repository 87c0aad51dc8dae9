"""The station keeps testing without the server; a killed forwarder loses nothing; tampering is found."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import h5py
import psycopg

from bench.fleet.check import check_station
from bench.fleet.forwarder import BackgroundForwarder, send_batch, sync_store
from bench.fleet.migrate import migrate
from bench.fleet.settings import FleetSettings
from bench.fleet.source import cable_backlog
from bench.fleet.tempserver import TempServer
from bench.sim_launch import run_demo
from bench.store import load_results
from tests.fleet.conftest import count

REPO = Path(__file__).resolve().parents[2]


def _station_file(tmp_path: Path, port: int, user: str, store: Path) -> Path:
    text = (REPO / "bench/examples/station_demo.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^store_path\s*=.*$", "", text)
    text = text.replace("[station]\n", f"[station]\nstore_path = \"{store}\"\n", 1)
    path = tmp_path / "station.toml"
    path.write_text(text + f'\n[fleet]\nhost = "127.0.0.1"\nport = {port}\ndbname = "{{db}}"\nuser = "{user}"\n'
                    'interval_s = 0.05\n', encoding="utf-8")
    return path


def _station_login(conn: psycopg.Connection, name: str, password: str) -> None:
    conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}' IN ROLE fleet_station")
    conn.commit()


def test_server_down_mid_lot_the_station_keeps_testing_and_catches_up(tmp_path: Path) -> None:
    store = tmp_path / "line.h5"
    with TempServer() as server:
        with psycopg.connect(**server.conninfo()) as conn:
            migrate(conn)
        settings = FleetSettings(host="127.0.0.1", port=server.port, dbname=server.dbname, user=server.superuser,
                                 sslmode="prefer", interval_s=0.05, connect_timeout_s=2)
        forwarder = BackgroundForwarder(settings, store, "line-2",
                                        connect_fn=lambda: psycopg.connect(**server.conninfo(), connect_timeout=2))
        run_demo(cables=20, failing=(), seed=11, bench_seed=11, store_path=store, stream=io.StringIO(), lot="L1")
        assert forwarder.run_round().cables_new == 20

        server.stop()
        run_demo(cables=20, failing=(2,), seed=12, bench_seed=11, store_path=store, stream=io.StringIO(), lot="L1")
        assert forwarder.run_round() is None and forwarder.last_error  # unreachable: logged, not raised
        run_demo(cables=20, failing=(), seed=13, bench_seed=11, store_path=store, stream=io.StringIO(), lot="L2")
        assert len(load_results(store)) == 60  # the station tested on

        server.start()
        with psycopg.connect(**server.conninfo()) as fresh:
            report = forwarder.run_round()
            assert (report.cables_new, report.duplicates, report.incidents) == (40, 0, [])
            indexes = [r[0] for r in fresh.execute("SELECT record_index FROM fleet.cables ORDER BY 1")]
            assert indexes == list(range(60))  # no gap, no duplicate
            assert count(fresh, "SELECT count(*) FROM fleet.fibers") == 60 * 24
            assert count(fresh, "SELECT count(*) FROM fleet.reference_measurements") == 3
            assert count(fresh, "SELECT count(*) FROM fleet.sync_incidents") == 0
            assert check_station(fresh, store, "line-2").ok


def test_line_with_sync_tests_on_while_the_server_is_down(tmp_path: Path) -> None:
    store = tmp_path / "line.h5"
    with socket.socket() as probe:  # a port nothing listens on: the server is down
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    station = _station_file(tmp_path, port, "bench_admin", store)
    station.write_text(station.read_text().replace("{db}", "mpo_fleet"), encoding="utf-8")
    env = {**os.environ, "PGPASSWORD": "unused"}
    run = subprocess.run([sys.executable, "-m", "bench.cli", "line", "--station", str(station), "--recipe",
                          str(REPO / "bench/examples/recipe_demo.toml"), "--operator", "t", "--lot", "L9", "--sync",
                          "MTP12-000001", "MTP12-000002", "MTP12-000003"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    assert len(load_results(store)) == 3
    assert "the fleet database was not reached" in run.stderr and "bench sync" in run.stderr


def test_line_with_sync_forwards_the_lot(tmp_path: Path, pg_server: TempServer, fleet_db: dict[str, Any]) -> None:
    store = tmp_path / "line.h5"
    station = _station_file(tmp_path, pg_server.port, pg_server.superuser, store)
    station.write_text(station.read_text().replace("{db}", fleet_db["dbname"]), encoding="utf-8")
    env = {**os.environ, "PGPASSWORD": pg_server.password}
    serials = [f"MTP12-{n:06d}" for n in range(1, 6)]
    run = subprocess.run([sys.executable, "-m", "bench.cli", "line", "--station", str(station), "--recipe",
                          str(REPO / "bench/examples/recipe_demo.toml"), "--operator", "t", "--lot", "L7", "--sync",
                          *serials], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    with psycopg.connect(**fleet_db) as conn:
        assert count(conn, "SELECT count(*) FROM fleet.cables WHERE lot = 'L7'") == 5
        assert check_station(conn, store, "demo-bench-1").ok


def _wait_for(predicate: Any, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_forwarder_killed_mid_batch_rolls_back_and_resumes(tmp_path: Path, pg_server: TempServer,
                                                          fleet_db: dict[str, Any], lot_store: Path) -> None:
    store = tmp_path / "copy.h5"
    shutil.copy(lot_store, store)
    station = _station_file(tmp_path, pg_server.port, "line_3", store)
    station.write_text(station.read_text().replace("{db}", fleet_db["dbname"]).replace("demo-bench-1", "line-3"),
                       encoding="utf-8")
    with psycopg.connect(**fleet_db) as conn:
        _station_login(conn, "line_3", "s3cret")
        assert send_batch(conn, "line-3", cable_backlog(store, -1, 40))["cables"] == 40

        blocker = psycopg.connect(**fleet_db)
        blocker.execute("LOCK TABLE fleet.cables IN SHARE ROW EXCLUSIVE MODE")  # holds the next insert
        child = subprocess.Popen([sys.executable, "-m", "bench.cli", "sync", "--station", str(station),
                                  "--batch", "60"],
                                 env={**os.environ, "PGPASSWORD": "s3cret"}, cwd=tmp_path,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def waiting_on_the_lock() -> bool:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'line_3' "
                               "AND wait_event_type = 'Lock'").fetchone()
            conn.commit()
            return row[0] == 1

        _wait_for(waiting_on_the_lock, "the forwarder to stage its batch and wait on the insert")
        child.send_signal(signal.SIGKILL)
        child.wait()
        blocker.rollback()
        blocker.close()

        def forwarder_gone() -> bool:
            n = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'line_3'").fetchone()[0]
            conn.commit()
            return n == 0

        _wait_for(forwarder_gone, "the killed forwarder's session to end")
        assert count(conn, "SELECT count(*) FROM fleet.cables") == 40  # nothing of the killed batch
        assert count(conn, "SELECT count(*) FROM fleet.fibers") == 40 * 24
        assert count(conn, "SELECT count(*) FROM fleet.sync_batches") == 1
        assert count(conn, "SELECT sum(attempts) FROM fleet.daily_counts") == 40

        resumed = subprocess.run([sys.executable, "-m", "bench.cli", "sync", "--station", str(station), "--json"],
                                 env={**os.environ, "PGPASSWORD": "s3cret"}, cwd=tmp_path, capture_output=True,
                                 text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        assert '"cables_new": 60' in resumed.stdout
        indexes = [r[0] for r in conn.execute("SELECT record_index FROM fleet.cables ORDER BY 1")]
        assert indexes == list(range(100))
        assert count(conn, "SELECT sum(attempts) FROM fleet.daily_counts") == 100
        assert count(conn, "SELECT serials FROM fleet.yield_by_lot WHERE lot = 'L42'") == 100


def test_record_changed_on_the_server_is_found(conn: psycopg.Connection, lot_store: Path) -> None:
    sync_store(conn, lot_store, "line-1")
    assert check_station(conn, lot_store, "line-1").ok
    conn.execute("UPDATE fleet.fibers SET insertion_loss_db = 0.123 WHERE record_index = 7 AND fiber_position = 3 "
                 "AND wavelength_nm = 1550")
    conn.execute("UPDATE fleet.cables SET outcome = 'ERROR' WHERE record_index = 16")
    conn.commit()
    report = check_station(conn, lot_store, "line-1")
    assert not report.ok
    assert {(d["record_index"], tuple(d["fields"])) for d in report.differing} == {
        (7, ("fibers.insertion_loss_db",)), (16, ("outcome",))}

    conn.execute("UPDATE fleet.cables SET sha256 = repeat('0', 64) WHERE record_index = 30")
    conn.commit()
    resent = sync_store(conn, lot_store, "line-1", resend_from=0)
    assert [(i["kind"], i["record_index"]) for i in resent.incidents] == [("changed_record", 30)]
    assert count(conn, "SELECT count(*) FROM fleet.sync_incidents WHERE kind = 'changed_record'") == 1
    assert count(conn, "SELECT count(*) FROM fleet.cables") == 100  # nothing overwritten or added


def _edit_fiber_il(path: Path, record_index: int, new_il_db: float) -> None:
    with h5py.File(path, "r+") as f:
        cables = f["cables"]
        row = cables[record_index]
        start = int(row["fiber_row_start"])
        fiber = f["fibers"][start]
        fiber["insertion_loss_db"] = new_il_db
        f["fibers"][start] = fiber


def test_record_changed_in_the_station_file_is_found(conn: psycopg.Connection, lot_store: Path,
                                                     tmp_path: Path) -> None:
    store = tmp_path / "copy.h5"
    shutil.copy(lot_store, store)
    sync_store(conn, store, "line-1")
    _edit_fiber_il(store, 12, 0.01)
    report = check_station(conn, store, "line-1")
    assert [t["record_index"] for t in report.store_tampered] == [12]
    assert [d["record_index"] for d in report.differing] == [12]


def test_record_rewritten_with_its_hash_in_the_file_breaks_the_chain_on_the_server(
        conn: psycopg.Connection, lot_store: Path, tmp_path: Path) -> None:
    store = tmp_path / "copy.h5"
    shutil.copy(lot_store, store)
    send_batch(conn, "line-1", cable_backlog(store, -1, 50))
    with h5py.File(store, "r+") as f:  # record 49 replaced after it was sent, its own hash recomputed
        row = f["cables"][49]
        row["sha256"] = b"f" * 64
        f["cables"][49] = row
    report = sync_store(conn, store, "line-1")
    assert report.cables_new == 50
    assert [(i["kind"], i["record_index"]) for i in report.incidents] == [("broken_chain", 49)]
