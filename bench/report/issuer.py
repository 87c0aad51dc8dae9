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
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from bench.config.schema import Text, section, validate
from bench.config.station import StationConfig

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


def _one_line(text: str) -> str:
    if not text.isprintable():
        raise ValueError("is not printable text; remove tabs or line breaks")
    return text.strip()


Line = Annotated[Text, Field(max_length=MAX_FIELD_CHARS), AfterValidator(_one_line)]


@section
class CertificateSection:
    """The station file's `[certificate]` table (schema layer, bench.config.schema)."""

    issuer: Line = ""
    address: Line | Annotated[tuple[Line, ...], Field(max_length=MAX_ADDRESS_LINES)] = ()
    contact: Line = ""
    approved_by: Line = ""
    approver_title: Line = ""
    standard: Line = ""
    statement: Line = ""


def parse_issuer(table: dict[str, Any], source: str = "<station>") -> CertificateIssuer:
    """The `[certificate]` table as a CertificateIssuer; ConfigError names the field and the fix."""
    parsed: CertificateSection = validate(CertificateSection, table, source, "certificate")
    values = {key: getattr(parsed, key) for key in TEXT_FIELDS}
    address = (parsed.address,) if isinstance(parsed.address, str) else parsed.address
    return CertificateIssuer(address=address, **values)


def issuer_from_station(config: StationConfig) -> CertificateIssuer:
    """The station's issuer block (checked); an empty one when the station has no `[certificate]` table."""
    return parse_issuer(config.certificate, config.source_path)
