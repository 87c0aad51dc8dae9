"""Thorlabs PM100D / PM100USB / PM100A / PM101 / PM400 single-channel power meters (USB-TMC).

Address: `USB0::0x1313::<PID>::<serial>::INSTR` (PM100D PID 0x8078). The
meter is one receive channel; `MeterGroup` combines several into an array.
One meter per fiber sees polarity; a single large-area detector on the whole
ferrule gives IL only.

Power is read in W (`SENS:POW:UNIT W`) and converted in software. The
wavelength is set in nm (`SENS:CORR:WAV 1310`, no unit), averaging as a
sample count (`SENS:AVER:COUN n`, about 3 ms per sample: a setting,
`sample_time_s`). Over range reads 9.9E37; a dark, zero-offset sensor can read
0 W or slightly negative, which `watts_to_dbm` turns into NaN (below floor).

Sources: `SENSe:CORRection:WAVelength <value>[nm]` (nm default) — PM400 manual 5.5 p. 44,
whose commands the PM100A/D/USB share, and PM100USB manual p. 20 (`CORR:WAVE 1550`):
verified. `SYSTem:SENSor:IDN?` — PM100D manual 6.4 p. 51: verified. Long/short forms and
`;` — PM100USB manual p. 21, PM100D manual 6.4: verified. `SENS:POW:UNIT W`,
`SENS:POW:RANG[:AUTO]`, `SENS:AVER:COUN`, `CONF:POW`, `INIT`, `FETC?`, the 3 ms sample
time and the 9.9E37 over-range value: as SPEC.md quotes them, the manual's command
reference pages were not found (unverified).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drivers.capabilities import PowerReadings
from drivers.declarative import Action, Measurement, Setting
from drivers.errors import InstrumentError
from drivers.options import option
from drivers.scpi import ScpiInstrument, is_over_range

MODELS = ("PM100D", "PM100USB", "PM100A", "PM101", "PM400")
PM400 = "PM400 manual 5.5 (commands shared with PM100A/D/USB)"
QUOTED = "[verify] SPEC.md (secondary); the PM100 command reference pages were not found"


@dataclass(frozen=True)
class ThorlabsPM100Options:
    """What a station file may set for a Thorlabs meter."""

    range_w: float | None = field(default=None, metadata=option(
        "a fixed range in W; default auto range", minimum=1e-12, maximum=10))
    sample_time_s: float = field(default=0.003, metadata=option(
        "time per averaged sample (SENS:AVER:COUN)", minimum=1e-6, maximum=1))
    require_sensor: bool = field(default=True, metadata=option("refuse to measure without a sensor head"))


class ThorlabsPM100(ScpiInstrument):
    """One Thorlabs meter = one receive channel (`<name>:1` in a station's receive_channels)."""

    models = MODELS
    Options = ThorlabsPM100Options
    slots = (1,)

    sensor_query = Measurement("SYST:SENS:IDN?", str, "PM100D manual 6.4 p. 51 SYSTem:SENSor:IDN?")
    power_unit_w = Setting("SENS:POW:UNIT W", QUOTED)
    auto_range = Setting("SENS:POW:RANG:AUTO {state}", QUOTED, {"state": (0, 1)})
    power_range = Setting("SENS:POW:RANG {range_w:g}", QUOTED)
    power_mode = Setting("CONF:POW", QUOTED)
    wavelength = Setting("SENS:CORR:WAV {wavelength_nm:g}", f"{PM400}, SENSe:CORRection:WAVelength (nm)")
    averaging_count = Setting("SENS:AVER:COUN {count}", QUOTED)
    initiate = Action("INIT", QUOTED)
    fetch_power = Measurement("FETC?", float, QUOTED)

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
        return self.query(self.sensor_query())

    def setup(self) -> None:
        """Check the sensor head, then power unit W, range policy and power mode; once per session."""
        if self.require_sensor:
            sensor = self.sensor_identity()
            if not sensor or sensor.lower().startswith("no sensor"):
                raise InstrumentError(self.name, self.sensor_query(),
                                      f"no sensor head connected (reply {sensor!r}); plug in the sensor")
        commands = [self.power_unit_w()]
        if self.range_w is None:
            commands.append(self.auto_range(state=1))
        else:
            commands += [self.auto_range(state=0), self.power_range(range_w=self.range_w)]
        commands.append(self.power_mode())
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
            commands.append(self.wavelength(wavelength_nm=wavelength_nm))
        if count != self._average_count:
            commands.append(self.averaging_count(count=count))
        self._wavelength_nm = self._average_count = None
        self.send_configuration(commands)
        self._wavelength_nm, self._average_count = wavelength_nm, count

    def trigger(self) -> None:
        self.write(self.initiate())

    def fetch(self) -> PowerReadings:
        power_w = self.query_float(self.fetch_power())
        over = is_over_range(power_w)
        return PowerReadings(np.array([np.nan if over else power_w]), np.array([over]))

    def read_all(self) -> PowerReadings:
        self.trigger()
        return self.fetch()
