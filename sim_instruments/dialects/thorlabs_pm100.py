"""Simulated Thorlabs PM100D/PM100USB/PM400: one detector, SCPI as the consoles' manuals give it.

Sources (docs/instrument-behaviour.md): the PM100D operation manual, chapter 6.4 "PM100D SCPI
Commands", and the PM400 manual, 5.5 "SCPI Commands" (whose command set it says the PM100A,
PM100D and PM100USB share): capitals mark the short form, any case is accepted, other
abbreviations are errors; `SENSe:CORRection:WAVelength <value>[nm]` (nm is the default unit);
`SYSTem:SENSor:IDN?` answers `<name>,<sn>,<cal_msg>,<type>,<subtype>,<flags>`.
"""

from __future__ import annotations

import math

from sim_instruments.physics import PhysicalModel
from sim_instruments.scpi_commands import Call, ScpiError, boolean, choice, number_with_unit
from sim_instruments.scpi_server import Latency, SimulatedInstrument

OVER_RANGE_W = 9.9e37
SAMPLE_TIME_S = 0.003  # one averaging sample of the PM100 (unverified)
WAVELENGTH_RANGE_NM = (400.0, 1700.0)  # an InGaAs/Si head's calibrated span, roughly (unverified)
LENGTH_UNITS_NM = {"NM": 1.0, "UM": 1e3, "M": 1e9}
POWER_UNITS_W = {"W": 1.0, "MW": 1e-3, "UW": 1e-6, "NW": 1e-9}


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
        self.power_on()
        declare = self.declare
        declare(":SENSe[n]:POWer[:DC]:UNIT", self._set_unit)
        declare(":SENSe[n]:POWer[:DC]:UNIT?", lambda _call: "W" if self.unit_w else "DBM")
        declare(":SENSe[n]:POWer[:DC]:RANGe:AUTO", self._set_auto_range)
        declare(":SENSe[n]:POWer[:DC]:RANGe:AUTO?", lambda _call: str(int(self.auto_range)))
        declare(":SENSe[n]:POWer[:DC]:RANGe[:UPPer]", self._set_range)
        declare(":SENSe[n]:POWer[:DC]:RANGe[:UPPer]?", lambda _call: f"{self.range_w:.9E}")
        declare(":SENSe[n]:CORRection:WAVelength", self._set_wavelength)
        declare(":SENSe[n]:CORRection:WAVelength?", lambda _call: f"{self._channel().wavelength_nm:.6E}")
        declare(":SENSe[n]:AVERage[:COUNt]", self._set_count)
        declare(":SENSe[n]:AVERage[:COUNt]?", lambda _call: str(self.average_count))
        declare(":CONFigure[n][:SCALar]:POWer", lambda _call: None)
        declare(":SYSTem:SENSor:IDN?", lambda _call: self.sensor)
        declare(":INITiate[n][:IMMediate]", lambda _call: self._trigger())
        declare(":ABORt[n]", lambda _call: None)
        declare(":FETCh[n]?", lambda _call: self._format(self._fetch()))
        declare(":READ[n]?", lambda _call: (self._trigger(), self._format(self._fetch()))[1])
        declare(":MEASure[n][:SCALar][:POWer]?", lambda _call: (self._trigger(), self._format(self._fetch()))[1])

    def power_on(self) -> None:
        self.unit_w = False
        self.auto_range = True
        self.range_w = 1e-3
        self.average_count = 1
        self._pending: tuple[float, float] | None = None

    def reset(self) -> None:
        super().reset()
        self.power_on()

    def _channel(self):  # noqa: ANN202 - physics.MeterChannel
        return self.model.channels[(self.name, 1)]

    def _set_unit(self, call: Call) -> None:
        self.unit_w = choice(call.parameter(), ("W", "DBM")) == "W"

    def _set_auto_range(self, call: Call) -> None:
        self.auto_range = boolean(call.parameter())

    def _set_range(self, call: Call) -> None:
        range_w = number_with_unit(call.parameter(), POWER_UNITS_W)
        if not 1e-9 <= range_w <= 1.0:
            raise ScpiError(-222, "Data out of range")
        self.range_w, self.auto_range = range_w, False

    def _set_wavelength(self, call: Call) -> None:
        wavelength_nm = number_with_unit(call.parameter(), LENGTH_UNITS_NM)  # nm is this command's default
        low_nm, high_nm = WAVELENGTH_RANGE_NM
        if not low_nm <= wavelength_nm <= high_nm:
            raise ScpiError(-222, "Data out of range")
        with self.model.lock:
            self._channel().wavelength_nm = wavelength_nm

    def _set_count(self, call: Call) -> None:
        try:
            count = int(float(call.parameter()))
        except ValueError:
            raise ScpiError(-104, "Data type error") from None
        if not 1 <= count <= 10000:
            raise ScpiError(-222, "Data out of range")
        self.average_count = count
        with self.model.lock:
            self._channel().averaging_time_s = count * SAMPLE_TIME_S

    def _trigger(self) -> None:
        power_w = float(self.model.read_meter_w(self.name)[0])
        if not self.auto_range and power_w > self.range_w * 1.1:
            power_w = OVER_RANGE_W
        self._pending = (power_w, self.now() + self.average_count * SAMPLE_TIME_S)

    def _fetch(self) -> float:
        if self._pending is None:
            raise ScpiError(-230, "Data corrupt or stale")
        power_w, ready_at = self._pending
        self.reply_not_before(ready_at)  # the reply waits for the running integration to end
        return power_w

    def _format(self, power_w: float) -> str:
        if self.unit_w or power_w >= OVER_RANGE_W:
            return f"{power_w:.9E}"
        return f"{10 * math.log10(max(power_w, 1e-15) / 1e-3):.6E}"
