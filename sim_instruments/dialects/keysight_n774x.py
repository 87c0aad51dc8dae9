"""Simulated Keysight N7744A/N7745A/N7747A/N7748A (and C) multiport power meters.

Written from the Keysight N77xx Series Programming Guide (edition 7, 2015) as quoted in
docs/instrument-behaviour.md, never from our driver. What it models:

- one trigger system per slot: `:INITiate[n][:IMMediate]` measures slot n only (a missing
  [n] is 1); `FETCh:POWer:ALL:CSV?` returns, for every slot, what that slot's previous
  trigger measured (a quoted string, as the guide's example reply shows);
  `READ:POWer:ALL?` triggers every slot itself and returns a binary block;
- continuous measurement at power-on: an immediate trigger of a slot that measures
  continuously is refused with -213 "Init ignored"; `:INITiate[n]:CONTinuous 0` makes it
  wait for triggers (its last continuous reading stays the "previous" value);
- power-on state: continuous, auto range, dBm, the physical model's wavelength and averaging;
- SCPI long/short forms, any case, optional nodes, suffix defaults (sim_instruments.scpi_commands);
- errors: -113 unknown header, -213, -222 out of range, -261 dBm of no power, -303 slot empty,
  -104/-109/-131/-224 for bad parameters; a 30-deep queue.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from sim_instruments.physics import PhysicalModel
from sim_instruments.scpi_commands import Call, ScpiError, boolean, number_with_unit
from sim_instruments.scpi_server import Latency, SimulatedInstrument, SlotEmpty, binary_block

SLOT_COUNT = {"N7744A": 4, "N7745A": 8, "N7747A": 2, "N7748A": 4,
              "N7744C": 4, "N7745C": 8, "N7747C": 2, "N7748C": 4}
OVER_RANGE_W = 9.9e37
RANGES_DBM = (10.0, 0.0, -10.0, -20.0, -30.0)
WAVELENGTH_RANGE_NM = (800.0, 1700.0)
AVERAGING_RANGE_S = (1e-6, 10.0)
LENGTH_UNITS = {"M": 1.0, "MM": 1e-3, "UM": 1e-6, "NM": 1e-9, "PM": 1e-12}
TIME_UNITS = {"S": 1.0, "MS": 1e-3, "US": 1e-6, "NS": 1e-9}
POWER_UNITS = {"DBM": 1.0}


@dataclass
class SlotState:
    """One detector's trigger system and settings (power-on values)."""

    continuous: bool = True
    unit_w: bool = False
    auto_range: bool = True
    range_dbm: float = 0.0
    auto_gain: bool = True
    #: What the previous trigger measured (W) and when that measurement completes.
    reading_w: float | None = None
    ready_at: float = 0.0


