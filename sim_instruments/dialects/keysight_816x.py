"""Simulated Keysight 8163B/8164B mainframe with a (dual-wavelength) source module."""

from __future__ import annotations

import re

from sim_instruments.physics import PhysicalModel
from sim_instruments.scpi_server import Latency, SimulatedInstrument


class SimKeysight816xSource(SimulatedInstrument):
    def __init__(self, model: PhysicalModel, *, instrument_model: str = "8164B", slot: int = 1,
                 wavelengths_nm: tuple[float, ...] = (1310.0, 1550.0),
                 serial_number: str = "MY48208514", latency: Latency | None = None) -> None:
        super().__init__(latency)
        self.model = model
        self.slot = slot
        self.wavelengths_nm = tuple(float(wavelength) for wavelength in wavelengths_nm)
        self.idn = f"Agilent Technologies,{instrument_model},{serial_number},V5.25(72637)"
        self.route(r":SOUR(\d+):WAV ([0-9.eE+-]+)\s*(NM|nm|M|m)?", self._set_wavelength)
        self.route(r":SOUR(\d+):WAV\?", lambda m: f"{self._state(m).wavelength_nm * 1e-9:+.8E}")
        self.route(r":SOUR(\d+):CHAN(\d+):POW:STAT (0|1|ON|OFF)", self._set_output)
        self.route(r":SOUR(\d+):CHAN(\d+):POW:STAT\?", lambda m: str(int(self._state(m).output_on)))
        self.route(r":SOUR(\d+):POW\?", lambda m: f"{self._power_dbm(m):+.6E}")

    def _state(self, match: re.Match[str]):  # noqa: ANN202
        if int(match.group(1)) != self.slot:
            raise ValueError("no source in that slot")
        return self.model.source

    def _set_wavelength(self, match: re.Match[str]) -> None:
        state = self._state(match)
        value = float(match.group(2))
        unit = (match.group(3) or "").lower()
        wavelength_nm = value if unit == "nm" or (unit == "" and value > 1) else value * 1e9
        wavelength_nm = float(round(wavelength_nm, 3))
        if wavelength_nm not in self.wavelengths_nm:
            raise ValueError("wavelength not available")
        with self.model.lock:
            changed = state.wavelength_nm != wavelength_nm
            state.wavelength_nm = wavelength_nm
        if changed and self.latency.wavelength_change_s:
            self.busy_for(self.latency.wavelength_change_s)

    def _set_output(self, match: re.Match[str]) -> None:
        state = self._state(match)
        enabled = match.group(3) in ("1", "ON")
        with self.model.lock:
            turned_on = enabled and not state.output_on
            state.output_on = enabled
        if turned_on and self.latency.laser_on_s:
            self.busy_for(self.latency.laser_on_s)

    def _power_dbm(self, match: re.Match[str]) -> float:
        state = self._state(match)
        return state.power_dbm[state.wavelength_nm] + state.drift_db
