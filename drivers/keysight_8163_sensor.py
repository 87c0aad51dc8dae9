"""Keysight 8163B/8164B/8166B mainframe power sensor modules (81634B, 81630B, 81635A heads).

Each sensor slot (`slots`, the mainframe's slot numbers) is one receive
channel; `channel` is the head within a module (81635A dual heads: 1 or 2).
Commands follow the programming guide: `:SENSn:CHANm:POW:...` for settings,
`:INITn:CHANm:CONT 0` for software triggering [verify], `:INITn:CHANm:IMM`
then `:FETCn:CHANm:POW?` for one reading (W after `:POW:UNIT 1`). Readings
above 1e20 mean out of range. Prefer an explicit range (`range_dbm`): auto
ranging while other commands run can cause timing conflicts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from drivers.cached_settings import CachedMeterSettings
from drivers.capabilities import PowerReadings
from drivers.keysight_816x_source import MAINFRAMES
from drivers.scpi import OVER_RANGE_THRESHOLD_816X, ScpiInstrument, is_over_range


def format_averaging_time(averaging_time_s: float) -> str:
    return f"{averaging_time_s * 1e3:g}MS"


class Keysight8163Sensor(CachedMeterSettings, ScpiInstrument):
    """Sensor modules in slots `slots` of one 816x mainframe, triggered together."""

    models = MAINFRAMES

    def __init__(self, resource: Any, *, slots: tuple[int, ...] = (1,), channel: int = 1,
                 range_dbm: float | None = None, **kwargs: Any) -> None:
        super().__init__(resource, **kwargs)
        self.slots = tuple(int(slot) for slot in slots)
        if not self.slots or any(not 1 <= slot <= 17 for slot in self.slots):
            raise ValueError(f"{self.name}: sensor slots {list(self.slots)} are not mainframe slots")
        self.channel = channel
        self.range_dbm = range_dbm
        self._wavelength_nm: float | None = None
        self._averaging_time_s: float | None = None
        self._setup_done = False

    @property
    def channel_count(self) -> int:
        return len(self.slots)

    def _head(self, slot: int) -> str:
        return f"{slot}:CHAN{self.channel}"

    def setup(self) -> None:
        commands = []
        for slot in self.slots:
            head = self._head(slot)
            commands += [f":SENS{head}:POW:UNIT 1", f":INIT{head}:CONT 0"]
            if self.range_dbm is None:
                commands.append(f":SENS{head}:POW:RANG:AUTO 1")
            else:
                commands += [f":SENS{head}:POW:RANG:AUTO 0", f":SENS{head}:POW:RANG {self.range_dbm:g}DBM"]
        self.send_configuration(commands)
        self._setup_done = True

    def _wavelength_commands(self, wavelength_nm: float) -> list[str]:
        return [f":SENS{self._head(slot)}:POW:WAV {wavelength_nm:g}NM" for slot in self.slots]

    def _averaging_commands(self, averaging_time_s: float) -> list[str]:
        return [f":SENS{self._head(slot)}:POW:ATIM {format_averaging_time(averaging_time_s)}" for slot in self.slots]

    def trigger(self) -> None:
        for slot in self.slots:
            self.write(f":INIT{self._head(slot)}:IMM")

    def fetch(self) -> PowerReadings:
        power_w = np.array([self.query_float(f":FETC{self._head(slot)}:POW?") for slot in self.slots])
        over_range = np.array([is_over_range(value, OVER_RANGE_THRESHOLD_816X) for value in power_w])
        return PowerReadings(np.where(over_range, np.nan, power_w), over_range)

    def read_all(self) -> PowerReadings:
        self.trigger()
        return self.fetch()
