"""Several multiport meters seen as one receive array.

A 24-fiber MPO needs more detectors than one mainframe has. The group
triggers every meter first and fetches afterwards, so the meters integrate at
the same time and a reading of all channels costs one averaging time, not one
per mainframe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from drivers.capabilities import InstrumentIdentity, PowerReadings


class TriggeredMeter(Protocol):
    channel_count: int

    def identities(self) -> list[InstrumentIdentity]: ...

    def configure(self, wavelength_nm: float, averaging_time_s: float) -> None: ...

    def trigger(self) -> None: ...

    def fetch(self) -> PowerReadings: ...


class MeterGroup:
    """Receive channels 1..N mapped onto (meter, index-in-meter) pairs."""

    def __init__(self, meters: Sequence[TriggeredMeter],
                 channel_map: Sequence[tuple[int, int]] | None = None) -> None:
        self.meters = list(meters)
        if channel_map is None:
            channel_map = [(meter_index, channel_index)
                           for meter_index, meter in enumerate(self.meters)
                           for channel_index in range(meter.channel_count)]
        self.channel_map = list(channel_map)
        self._used_meters = sorted({meter_index for meter_index, _ in self.channel_map})

    @property
    def channel_count(self) -> int:
        return len(self.channel_map)

    def identities(self) -> list[InstrumentIdentity]:
        return [identity for meter in self.meters for identity in meter.identities()]

    def configure(self, wavelength_nm: float, averaging_time_s: float) -> None:
        for meter_index in self._used_meters:
            self.meters[meter_index].configure(wavelength_nm, averaging_time_s)

    def read_all(self) -> PowerReadings:
        for meter_index in self._used_meters:
            self.meters[meter_index].trigger()
        fetched = {meter_index: self.meters[meter_index].fetch() for meter_index in self._used_meters}
        power_w = np.array([fetched[m].power_w[c] for m, c in self.channel_map], dtype=np.float64)
        over_range = np.array([fetched[m].over_range[c] for m, c in self.channel_map], dtype=bool)
        return PowerReadings(power_w, over_range)
