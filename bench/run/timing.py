"""The station's [timing] handed to the floors below, from the one definition in `bench.config.station`.

`TimingSettings` is the only timing type the bench defines. The procedures' `AcquisitionSettings`
is built from it by field name, so a time added to both reaches the measurement without a line
here; the fields that are not the procedures' business are named in `DRIVER_ONLY_FIELDS` and go to
the drivers (`bench.run.station.configure_reply_wait`). A field in neither place is refused at once
rather than silently dropped.
"""

from __future__ import annotations

from dataclasses import fields

from bench.config.station import TimingSettings
from procedures.acquisition import AcquisitionSettings

# How the host waits for a reply is the drivers' concern, not the acquisition's.
DRIVER_ONLY_FIELDS = frozenset({"reply_wait"})

_ACQUISITION_FIELDS = frozenset(f.name for f in fields(AcquisitionSettings))
_TIMING_FIELDS = frozenset(f.name for f in fields(TimingSettings))
_UNROUTED = _TIMING_FIELDS - _ACQUISITION_FIELDS - DRIVER_ONLY_FIELDS
if _UNROUTED:  # a programming error: fail at import, in every test, not on a bench
    raise TypeError(f"TimingSettings fields {sorted(_UNROUTED)} reach neither AcquisitionSettings nor the drivers")


def acquisition_settings(timing: TimingSettings) -> AcquisitionSettings:
    """The procedures' settings: every [timing] field they have, their own defaults for the rest."""
    return AcquisitionSettings(**{name: getattr(timing, name) for name in _TIMING_FIELDS & _ACQUISITION_FIELDS})