class SimKeysightN774x(SimulatedInstrument):
    def __init__(self, model: PhysicalModel, name: str, *, instrument_model: str = "N7745A",
                 serial_number: str = "MY00000001", latency: Latency | None = None,
                 binary_little_endian: bool = True) -> None:
        super().__init__(latency)
        self.model = model
        self.name = name
        self.instrument_model = instrument_model
        self.slot_count = SLOT_COUNT[instrument_model]
        self.serial_number = serial_number
        self.idn = f"Keysight Technologies,{instrument_model},{serial_number},V2.1.0"
        # The guide's conventions page says big endian, each command's description "Intel
        # byte order": a setting, defaulting to the command descriptions.
        self.binary_format = "<" if binary_little_endian else ">"
        self.slots: dict[int, SlotState] = {}
        self.power_on()
        declare = self.declare
        declare(":SENSe[n]:POWer:WAVelength", self._set_wavelength)
        declare(":SENSe[n]:POWer:WAVelength?", self._get_wavelength)
        declare(":SENSe[n]:POWer:WAVelength:ALL", self._set_wavelength_all)
        declare(":SENSe[n]:POWer:ATIMe", self._set_averaging)
        declare(":SENSe[n]:POWer:ATIMe?", lambda call: f"{self._channel(call).averaging_time_s:+.8E}")
        declare(":SENSe[n]:POWer:UNIT", self._set_unit)
        declare(":SENSe[n]:POWer:UNIT?", lambda call: str(int(self._slot(call).unit_w)))
        declare(":SENSe[n]:POWer:RANGe:AUTO", self._set_auto_range)
        declare(":SENSe[n]:POWer:RANGe:AUTO?", lambda call: str(int(self._slot(call).auto_range)))
        declare(":SENSe[n]:POWer:RANGe[:UPPer]", self._set_range)
        declare(":SENSe[n]:POWer:RANGe[:UPPer]?", lambda call: f"{self._slot(call).range_dbm:+.8E}")
        declare(":SENSe[n]:POWer:GAIN:AUTO", self._set_auto_gain)
        declare(":SENSe[n]:POWer:GAIN:AUTO?", lambda call: str(int(self._slot(call).auto_gain)))
        declare(":SENSe[n]:CORRection:COLLect:ZERO", lambda call: (self._slot(call), None)[1])
        declare(":SENSe[n]:CORRection:COLLect:ZERO:ALL", lambda _call: None)
        declare(":INITiate[n][:IMMediate]", self._initiate)
        declare(":INITiate[n]:CONTinuous", self._set_continuous)
        declare(":INITiate[n]:CONTinuous?", lambda call: str(int(self._slot(call).continuous)))
        declare(":FETCh[n]:POWer:ALL:CSV?", self._fetch_all_csv)
        declare(":FETCh[n][:CHANnel[m]][:SCALar]:POWer[:DC]?", self._fetch_one)
        declare(":READ[n][:CHANnel[m]][:SCALar]:POWer[:DC]?", self._read_one)
        declare(":READ[n]:POWer:ALL?", self._read_all_binary)

    # -- state --------------------------------------------------------------------------
    def power_on(self) -> None:
        """The state a meter wakes up in: every slot measuring continuously, auto range, dBm."""
        self.slots = {slot: SlotState() for slot in range(1, self.slot_count + 1)}

    def reset(self) -> None:
        super().reset()
        self.power_on()

    def _slot_number(self, call: Call) -> int:
        slot = call.suffix(0)
        if not 1 <= slot <= self.slot_count:
            self.push_error(-303, "Module slot empty or slot extension empty")
            raise SlotEmpty(slot)
        return slot

    def _slot(self, call: Call) -> SlotState:
        return self.slots[self._slot_number(call)]

    def _channel(self, call: Call):  # noqa: ANN202 - physics.MeterChannel
        return self.model.channels[(self.name, self._slot_number(call))]

    def _settable(self, call: Call) -> int:
        """The slot a setting addresses; refused while a function runs on it (subclass)."""
        return self._slot_number(call)

    # -- settings -----------------------------------------------------------------------
    def _wavelength_m(self, call: Call) -> float:
        wavelength_m = number_with_unit(call.parameter(), LENGTH_UNITS)  # SCPI: no suffix = metres
        low_nm, high_nm = WAVELENGTH_RANGE_NM
        if not low_nm <= wavelength_m * 1e9 <= high_nm:
            raise ScpiError(-222, "Data out of range")
        return wavelength_m

    def _set_wavelength(self, call: Call) -> None:
        slot = self._settable(call)
        wavelength_m = self._wavelength_m(call)
        with self.model.lock:
            self.model.channels[(self.name, slot)].wavelength_nm = wavelength_m * 1e9

    def _set_wavelength_all(self, call: Call) -> None:
        wavelength_m = self._wavelength_m(call)
        with self.model.lock:
            for slot in self.slots:
                self.model.channels[(self.name, slot)].wavelength_nm = wavelength_m * 1e9

    def _get_wavelength(self, call: Call) -> str:
        return f"{self._channel(call).wavelength_nm * 1e-9:+.8E}"

    def _set_averaging(self, call: Call) -> None:
        slot = self._settable(call)
        averaging_time_s = number_with_unit(call.parameter(), TIME_UNITS)
        low_s, high_s = AVERAGING_RANGE_S
        if not low_s <= averaging_time_s <= high_s:
            raise ScpiError(-222, "Data out of range")
        with self.model.lock:
            self.model.channels[(self.name, slot)].averaging_time_s = averaging_time_s

    def _set_unit(self, call: Call) -> None:
        slot = self._settable(call)
        value = call.parameter().strip().upper()
        if value not in ("0", "1", "DBM", "W"):
            raise ScpiError(-224, "Illegal parameter value")
        self.slots[slot].unit_w = value in ("1", "W")

    def _set_auto_range(self, call: Call) -> None:
        slot = self._settable(call)
        self.slots[slot].auto_range = boolean(call.parameter())

    def _set_range(self, call: Call) -> None:
        slot = self._settable(call)
        range_dbm = number_with_unit(call.parameter(), POWER_UNITS)
        if not min(RANGES_DBM) <= range_dbm <= max(RANGES_DBM):
            raise ScpiError(-222, "Data out of range")
        state = self.slots[slot]
        state.range_dbm = min(RANGES_DBM, key=lambda step: abs(step - range_dbm))
        state.auto_range = False  # a range set by hand ends auto ranging

    def _set_auto_gain(self, call: Call) -> None:
        slot = self._settable(call)
        self.slots[slot].auto_gain = boolean(call.parameter())

    # -- trigger systems --------------------------------------------------------------
    def measure(self, slots: list[int]) -> None:
        """One measurement of `slots`, starting now: each completes after its averaging time."""
        power_w = self.model.read_meter_w(self.name)
        started = self.now()
        for slot in slots:
            state = self.slots[slot]
            value = float(power_w[slot - 1])
            if not state.auto_range and value > 10 ** ((state.range_dbm + 3) / 10) * 1e-3:
                value = OVER_RANGE_W
            state.reading_w = value
            state.ready_at = started + self.model.channels[(self.name, slot)].averaging_time_s

    def _initiate(self, call: Call) -> None:
        slot = self._slot_number(call)
        if self.slots[slot].continuous:
            raise ScpiError(-213, "Init ignored")
        self.measure([slot])

    def _set_continuous(self, call: Call) -> None:
        slot = self._slot_number(call)
        continuous = boolean(call.parameter())
        state = self.slots[slot]
        if state.continuous and not continuous:
            self.measure([slot])  # the last continuous measurement stays the "previous" value
        state.continuous = continuous

    def readings_w(self) -> list[float]:
        """Every slot's value as FETCh sees it: a continuous slot's latest measurement, a
        triggered slot's previous trigger (the reply waits for a measurement still running)."""
        continuous = [slot for slot, state in self.slots.items() if state.continuous]
        if continuous:
            self.measure(continuous)
            for slot in continuous:
                self.slots[slot].ready_at = 0.0  # a continuous slot always has a completed reading
        values = []
        for slot, state in self.slots.items():
            if state.reading_w is None:  # cannot happen from power-on; kept for subclasses' resets
                self.measure([slot])
            self.reply_not_before(state.ready_at)
            values.append(float(state.reading_w))
        return values

    def _fetch_all_csv(self, _call: Call) -> str:
        return '"' + ",".join(f"{value:+.6E}" for value in self.readings_w()) + '"'

    def _in_unit(self, slot: int, power_w: float) -> str:
        if self.slots[slot].unit_w or power_w >= OVER_RANGE_W:
            return f"{power_w:+.8E}"
        if power_w <= 0:
            raise ScpiError(-261, "Math error in expression")
        return f"{10 * np.log10(power_w / 1e-3):+.8E}"

    def _fetch_one(self, call: Call) -> str:
        slot = self._slot_number(call)
        return self._in_unit(slot, self.readings_w()[slot - 1])

    def _read_one(self, call: Call) -> str:
        slot = self._slot_number(call)
        self.measure([slot])  # READ "provides its own software triggering"
        state = self.slots[slot]
        self.reply_not_before(state.ready_at)
        return self._in_unit(slot, float(state.reading_w))

    def _read_all_binary(self, _call: Call) -> bytes:
        self.measure(list(self.slots))
        for state in self.slots.values():
            self.reply_not_before(state.ready_at)
        values = [float(state.reading_w) for state in self.slots.values()]
        return binary_block(struct.pack(f"{self.binary_format}{len(values)}f", *values))

