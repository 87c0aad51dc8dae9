"""The schema of bench/grading/grade_tables.toml: per fiber type, grades best first, each a
mean and a 97th-percentile limit per connection in dB (IEC 61753-1)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from bench.config.schema import Name, Text, quantity, section, validate
from bench.errors import ConfigError


@section
class GradeSection:
    grade: Name
    mean_db: float = quantity(0, 5, "mean of the per-connection losses, dB")
    p97_db: float = quantity(0, 5, "97th percentile of the per-connection losses, dB")


@section
class GradeTableSection:
    description: Text = ""
    source: Text = ""
    grades: Annotated[tuple[GradeSection, ...], Field(min_length=1)]


def parse_grade_tables(data: Any, source: str) -> dict[str, GradeTableSection]:
    """Tables keyed by fiber type, each checked (types, ranges, best-first order)."""
    tables: dict[str, GradeTableSection] = validate(dict[Name, GradeTableSection], data, source)
    for fiber_type, table in tables.items():
        # The "best grade met" search relies on best-first order.
        for index, (better, worse) in enumerate(zip(table.grades, table.grades[1:], strict=False), start=1):
            if not (better.mean_db <= worse.mean_db and better.p97_db <= worse.p97_db):
                raise ConfigError(source, f"{fiber_type}.grades[{index}]", "the grades are not listed best first",
                                  "list the grades from the lowest limits to the highest")
    return tables
