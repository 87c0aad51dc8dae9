"""Running tests: opening the station, the test session, reference health, golden checks and studies.

The floor that touches instruments (through `drivers`/`procedures`) and writes records to the store.
"""

from bench.run.session import CableOutcome, ReferenceRequired, TestSession
from bench.run.station import Station, open_station

__all__ = ["CableOutcome", "ReferenceRequired", "Station", "TestSession", "open_station"]
