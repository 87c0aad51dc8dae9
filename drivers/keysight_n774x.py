"""Keysight N7744A/N7745A/N7747A/N7748A multiport optical power meters.

All slots are read in one transaction (`FETC:POW:ALL:CSV?`, always in W), so
a whole MPO row costs one round trip. Settings are cached: a production run
changes wavelength twice per cable, and re-sending unchanged settings would
only add round trips.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from drivers.capabilities import PowerReadings
from drivers.errors import InstrumentCommunicationError
from drivers.scpi import OVER_RANGE_THRESHOLD, ScpiInstrument

SLOT_COUNT = {"N7744A": 4, "N7745A": 8, "N7747A": 2, "N7748A": 4}


def format_wavelength_nm(wavelength_nm: float) -> str:
    return f"{wavelength_nm:g}nm"


def format_averaging_time(averaging_time_s: float) -> str:
    return f"{averaging_time_s * 1e3:g}ms"


class KeysightN774x(ScpiInstrument):
    """One N774xA mainframe; `slots` selects which of its detectors are used."""

    models = tuple(SLOT_COUNT)
    read_termination = "\n"

    def __init__(self, resource: Any, *, slots: tuple[int, ...] | None = None,
                 range_dbm: float | None = None, binary_read: bool = False,
                 binary_big_endian: bool = False, **kwargs: Any) -> None:
        super().__init__(resource, **kwargs)
        available = SLOT_COUNT.get(self.identity.model, 8)
        self.slots = tuple(slots) if slots else tuple(range(1, available + 1))
        bad_slots = [slot for slot in self.slots if not 1 <= slot <= available]
        if bad_slots:
            raise ValueError(f"{self.name}: slots {bad_slots} do not exist on a {self.identity.model} "
                             f"(slots 1..{available}); fix the station config's 'slots'")
        self.slot_count = available
        self.range_dbm = range_dbm
        self.binary_read = binary_read
        self.binary_big_endian = binary_big_endian
        self._wavelength_nm: float | None = None
        self._averaging_time_s: float | None = None
        self._setup_done = False

    @property
    def channel_count(self) -> int:
        return len(self.slots)

    def setup(self) -> None:
        """Power unit W and the range policy; sent once per session."""
        commands = [f"SENS{slot}:POW:UNIT 1" for slot in self.slots]
        if self.range_dbm is None:
            commands += [f"SENS{slot}:POW:RANG:AUTO 1" for slot in self.slots]
        else:
            commands += [f"SENS{slot}:POW:RANG:AUTO 0" for slot in self.slots]
            commands += [f"SENS{slot}:POW:RANG {self.range_dbm:g}DBM" for slot in self.slots]
        self.send_configuration(commands)
        self._setup_done = True

    def configure(self, wavelength_nm: float, averaging_time_s: float) -> None:
        if not self._setup_done:
            self.setup()
        commands: list[str] = []
        if wavelength_nm != self._wavelength_nm:
            commands += [f"SENS{slot}:POW:WAV {format_wavelength_nm(wavelength_nm)}" for slot in self.slots]
        if averaging_time_s != self._averaging_time_s:
            commands += [f"SENS{slot}:POW:ATIM {format_averaging_time(averaging_time_s)}"
                         for slot in self.slots]
        # Forget the cache before sending: if a command fails midway the
        # instrument state is unknown and must be re-sent next time.
        self._wavelength_nm = self._averaging_time_s = None
        self.send_configuration(commands)
        self._wavelength_nm, self._averaging_time_s = wavelength_nm, averaging_time_s

    def trigger(self) -> None:
        self.write("INIT:IMM")

    def fetch(self) -> PowerReadings:
        """Fetch all slots' last reading (W); selected slots only."""
        if self.binary_read:
            command = "READ:POW:ALL?"
            power_all_w = self.query_binary_values(command, "f", self.binary_big_endian)
        else:
            command = "FETC:POW:ALL:CSV?"
            reply = self.query(command)
            try:
                power_all_w = np.array([float(field) for field in reply.split(",")], dtype=np.float64)
            except ValueError as error:
                raise InstrumentCommunicationError(self.name, command,
                                                   f"unparseable reply {reply!r}") from error
        if power_all_w.size < max(self.slots):
            raise InstrumentCommunicationError(
                self.name, command, f"expected {max(self.slots)} values, got {power_all_w.size}")
        selected_w = power_all_w[[slot - 1 for slot in self.slots]]
        over_range = ~np.isfinite(selected_w) | (np.abs(selected_w) >= OVER_RANGE_THRESHOLD)
        return PowerReadings(np.where(over_range, np.nan, selected_w), over_range)

    def read_all(self) -> PowerReadings:
        self.trigger()
        return self.fetch()
