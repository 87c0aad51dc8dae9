"""The `[fleet]` table of a station file: where the fleet database is and who connects.

```toml
[fleet]
host = "db.plant.example"   # required
port = 5432
dbname = "mpo_fleet"
user = "station_line3"      # a login role granted fleet_station (docs/fleet.md)
sslmode = "prefer"          # libpq's: disable | allow | prefer | require | verify-ca | verify-full
batch_cables = 200          # records per transaction
interval_s = 5.0            # pause between sync rounds beside `bench run`/`bench line --sync`
```

The password is never in the file: libpq reads PGPASSWORD or the password file
(~/.pgpass, or PGPASSFILE). A `password` key is refused with that fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bench.config.tomlio import Fields
from bench.errors import ConfigError

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_HOST = re.compile(r"^[A-Za-z0-9._:\-/]+$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


@dataclass(frozen=True)
class FleetSettings:
    host: str
    port: int = 5432
    dbname: str = "mpo_fleet"
    user: str = "bench_station"
    sslmode: str = "prefer"
    batch_cables: int = 200
    interval_s: float = 5.0
    connect_timeout_s: int = 5

    def conninfo(self, application_name: str = "bench-sync") -> dict[str, Any]:
        """libpq connection keywords (no password: libpq finds it in PGPASSWORD or a pgpass file)."""
        return {"host": self.host, "port": self.port, "dbname": self.dbname, "user": self.user,
                "sslmode": self.sslmode, "connect_timeout": self.connect_timeout_s,
                "application_name": application_name}


def _text(fields: Fields, key: str, default: Any, pattern: re.Pattern[str], what: str) -> str:
    value = fields.get(key, str, default)
    if not pattern.match(value):
        raise ConfigError(fields.source, f"fleet.{key}", f"{value!r} is not a valid {what}",
                          f"set '{key}' to a {what} (letters, digits, '_', '-')")
    return value


def parse_fleet(table: Any, source: str) -> FleetSettings:
    """Validate a `[fleet]` table (errors name the file, the field and the fix)."""
    if isinstance(table, dict) and "password" in table:
        raise ConfigError(source, "fleet.password", "a password must never be stored in the station file",
                          "remove it; set PGPASSWORD in the forwarder's environment or put the password in "
                          "a PostgreSQL password file (~/.pgpass, mode 0600, or PGPASSFILE)")
    fields = Fields(table, source, "fleet")
    host = _text(fields, "host", ..., _HOST, "host name or address")
    port = fields.get("port", int, 5432)
    if not 1 <= port <= 65535:
        raise ConfigError(source, "fleet.port", f"{port} is not a TCP port", "use 1-65535 (PostgreSQL: 5432)")
    dbname = _text(fields, "dbname", "mpo_fleet", _NAME, "database name")
    user = _text(fields, "user", "bench_station", _NAME, "role name")
    sslmode = fields.get("sslmode", str, "prefer")
    if sslmode not in SSLMODES:
        raise ConfigError(source, "fleet.sslmode", f"unknown sslmode {sslmode!r}", f"use one of {', '.join(SSLMODES)}")
    batch = fields.get("batch_cables", int, 200)
    if not 1 <= batch <= 10_000:
        raise ConfigError(source, "fleet.batch_cables", f"{batch} is out of range", "use 1-10000 (default 200)")
    interval = fields.positive("interval_s", 5.0)
    timeout = fields.get("connect_timeout_s", int, 5)
    if not 1 <= timeout <= 300:
        raise ConfigError(source, "fleet.connect_timeout_s", f"{timeout} is out of range", "use 1-300 seconds")
    fields.finish()
    return FleetSettings(host, port, dbname, user, sslmode, batch, interval, timeout)


def fleet_settings_of(station: Any) -> FleetSettings:
    """The validated `[fleet]` table of a loaded StationConfig, or a ConfigError saying to add one."""
    if station.fleet is None:
        raise ConfigError(station.source_path, "fleet", "the station file has no [fleet] table",
                          "add [fleet] with at least host = \"...\" (docs/fleet.md)")
    return parse_fleet(station.fleet, station.source_path)
