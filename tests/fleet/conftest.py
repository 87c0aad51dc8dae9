"""A real PostgreSQL server on 127.0.0.1 for the fleet tests, one per session, a fresh database per test.

No server binaries on the machine is a failure with the fix (bench.fleet.tempserver.INSTALL_HINT),
never a silent skip: the fleet is tested or the run is red.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench.fleet.migrate import migrate
from bench.fleet.tempserver import TempServer

_numbers = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TempServer]:
    with TempServer() as server:
        yield server


@pytest.fixture()
def fleet_db(pg_server: TempServer) -> Iterator[dict[str, Any]]:
    """Connection keywords (superuser) of a new, migrated database."""
    name = f"fleet_test_{next(_numbers)}"
    info = pg_server.create_database(name)
    with psycopg.connect(**info) as conn:
        migrate(conn)
    yield info
    with psycopg.connect(**pg_server.conninfo(dbname="postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture()
def conn(fleet_db: dict[str, Any]) -> Iterator[psycopg.Connection]:
    with psycopg.connect(**fleet_db) as connection:
        yield connection


@pytest.fixture(scope="session")
def lot_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 cables tested on the virtual bench (two seeded to fail), written by the real session."""
    from bench.sim_launch import run_demo

    path = tmp_path_factory.mktemp("fleet") / "lot100.h5"
    run_demo(cables=100, failing=(3, 17), seed=5, store_path=path, stream=io.StringIO(), lot="L42")
    return path


def count(conn: psycopg.Connection, sql: str, *params: Any) -> int:
    value = conn.execute(sql, params).fetchone()[0]
    conn.commit()
    return int(value)
