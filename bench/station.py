"""Deprecated alias of `bench.run.station` (kept for one release; import from `bench.run`)."""

import warnings

from bench.run.station import *  # noqa: F403
from bench.run.station import Station, open_station  # noqa: F401

warnings.warn("bench.station is deprecated; import open_station and Station from bench.run",
              DeprecationWarning, stacklevel=2)
