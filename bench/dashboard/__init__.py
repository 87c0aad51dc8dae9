"""The quality engineer's window: a read-only web dashboard of yield, lots, stations, serials and SPC.

`create_app(source)` builds the application over a data source (`Hdf5Source` for one station's
store, the fleet database source for the plant); `bench dashboard` serves it. docs/dashboard.md.

Its web libraries are the optional extra `dashboard`: nothing here imports them until the
dashboard is used, so `bench` itself (which registers the `dashboard` command) runs without them.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DashboardSource", "Hdf5Source", "create_app"]
_HOMES = {"create_app": "bench.dashboard.app", "Hdf5Source": "bench.dashboard.hdf5_source",
          "DashboardSource": "bench.dashboard.source"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'bench.dashboard' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
