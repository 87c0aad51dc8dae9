"""Simulated Keysight 8163B/8164B mainframe with power sensor modules (81634B single head,
81635A dual head) in some slots.

Written from the 8163A/B, 8164A/B, 8166A/B Mainframes Programming Guide as quoted in
docs/instrument-behaviour.md, never from our driver:

- `:SENSe[n][:CHANnel[m]]:POWer:...` addresses slot n, head m (missing suffixes are 1);
- on a dual-head module (81635A) head 1 is the master: the heads share one trigger system,
  and INITiate:CONTinuous, ATIMe (also its query), RANGe:AUTO and the zero "can only be sent
  to master channel" and act on both heads; sent to head 2 they give an error. The range
  itself is per head ("master and slave channels are independent"), rounded to 10 dB;
- power-on: continuous measurement, auto range, dBm; wavelength query replies in m;
- `:READ[n][:CHANnel[m]]:POWer?` triggers itself; `:INITiate` + `:FETCh` return the
  triggered value; a slot that is not triggered keeps its previous value;
- readings out of range are 3.402823E+38 (> 1E20 in the guide's words).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim_instruments.physics import PhysicalModel
from sim_instruments.scpi_commands import Call, ScpiError, boolean, number_with_unit
from sim_instruments.scpi_server import Latency, SimulatedInstrument, SlotEmpty

OUT_OF_RANGE_W = 3.402823e38
RANGES_DBM = (10.0, 0.0, -10.0, -20.0, -30.0, -40.0, -50.0, -60.0, -70.0)
AVERAGING_RANGE_S = (1e-4, 10.0)  # 81634B: 100 µs .. 10 s
LENGTH_UNITS = {"M": 1.0, "MM": 1e-3, "UM": 1e-6, "NM": 1e-9, "PM": 1e-12}
TIME_UNITS = {"S": 1.0, "MS": 1e-3, "US": 1e-6}
#: Code of the guide's refusal of a master-channel command sent to a slave head; the text
#: is ours (docs/instrument-behaviour.md marks it unverified).
NOT_MASTER_ERROR = (-306, "Command can only be sent to master channel")


@dataclass
class HeadState:
    unit_w: bool = False
    range_dbm: float = 0.0
    reading_w: float | None = None
    ready_at: float = 0.0


@dataclass
class ModuleState:
    """A sensor module: trigger system and range mode are the master head's, shared by both heads."""

    heads: dict[int, HeadState]
    continuous: bool = True
    auto_range: bool = True


