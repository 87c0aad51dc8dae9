"""The toolkit's one clock: aware UTC datetimes, and the ISO text every record stores.

It lives in `procedures` because that is the lowest layer that stamps time (a power matrix's
start and end); `bench.clock` re-exports it for the bench's rooms, which may not reach past
their vocabulary for a name this basic. Code that judges time (a reference's age, a cycle
time) takes a clock callable defaulting to `utc_now`, so tests pass a fake clock instead of
sleeping.
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


def utc_now_text() -> str:
    """`iso_utc(utc_now())`: the store's stamps (stored_utc, file names of kept copies)."""
    return iso_utc(utc_now())
