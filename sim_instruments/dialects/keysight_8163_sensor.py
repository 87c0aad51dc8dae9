"""Simulated Keysight 8163B/8164B mainframe with power sensor modules (81634B) in some slots."""

from __future__ import annotations

import re
import time

import numpy as np

from sim_instruments.physics import PhysicalModel
from sim_instruments.scpi_server import Latency, SimulatedInstrument, SlotEmpty

OUT_OF_RANGE_W = 3.402823e38  # what an 816x sensor reports when the reading is out of range
_TIME_SCALE = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}


class SimKeysight8163Sensor(SimulatedInstrument):
    """`sensor_slots` hold sensors; the physical model knows this meter's slots as 1..max(slot)."""

    def __init__(self, model: PhysicalModel, name: str, *, sensor_slots: tuple[int, ...] = (1,),
                 instrument_model: str = "8163B", serial_number: str = "MY48208514",
                 latency: Latency | None = None) -> None:
        super().__init__(latency)
        self.model = model
        self.name = name
        self.sensor_slots = tuple(sensor_slots)
        self.idn = f"Agilent Technologies,{instrument_model},{serial_number},V5.25(72637)"
        self.unit_w = {slot: False for slot in self.sensor_slots}
        self.auto_range = {slot: True for slot in self.sensor_slots}
        self.range_dbm = {slot: 0.0 for slot in self.sensor_slots}
        self.continuous = {slot: True for slot in self.sensor_slots}
        self._pending: dict[int, tuple[float, float]] = {}
        head = r"(\d+):CHAN(\d+)"
        self.route(rf":SENS{head}:POW:WAV ([0-9.eE+-]+)\s*(NM|nm|M|m)?", self._set_wavelength)
        self.route(rf":SENS{head}:POW:WAV\?", lambda m: f"{self._channel(m).wavelength_nm * 1e-9:+.8E}")
        self.route(rf":SENS{head}:POW:ATIM ([0-9.eE+-]+)\s*(S|MS|US|s|ms|us)?", self._set_averaging)
        self.route(rf":SENS{head}:POW:UNIT ([01])", lambda m: self._set(self.unit_w, m, m.group(3) == "1"))
        self.route(rf":SENS{head}:POW:RANG:AUTO ([01])", lambda m: self._set(self.auto_range, m, m.group(3) == "1"))
        self.route(rf":SENS{head}:POW:RANG ([+-]?[0-9.]+)\s*DBM", self._set_range)
        self.route(rf":INIT{head}:CONT ([01])", lambda m: self._set(self.continuous, m, m.group(3) == "1"))
        self.route(rf":INIT{head}(?::IMM)?", lambda m: self._trigger(self._slot(m)))
        self.route(rf":FETC{head}:POW\?", lambda m: f"{self._fetch(self._slot(m)):+.8E}")
        self.route(rf":READ{head}:POW\?", lambda m: (self._trigger(self._slot(m)),
                                                      f"{self._fetch(self._slot(m)):+.8E}")[1])

    def _slot(self, match: re.Match[str]) -> int:
        slot = int(match.group(1))
        if slot not in self.sensor_slots or int(match.group(2)) != 1:
            self.push_error(-303, "Module slot empty or slot extension empty")
            raise SlotEmpty(slot)
        return slot

    def _set(self, table: dict[int, bool], match: re.Match[str], value: bool) -> None:
        table[self._slot(match)] = value

    def _channel(self, match: re.Match[str]):  # noqa: ANN202
        return self.model.channels[(self.name, self._slot(match))]

    def _set_wavelength(self, match: re.Match[str]) -> None:
        channel = self._channel(match)
        value = float(match.group(3))
        unit = (match.group(4) or "").lower()
        wavelength_nm = value if unit == "nm" or (unit == "" and value > 1) else value * 1e9
        if not 800 <= wavelength_nm <= 1700:
            raise ValueError("wavelength")
        with self.model.lock:
            channel.wavelength_nm = wavelength_nm

    def _set_averaging(self, match: re.Match[str]) -> None:
        channel = self._channel(match)
        averaging_time_s = float(match.group(3)) * _TIME_SCALE[(match.group(4) or "").lower()]
        if not 1e-4 <= averaging_time_s <= 10:  # 81634B: 100 us .. 10 s
            raise ValueError("averaging time")
        with self.model.lock:
            channel.averaging_time_s = averaging_time_s

    def _set_range(self, match: re.Match[str]) -> None:
        slot = self._slot(match)
        range_dbm = float(match.group(3))
        if range_dbm not in (10, 0, -10, -20, -30, -40, -50, -60, -70):
            raise ValueError("range")
        self.range_dbm[slot], self.auto_range[slot] = range_dbm, False

    def _trigger(self, slot: int) -> None:
        power_w = float(self.model.read_meter_w(self.name)[slot - 1])
        if not self.auto_range[slot] and power_w > 10 ** ((self.range_dbm[slot] + 3) / 10) * 1e-3:
            power_w = OUT_OF_RANGE_W
        averaging_s = self.model.channels[(self.name, slot)].averaging_time_s
        self._pending[slot] = (power_w, (self.command_started or time.monotonic()) + averaging_s)

    def _fetch(self, slot: int) -> float:
        if slot not in self._pending:
            self.push_error(-230, "Data corrupt or stale")
            return OUT_OF_RANGE_W
        power_w, ready_at = self._pending[slot]
        self.reply_not_before(ready_at)  # the reply waits for the running integration to end
        if self.unit_w[slot] or power_w >= OUT_OF_RANGE_W:
            return power_w
        return float(10 * np.log10(max(power_w, 1e-15) / 1e-3))
