"""Plain SQL migrations, applied in order, recorded in fleet.schema_migrations.

Why not Alembic: the schema is SQL (tables, plpgsql functions, views, grants) with no ORM
models to diff, so a migration tool would only wrap these files; numbered files applied in
one transaction each are the whole mechanism, readable by the plant's DBA as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from bench.fleet.errors import FleetError

_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
# Serialises two `bench fleet migrate` runs against one database.
_MIGRATION_LOCK = 7420


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Every shipped migration, in version order."""
    found = []
    for entry in resources.files("bench.fleet").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise FleetError(f"bench/fleet/migrations: versions {versions} are not 1, 2, 3, ... without gaps")
    return found


def applied_versions(conn: Any) -> list[int]:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('fleet.schema_migrations') IS NOT NULL")
        if not cur.fetchone()[0]:
            return []
        cur.execute("SELECT version FROM fleet.schema_migrations ORDER BY version")
        return [row[0] for row in cur.fetchall()]


def migrate(conn: Any) -> list[int]:
    """Apply the migrations the database lacks; returns the versions applied now.

    Each runs in its own transaction with its row in fleet.schema_migrations, so a failed one
    leaves the database at the version before it. A database newer than this software is refused.
    """
    done_now = []
    for migration in migrations():
        with conn.transaction():
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                cur.execute("CREATE SCHEMA IF NOT EXISTS fleet")
                cur.execute("CREATE TABLE IF NOT EXISTS fleet.schema_migrations (version integer PRIMARY KEY, "
                            "name text NOT NULL, applied_utc timestamptz NOT NULL DEFAULT now())")
            applied = applied_versions(conn)
            newest = migrations()[-1].version
            if applied and max(applied) > newest:
                raise FleetError(f"the fleet database is at schema version {max(applied)}, newer than this "
                                 f"software's {newest}: upgrade mpo-bench")
            if migration.version in applied:
                continue
            with conn.cursor() as cur:
                cur.execute(migration.sql)
                cur.execute("INSERT INTO fleet.schema_migrations (version, name) VALUES (%s, %s)",
                            (migration.version, migration.name))
            done_now.append(migration.version)
    return done_now
