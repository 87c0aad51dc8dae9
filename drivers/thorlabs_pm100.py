"""Thorlabs PM100D / PM100USB / PM100A / PM101 / PM400 single-channel power meters (USB-TMC).

Address: `USB0::0x1313::<PID>::<serial>::INSTR` (PM100D PID 0x8078). The
meter is one receive channel; `MeterGroup` combines several into an array.
One meter per fiber sees polarity; a single large-area detector on the whole
ferrule gives IL only.

Power is read in W (`SENS:POW:UNIT W`) and converted in software. The
wavelength is set in nm (`SENS:CORR:WAV 1310`, no unit), averaging as a
sample count (`SENS:AVER:COUN n`, about 3 ms per sample [verify]: a setting,
`sample_time_s`). Over range reads 9.9E37; a dark, zero-offset sensor can read
0 W or slightly negative, which `watts_to_dbm` turns into NaN (below floor).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from drivers.capabilities import PowerReadings
from drivers.errors import InstrumentError
from drivers.scpi import ScpiInstrument, is_over_range

MODELS = ("PM100D", "PM100USB", "PM100A", "PM101", "PM400")


class ThorlabsPM100(ScpiInstrument):
    """One Thorlabs meter = one receive channel (`<name>:1` in a station's receive_channels)."""

    models = MODELS
    slots = (1,)

    def __init__(self, resource: Any, *, range_w: float | None = None, sample_time_s: float = 0.003,
                 require_sensor: bool = True, **kwargs: Any) -> None:
        super().__init__(resource, **kwargs)
        self.range_w = range_w
        self.sample_time_s = sample_time_s
        self.require_sensor = require_sensor
        self._wavelength_nm: float | None = None
        self._average_count: int | None = None
        self._setup_done = False

    @property
    def channel_count(self) -> int:
        return 1

    def sensor_identity(self) -> str:
        """Sensor head name, serial, calibration date, ... (`no sensor` when none is plugged in)."""
        return self.query("SYST:SENS:IDN?")

    def setup(self) -> None:
        """Check the sensor head, then power unit W, range policy and power mode; once per session."""
        if self.require_sensor:
            sensor = self.sensor_identity()
            if not sensor or sensor.lower().startswith("no sensor"):
                raise InstrumentError(self.name, "SYST:SENS:IDN?",
                                      f"no sensor head connected (reply {sensor!r}); plug in the sensor")
        commands = ["SENS:POW:UNIT W"]
        if self.range_w is None:
            commands.append("SENS:POW:RANG:AUTO 1")
        else:
            commands += ["SENS:POW:RANG:AUTO 0", f"SENS:POW:RANG {self.range_w:g}"]
        commands.append("CONF:POW")
        self.send_configuration(commands)
        self._setup_done = True

    def average_count(self, averaging_time_s: float) -> int:
        return max(1, math.ceil(averaging_time_s / self.sample_time_s - 1e-9))

    def configure(self, wavelength_nm: float, averaging_time_s: float) -> None:
        if not self._setup_done:
            self.setup()
        count = self.average_count(averaging_time_s)
        commands: list[str] = []
        if wavelength_nm != self._wavelength_nm:
            commands.append(f"SENS:CORR:WAV {wavelength_nm:g}")
        if count != self._average_count:
            commands.append(f"SENS:AVER:COUN {count}")
        self._wavelength_nm = self._average_count = None
        self.send_configuration(commands)
        self._wavelength_nm, self._average_count = wavelength_nm, count

    def trigger(self) -> None:
        self.write("INIT")

    def fetch(self) -> PowerReadings:
        power_w = self.query_float("FETC?")
        over = is_over_range(power_w)
        return PowerReadings(np.array([np.nan if over else power_w]), np.array([over]))

    def read_all(self) -> PowerReadings:
        self.trigger()
        return self.fetch()
