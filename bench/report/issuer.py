"""Who issues a certificate and who approves it: the station file's optional `[certificate]` table.

```toml
[certificate]
issuer = "Example Optics Ltd., Test Laboratory"     # printed under the title
address = ["1 Fiber Way", "Example City"]           # one string or a list of lines
contact = "qa@example.invalid"
approved_by = "J. Smith"                            # name printed in the approval block
approver_title = "Quality Manager"
standard = "IEC 61280-4-5:2020 / TIA-526-28"        # overrides the default standard line
statement = "Results relate only to the item tested."
```

Every field is optional; without the table the certificate says "issuer not configured" where
the name would go, so a missing issuer is visible on paper rather than silently blank. The
table is checked when a line opens (before any instrument) and when `bench certificate
--station` reads it, with the file, the field and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.config.station import StationConfig
from bench.config.tomlio import Fields
from bench.errors import ConfigError

MAX_FIELD_CHARS = 120
MAX_ADDRESS_LINES = 4
TEXT_FIELDS = ("issuer", "contact", "approved_by", "approver_title", "standard", "statement")


@dataclass(frozen=True)
class CertificateIssuer:
    """The issuing organisation and the approval block of a certificate (empty: not configured)."""

    issuer: str = ""
    address: tuple[str, ...] = ()
    contact: str = ""
    approved_by: str = ""
    approver_title: str = ""
    standard: str = ""
    statement: str = ""


def _text(fields: Fields, key: str, source: str) -> str:
    value = fields.get(key, str, "")
    if len(value) > MAX_FIELD_CHARS or not value.isprintable():
        raise ConfigError(source, f"certificate.{key}", f"must be printable text of at most {MAX_FIELD_CHARS} "
                          "characters", "shorten it and remove tabs or line breaks")
    return value.strip()


def _address(fields: Fields, source: str) -> tuple[str, ...]:
    value = fields.get("address", (str, list), [])
    lines = [value] if isinstance(value, str) else value
    if len(lines) > MAX_ADDRESS_LINES or not all(
            isinstance(line, str) and line.isprintable() and len(line) <= MAX_FIELD_CHARS for line in lines):
        raise ConfigError(source, "certificate.address", f"expected up to {MAX_ADDRESS_LINES} lines of printable "
                          f"text (at most {MAX_FIELD_CHARS} characters each)",
                          'write address = ["street", "city"]')
    return tuple(line.strip() for line in lines)


def parse_issuer(table: dict[str, Any], source: str = "<station>") -> CertificateIssuer:
    """The `[certificate]` table as a CertificateIssuer; ConfigError names the field and the fix."""
    fields = Fields(table, source, "certificate")
    values = {key: _text(fields, key, source) for key in TEXT_FIELDS}
    address = _address(fields, source)
    fields.finish()
    return CertificateIssuer(address=address, **values)


def issuer_from_station(config: StationConfig) -> CertificateIssuer:
    """The station's issuer block (checked); an empty one when the station has no `[certificate]` table."""
    return parse_issuer(config.certificate, config.source_path)
