"""Simulated Keysight 8163B/8164B mainframe with a (dual-wavelength) laser source module.

Headers as the Mainframes Programming Guide writes them: `[:SOURce[n]][:CHANnel[m]]:POWer:STATe`,
`[:SOURce[n]][:CHANnel[m]]:WAVelength` (query in m), `:SOURce[n][:CHANnel[m]]:POWer[:LEVel]
[:IMMediate][:AMPLitude]?`. Power-on: laser off (the physical model starts dark). Choosing one of
a dual-wavelength module's wavelengths by value (or LOWer/UPPer) is unverified
(docs/instrument-behaviour.md).
"""

from __future__ import annotations

from sim_instruments.physics import PhysicalModel, SourceState
from sim_instruments.scpi_commands import Call, ScpiError, boolean, number_with_unit
from sim_instruments.scpi_server import Latency, SimulatedInstrument

LENGTH_UNITS = {"M": 1.0, "MM": 1e-3, "UM": 1e-6, "NM": 1e-9, "PM": 1e-12}


class SimKeysight816xSource(SimulatedInstrument):
    def __init__(self, model: PhysicalModel, *, instrument_model: str = "8164B", slot: int = 1,
                 wavelengths_nm: tuple[float, ...] = (1310.0, 1550.0),
                 serial_number: str = "MY48208514", latency: Latency | None = None) -> None:
        super().__init__(latency)
        self.model = model
        self.slot = slot
        self.wavelengths_nm = tuple(float(wavelength) for wavelength in wavelengths_nm)
        self.idn = f"Agilent Technologies,{instrument_model},{serial_number},V5.25(72637)"
        self.power_unit_w = False
        head = "[:SOURce[n]][:CHANnel[m]]"  # both nodes optional (guide, SOURce subsystem)
        self.declare(f"{head}:WAVelength", self._set_wavelength)
        self.declare(f"{head}:WAVelength?", lambda call: f"{self._state(call).wavelength_nm * 1e-9:+.8E}")
        self.declare(f"{head}:POWer:STATe", self._set_output)
        self.declare(f"{head}:POWer:STATe?", lambda call: str(int(self._state(call).output_on)))
        self.declare(f"{head}:POWer[:LEVel][:IMMediate][:AMPLitude]?", self._power)
        self.declare(f"{head}:POWer:UNIT", self._set_unit)
        self.declare(f"{head}:POWer:UNIT?", lambda call: (self._state(call), str(int(self.power_unit_w)))[1])

    def reset(self) -> None:
        super().reset()
        with self.model.lock:
            self.model.source.output_on = False

    def _state(self, call: Call) -> SourceState:
        if call.suffix(0) != self.slot or call.suffix(1) != 1:
            raise ScpiError(-303, "Module slot empty or slot extension empty")
        return self.model.source

    def _set_wavelength(self, call: Call) -> None:
        state = self._state(call)
        text = call.parameter().strip().upper()
        if text in ("LOW", "LOWER"):
            wavelength_nm = min(self.wavelengths_nm)
        elif text in ("UPP", "UPPER"):
            wavelength_nm = max(self.wavelengths_nm)
        else:
            wavelength_nm = float(round(number_with_unit(text, LENGTH_UNITS) * 1e9, 3))
        if wavelength_nm not in self.wavelengths_nm:
            raise ScpiError(-222, "Data out of range")
        with self.model.lock:
            changed = state.wavelength_nm != wavelength_nm
            state.wavelength_nm = wavelength_nm
        if changed and self.latency.wavelength_change_s:
            self.busy_for(self.latency.wavelength_change_s)

    def _set_output(self, call: Call) -> None:
        state = self._state(call)
        enabled = boolean(call.parameter())
        with self.model.lock:
            turned_on = enabled and not state.output_on
            state.output_on = enabled
        if turned_on and self.latency.laser_on_s:
            self.busy_for(self.latency.laser_on_s)

    def _set_unit(self, call: Call) -> None:
        self._state(call)
        value = call.parameter().strip().upper()
        if value not in ("0", "1", "DBM", "W"):
            raise ScpiError(-224, "Illegal parameter value")
        self.power_unit_w = value in ("1", "W")

    def _power(self, call: Call) -> str:
        state = self._state(call)
        power_dbm = state.power_dbm[state.wavelength_nm] + state.total_drift_db(self.model.clock())
        if self.power_unit_w:
            return f"{10 ** (power_dbm / 10) * 1e-3:+.8E}"
        return f"{power_dbm:+.8E}"
