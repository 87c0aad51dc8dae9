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

import dataclasses
import re
from typing import Any, Literal

from pydantic import Field

from bench.config.schema import Name, count, quantity, section, validate
from bench.errors import ConfigError

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_HOST = re.compile(r"^[A-Za-z0-9._:\-/]+$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


@section
class FleetSettings:
    """The `[fleet]` table (bench.config.schema: strict types, ranges, unknown keys refused)."""

    host: Name = Field(description="the fleet database's host name or address")
    port: int = count(1, 65535, "PostgreSQL's TCP port", default=5432)
    dbname: Name = "mpo_fleet"
    user: Name = Field("bench_station", description="a login role granted fleet_station (docs/fleet.md)")
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    batch_cables: int = count(1, 10_000, "records per transaction", default=200)
    interval_s: float = quantity(0, 86_400, "pause between sync rounds", default=5.0, exclusive_minimum=True)
    connect_timeout_s: int = count(1, 300, "seconds to wait for a connection", default=5)

    def conninfo(self, application_name: str = "bench-sync") -> dict[str, Any]:
        """libpq connection keywords (no password: libpq finds it in PGPASSWORD or a pgpass file)."""
        return {"host": self.host, "port": self.port, "dbname": self.dbname, "user": self.user,
                "sslmode": self.sslmode, "connect_timeout": self.connect_timeout_s,
                "application_name": application_name}


def _check_text(source: str, key: str, value: str, pattern: re.Pattern[str], what: str) -> None:
    if not pattern.match(value):
        raise ConfigError(source, f"fleet.{key}", f"{value!r} is not a valid {what}",
                          f"set '{key}' to a {what} (letters, digits, '_', '-')")


def parse_fleet(table: Any, source: str) -> FleetSettings:
    """Validate a `[fleet]` table (errors name the file, the field and the fix)."""
    if isinstance(table, dict) and "password" in table:
        raise ConfigError(source, "fleet.password", "a password must never be stored in the station file",
                          "remove it; set PGPASSWORD in the forwarder's environment or put the password in "
                          "a PostgreSQL password file (~/.pgpass, mode 0600, or PGPASSFILE)")
    if isinstance(table, dict):
        known = [f.name for f in dataclasses.fields(FleetSettings)]
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise ConfigError(source, f"fleet.{unknown[0]}", "unknown key",
                              f"remove it or correct the spelling; known keys here: {', '.join(known)}")
    if isinstance(table, dict) and "port" in table and isinstance(table["port"], int) \
            and not isinstance(table["port"], bool) and not 1 <= table["port"] <= 65535:
        raise ConfigError(source, "fleet.port", f"{table['port']} is not a TCP port", "use 1-65535 (PostgreSQL: 5432)")
    settings: FleetSettings = validate(FleetSettings, table, source, "fleet")
    _check_text(source, "host", settings.host, _HOST, "host name or address")
    _check_text(source, "dbname", settings.dbname, _NAME, "database name")
    _check_text(source, "user", settings.user, _NAME, "role name")
    return settings


def fleet_settings_of(station: Any) -> FleetSettings:
    """The validated `[fleet]` table of a loaded StationConfig, or a ConfigError saying to add one."""
    if station.fleet is None:
        raise ConfigError(station.source_path, "fleet", "the station file has no [fleet] table",
                          "add [fleet] with at least host = \"...\" (docs/fleet.md)")
    return parse_fleet(station.fleet, station.source_path)
