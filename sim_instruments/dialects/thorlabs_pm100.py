"""Simulated Thorlabs PM100D/PM100USB/PM400: one detector, SCPI as the PM100 manual gives it."""

from __future__ import annotations

import math
import re
import time

from sim_instruments.physics import PhysicalModel
from sim_instruments.scpi_server import Latency, SimulatedInstrument

OVER_RANGE_W = 9.9e37
SAMPLE_TIME_S = 0.003  # one averaging sample of the PM100 [verify]


class SimThorlabsPM100(SimulatedInstrument):
    no_error_reply = '0,"No error"'

    def __init__(self, model: PhysicalModel, name: str, *, instrument_model: str = "PM100D",
                 serial_number: str = "P0000001", sensor: str = "S122C,12345678,10-Jan-2025,1,18,289",
                 latency: Latency | None = None) -> None:
        super().__init__(latency)
        self.model = model
        self.name = name
        self.idn = f"Thorlabs,{instrument_model},{serial_number},2.7.0"
        self.sensor = sensor
        self.unit_w = False
        self.auto_range = True
        self.range_w = 1e-3
        self.average_count = 1
        self._pending: tuple[float, float] | None = None
        self.route(r"SENS(?:e)?:POW(?:er)?:UNIT (W|DBM)", self._set_unit)
        self.route(r"SENS:POW:UNIT\?", lambda _m: "W" if self.unit_w else "DBM")
        self.route(r"SENS:POW:RANG:AUTO (0|1|ON|OFF)", self._set_auto_range)
        self.route(r"SENS:POW:RANG ([0-9.eE+-]+)", self._set_range)
        self.route(r"SENS:CORR:WAV ([0-9.eE+-]+)", self._set_wavelength)
        self.route(r"SENS:CORR:WAV\?", lambda _m: f"{self._channel().wavelength_nm:.6E}")
        self.route(r"SENS:AVER:COUN (\d+)", self._set_count)
        self.route(r"SENS:AVER:COUN\?", lambda _m: str(self.average_count))
        self.route(r"CONF(?:igure)?:POW(?:er)?", lambda _m: None)
        self.route(r"SYST:SENS:IDN\?", lambda _m: self.sensor)
        self.route(r"INIT(?::IMM)?", lambda _m: self._trigger())
        self.route(r"FETC(?:h)?\?", lambda _m: self._format(self._fetch()))
        self.route(r"READ\?", lambda _m: (self._trigger(), self._format(self._fetch()))[1])
        self.route(r"MEAS(?::POW)?\?", lambda _m: (self._trigger(), self._format(self._fetch()))[1])

    def _channel(self):  # noqa: ANN202
        return self.model.channels[(self.name, 1)]

    def _set_unit(self, match: re.Match[str]) -> None:
        self.unit_w = match.group(1).upper() == "W"

    def _set_auto_range(self, match: re.Match[str]) -> None:
        self.auto_range = match.group(1) in ("1", "ON")

    def _set_range(self, match: re.Match[str]) -> None:
        range_w = float(match.group(1))
        if not 1e-9 <= range_w <= 1.0:
            raise ValueError("range")
        self.range_w, self.auto_range = range_w, False

    def _set_wavelength(self, match: re.Match[str]) -> None:
        wavelength_nm = float(match.group(1))
        if not 400 <= wavelength_nm <= 1700:  # an InGaAs/Si head's calibrated span, roughly
            raise ValueError("wavelength")
        with self.model.lock:
            self._channel().wavelength_nm = wavelength_nm

    def _set_count(self, match: re.Match[str]) -> None:
        count = int(match.group(1))
        if not 1 <= count <= 10000:
            raise ValueError("count")
        self.average_count = count
        with self.model.lock:
            self._channel().averaging_time_s = count * SAMPLE_TIME_S

    def _trigger(self) -> None:
        power_w = float(self.model.read_meter_w(self.name)[0])
        if not self.auto_range and power_w > self.range_w * 1.1:
            power_w = OVER_RANGE_W
        self._pending = (power_w, (self.command_started or time.monotonic()) + self.average_count * SAMPLE_TIME_S)

    def _fetch(self) -> float:
        if self._pending is None:
            self.push_error(-230, "Data corrupt or stale")
            return OVER_RANGE_W
        power_w, ready_at = self._pending
        self.reply_not_before(ready_at)  # the reply waits for the running integration to end
        return power_w

    def _format(self, power_w: float) -> str:
        if self.unit_w or power_w >= OVER_RANGE_W:
            return f"{power_w:.9E}"
        return f"{10 * math.log10(max(power_w, 1e-15) / 1e-3):.6E}"
