"""The quality engineer's window: a read-only web dashboard of yield, lots, stations, serials and SPC.

`create_app(source)` builds the application over a data source (`Hdf5Source` for one station's
store, the fleet database source for the plant); `bench dashboard` serves it. docs/dashboard.md.
"""

from bench.dashboard.app import create_app
from bench.dashboard.hdf5_source import Hdf5Source
from bench.dashboard.source import DashboardSource

__all__ = ["DashboardSource", "Hdf5Source", "create_app"]
