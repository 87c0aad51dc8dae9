"""Simulated Keysight N774xA multiport power meter (SCPI dialect of the programming guide)."""

from __future__ import annotations

import re
import struct
import time

import numpy as np

from sim_instruments.physics import PhysicalModel
from sim_instruments.scpi_server import Latency, SimulatedInstrument, SlotEmpty, binary_block

SLOT_COUNT = {"N7744A": 4, "N7745A": 8, "N7747A": 2, "N7748A": 4}
OVER_RANGE_W = 9.9e37
_UNIT_SCALE = {"": 1.0, "m": 1.0, "nm": 1e-9, "um": 1e-6, "pm": 1e-12}
_TIME_SCALE = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}


class SimKeysightN774x(SimulatedInstrument):
    def __init__(self, model: PhysicalModel, name: str, *, instrument_model: str = "N7745A",
                 serial_number: str = "MY00000001", latency: Latency | None = None) -> None:
        super().__init__(latency)
        self.model = model
        self.name = name
        self.slot_count = SLOT_COUNT[instrument_model]
        self.idn = f"Keysight Technologies,{instrument_model},{serial_number},V2.1.0"
        self.unit_w = {slot: False for slot in range(1, self.slot_count + 1)}
        self.auto_range = {slot: True for slot in range(1, self.slot_count + 1)}
        self.range_dbm = {slot: 0.0 for slot in range(1, self.slot_count + 1)}
        self._pending: tuple[np.ndarray, float] | None = None
        self.route(r"SENS(\d+):POW:WAV ([0-9.eE+-]+)\s*(nm|m|um|pm)?", self._set_wavelength)
        self.route(r"SENS(\d+):POW:WAV\?", self._get_wavelength)
        self.route(r"SENS(\d+):POW:ATIM ([0-9.eE+-]+)\s*(s|ms|us)?", self._set_averaging)
        self.route(r"SENS(\d+):POW:ATIM\?", self._get_averaging)
        self.route(r"SENS(\d+):POW:UNIT ([01])", self._set_unit)
        self.route(r"SENS(\d+):POW:UNIT\?", lambda m: str(int(self.unit_w[self._slot(m)])))
        self.route(r"SENS(\d+):POW:RANG:AUTO ([01])", self._set_auto_range)
        self.route(r"SENS(\d+):POW:RANG ([+-]?[0-9.]+)\s*DBM", self._set_range)
        self.route(r"SENS(\d+):CORR:COLL:ZERO(?::ALL)?", lambda m: (self._slot(m), None)[1])
        self.route(r"INIT(?::IMM)?", lambda _m: self._trigger())
        self.route(r"FETC:POW:ALL:CSV\?", lambda _m: ",".join(f"{value:+.6E}" for value in self._fetch()))
        self.route(r"READ:POW:ALL\?", self._read_binary)

    def _slot(self, match: re.Match[str]) -> int:
        slot = int(match.group(1))
        if not 1 <= slot <= self.slot_count:
            self.push_error(-303, "Module slot empty or slot extension empty")
            raise SlotEmpty(slot)
        return slot

    def _channel(self, slot: int):  # noqa: ANN202
        return self.model.channels[(self.name, slot)]

    def _set_wavelength(self, match: re.Match[str]) -> None:
        slot = self._slot(match)
        value = float(match.group(2))
        unit = (match.group(3) or "").lower()
        # Without a unit SCPI means metres; a bare number above 1 can only be nm.
        wavelength_nm = value * _UNIT_SCALE[unit] * 1e9 if unit or value < 1 else value
        if not 800 <= wavelength_nm <= 1700:
            raise ValueError("wavelength out of range")
        with self.model.lock:
            self._channel(slot).wavelength_nm = wavelength_nm

    def _get_wavelength(self, match: re.Match[str]) -> str:
        return f"{self._channel(self._slot(match)).wavelength_nm * 1e-9:+.8E}"

    def _set_averaging(self, match: re.Match[str]) -> None:
        slot = self._slot(match)
        averaging_time_s = float(match.group(2)) * _TIME_SCALE[(match.group(3) or "").lower()]
        if not 1e-5 <= averaging_time_s <= 10:
            raise ValueError("averaging time out of range")
        with self.model.lock:
            self._channel(slot).averaging_time_s = averaging_time_s

    def _get_averaging(self, match: re.Match[str]) -> str:
        return f"{self._channel(self._slot(match)).averaging_time_s:+.6E}"

    def _set_unit(self, match: re.Match[str]) -> None:
        self.unit_w[self._slot(match)] = match.group(2) == "1"

    def _set_auto_range(self, match: re.Match[str]) -> None:
        self.auto_range[self._slot(match)] = match.group(2) == "1"

    def _set_range(self, match: re.Match[str]) -> None:
        slot = self._slot(match)
        range_dbm = float(match.group(2))
        if range_dbm not in (10, 0, -10, -20, -30):
            raise ValueError("range")
        self.range_dbm[slot] = range_dbm
        self.auto_range[slot] = False

    def _trigger(self) -> None:
        power_w = self.model.read_meter_w(self.name)
        for slot in range(1, self.slot_count + 1):
            if not self.auto_range[slot] and power_w[slot - 1] > 10 ** ((self.range_dbm[slot] + 3) / 10) * 1e-3:
                power_w[slot - 1] = OVER_RANGE_W
        averaging_s = max(self._channel(slot).averaging_time_s for slot in range(1, self.slot_count + 1))
        # The integration starts when INIT arrived (see SimulatedInstrument.command_started).
        self._pending = (power_w, (self.command_started or time.monotonic()) + averaging_s)

    def _fetch(self) -> np.ndarray:
        if self._pending is None:
            self.push_error(-286, "No function data")
            return np.full(self.slot_count, OVER_RANGE_W)
        power_w, ready_at = self._pending
        self.reply_not_before(ready_at)  # FETC waits for the running integration to end
        return power_w

    def _read_binary(self, _match: re.Match[str]) -> bytes:
        self._trigger()
        power_w = self._fetch()
        return binary_block(struct.pack(f"<{power_w.size}f", *power_w))