class SimKeysight8163Sensor(SimulatedInstrument):
    """`sensor_slots` hold sensors; `dual_head_slots` hold 81635A modules whose head
    `wired_head` sees the fixture (the other head is dark)."""

    def __init__(self, model: PhysicalModel, name: str, *, sensor_slots: tuple[int, ...] = (1,),
                 dual_head_slots: tuple[int, ...] = (), wired_head: int = 1,
                 instrument_model: str = "8163B", serial_number: str = "MY48208514",
                 latency: Latency | None = None) -> None:
        super().__init__(latency)
        self.model = model
        self.name = name
        self.sensor_slots = tuple(sensor_slots)
        self.dual_head_slots = tuple(slot for slot in dual_head_slots if slot in self.sensor_slots)
        self.wired_head = wired_head
        self.idn = f"Agilent Technologies,{instrument_model},{serial_number},V5.25(72637)"
        self.modules: dict[int, ModuleState] = {}
        self.power_on()
        head = ":SENSe[n][:CHANnel[m]]:POWer"
        declare = self.declare
        declare(f"{head}:WAVelength", self._set_wavelength)
        declare(f"{head}:WAVelength?", lambda call: f"{self._channel(call).wavelength_nm * 1e-9:+.8E}")
        declare(f"{head}:ATIMe", self._set_averaging)
        declare(f"{head}:ATIMe?", lambda call: (self._master(call), f"{self._channel(call).averaging_time_s:+.8E}")[1])
        declare(f"{head}:UNIT", self._set_unit)
        declare(f"{head}:UNIT?", lambda call: str(int(self._head(call).unit_w)))
        declare(f"{head}:RANGe:AUTO", self._set_auto_range)
        declare(f"{head}:RANGe:AUTO?", lambda call: str(int(self._master(call).auto_range)))
        declare(f"{head}:RANGe[:UPPer]", self._set_range)
        declare(f"{head}:RANGe[:UPPer]?", lambda call: f"{self._head(call).range_dbm:+.8E}")
        declare(":SENSe[n][:CHANnel[m]]:CORRection:COLLect:ZERO", lambda call: (self._master(call), None)[1])
        declare(":INITiate[n][:CHANnel[m]]:CONTinuous", self._set_continuous)
        declare(":INITiate[n][:CHANnel[m]]:CONTinuous?", lambda call: str(int(self._master(call).continuous)))
        declare(":INITiate[n][:CHANnel[m]][:IMMediate]", self._initiate)
        declare(":FETCh[n][:CHANnel[m]][:SCALar]:POWer[:DC]?", self._fetch)
        declare(":READ[n][:CHANnel[m]][:SCALar]:POWer[:DC]?", self._read)

    def power_on(self) -> None:
        self.modules = {slot: ModuleState({head: HeadState() for head in self._heads(slot)})
                        for slot in self.sensor_slots}

    def reset(self) -> None:
        super().reset()
        self.power_on()

    def _heads(self, slot: int) -> tuple[int, ...]:
        return (1, 2) if slot in self.dual_head_slots else (1,)

    # -- addressing -------------------------------------------------------------------
    def _address(self, call: Call) -> tuple[int, int]:
        slot, head = call.suffix(0), call.suffix(1)
        if slot not in self.sensor_slots or head not in self._heads(slot):
            self.push_error(-303, "Module slot empty or slot extension empty")
            raise SlotEmpty(slot)
        return slot, head

    def _module(self, call: Call) -> ModuleState:
        return self.modules[self._address(call)[0]]

    def _head(self, call: Call) -> HeadState:
        slot, head = self._address(call)
        return self.modules[slot].heads[head]

    def _master(self, call: Call) -> ModuleState:
        """The module of a command only its master head (1) takes."""
        slot, head = self._address(call)
        if head != 1:
            raise ScpiError(*NOT_MASTER_ERROR)
        return self.modules[slot]

    def _channel(self, call: Call):  # noqa: ANN202 - physics.MeterChannel
        return self.model.channels[(self.name, self._address(call)[0])]

    # -- settings ----------------------------------------------------------------------
    def _set_wavelength(self, call: Call) -> None:
        channel = self._channel(call)
        wavelength_m = number_with_unit(call.parameter(), LENGTH_UNITS)  # SCPI: no suffix = metres
        if not 800 <= wavelength_m * 1e9 <= 1700:
            raise ScpiError(-222, "Data out of range")
        with self.model.lock:
            channel.wavelength_nm = wavelength_m * 1e9

    def _set_averaging(self, call: Call) -> None:
        self._master(call)
        averaging_time_s = number_with_unit(call.parameter(), TIME_UNITS)
        low_s, high_s = AVERAGING_RANGE_S
        if not low_s <= averaging_time_s <= high_s:
            raise ScpiError(-222, "Data out of range")
        with self.model.lock:
            self._channel(call).averaging_time_s = averaging_time_s

    def _set_unit(self, call: Call) -> None:
        head = self._head(call)
        value = call.parameter().strip().upper()
        if value not in ("0", "1", "DBM", "W"):
            raise ScpiError(-224, "Illegal parameter value")
        head.unit_w = value in ("1", "W")

    def _set_auto_range(self, call: Call) -> None:
        self._master(call).auto_range = boolean(call.parameter())

    def _set_range(self, call: Call) -> None:
        head = self._head(call)
        range_dbm = number_with_unit(call.parameter(), {"DBM": 1.0})
        if not min(RANGES_DBM) - 5 < range_dbm < max(RANGES_DBM) + 5:
            raise ScpiError(-222, "Data out of range")
        # "rounded to the closest multiple of 10, because the range changes at 10 dBm intervals"
        head.range_dbm = min(RANGES_DBM, key=lambda step: abs(step - range_dbm))
        self.modules[self._address(call)[0]].auto_range = False

    # -- measurement -------------------------------------------------------------------
    def _measure(self, slot: int) -> None:
        """Both heads of the module measure together (they share the master's trigger)."""
        module = self.modules[slot]
        power_w = float(self.model.read_meter_w(self.name)[slot - 1])
        dark_w = 10 ** (self.model.floor_dbm / 10) * 1e-3
        averaging_s = self.model.channels[(self.name, slot)].averaging_time_s
        for number, head in module.heads.items():
            wired = number == self.wired_head or len(module.heads) == 1
            value = power_w if wired else dark_w * abs(float(self.model.noise_rng(self.name).standard_normal()))
            if not module.auto_range and value > 10 ** ((head.range_dbm + 3) / 10) * 1e-3:
                value = OUT_OF_RANGE_W
            head.reading_w = value
            head.ready_at = self.now() + averaging_s

    def _set_continuous(self, call: Call) -> None:
        module = self._master(call)
        continuous = boolean(call.parameter())
        if module.continuous and not continuous:
            self._measure(self._address(call)[0])  # the last continuous value stays
        module.continuous = continuous

    def _initiate(self, call: Call) -> None:
        self._measure(self._address(call)[0])

    def _value(self, call: Call) -> str:
        slot, number = self._address(call)
        module = self.modules[slot]
        head = module.heads[number]
        if module.continuous:
            self._measure(slot)
            head.ready_at = 0.0
        elif head.reading_w is None:
            raise ScpiError(-230, "Data corrupt or stale")
        self.reply_not_before(head.ready_at)  # the reply waits for a running integration
        power_w = float(head.reading_w)
        if head.unit_w or power_w >= OUT_OF_RANGE_W:
            return f"{power_w:+.8E}"
        return f"{10 * np.log10(max(power_w, 1e-15) / 1e-3):+.8E}"

    def _fetch(self, call: Call) -> str:
        return self._value(call)

    def _read(self, call: Call) -> str:
        slot, _head = self._address(call)
        if not self.modules[slot].continuous:
            self._measure(slot)  # READ triggers itself
        return self._value(call)
