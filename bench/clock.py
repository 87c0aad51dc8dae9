"""The bench's one clock: aware UTC datetimes, and the ISO text every record stores.

Code that judges time (a reference's age, a cycle time) takes a clock callable defaulting
to `utc_now`, so tests pass a fake clock instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso_utc(moment: dt.datetime) -> str:
    """`2026-12-02T10:17:40.123456Z`: microseconds and a Z, the form every stored timestamp has."""
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
