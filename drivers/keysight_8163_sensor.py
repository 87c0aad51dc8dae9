"""Keysight 8163B/8164B/8166B mainframe power sensor modules (81634B, 81630B, 81635A heads).

Each sensor slot (`slots`, the mainframe's slot numbers) is one receive
channel; `channel` is the head within a module (81635A dual heads: 1 or 2).
Commands follow the 8163A/B, 8164A/B, 8166A/B Mainframes Programming Guide:
`:SENSn:CHANm:POW:...` for settings, `:INITn:CHANm:CONT 0` for software
triggering, `:INITn:CHANm:IMM` then `:FETCn:CHANm:POW?` for one reading (W
after `:POW:UNIT 1`). On dual-head modules `INIT:CONT`, `ATIM` and `RANG:AUTO`
"can only be sent to master channel": they go to channel 1 whatever `channel`
is (and set both heads); wavelength, unit, range value, trigger and fetch go to
the head used. Readings above 1e20 mean out of range. Prefer an explicit range
(`range_dbm`): auto ranging while other commands run can cause timing conflicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drivers.cached_settings import CachedMeterSettings
from drivers.capabilities import PowerReadings
from drivers.declarative import Action, Measurement, Setting
from drivers.keysight_816x_source import MAINFRAMES
from drivers.options import option
from drivers.over_range import OVER_RANGE_THRESHOLD_816X, is_over_range
from drivers.scpi import ScpiInstrument

GUIDE = "8163A/B, 8164A/B, 8166A/B Mainframes Programming Guide"
MASTER_CHANNEL = 1  # dual-head modules take INIT:CONT, ATIM and RANG:AUTO on this head only


def format_averaging_time(averaging_time_s: float) -> str:
    return f"{averaging_time_s * 1e3:g}MS"


@dataclass(frozen=True)
class Keysight8163SensorOptions:
    """What a station file may set for 816x sensor modules."""

    slots: tuple[int, ...] = field(default=(1,), metadata=option("mainframe slots with sensors", minimum=1,
                                                                   maximum=17))
    channel: int = field(default=1, metadata=option("the head of a dual-head module (81635A)", minimum=1,
                                                     maximum=2))
    range_dbm: float | None = field(default=None, metadata=option("a fixed range in dBm; default auto range"))


class Keysight8163Sensor(CachedMeterSettings, ScpiInstrument):
    """Sensor modules in slots `slots` of one 816x mainframe, triggered together."""

    models = MAINFRAMES
    Options = Keysight8163SensorOptions

    power_unit_w = Setting(":SENS{head}:POW:UNIT 1", f"{GUIDE}, SENSe:POWer:UNIT")
    continuous = Setting(":INIT{master}:CONT 0", f"{GUIDE}, INITiate:CONTinuous (master channel only)")
    auto_range = Setting(":SENS{master}:POW:RANG:AUTO {state}", f"{GUIDE}, RANGe:AUTO (master channel only)",
                         {"state": (0, 1)})
    power_range = Setting(":SENS{head}:POW:RANG {range_dbm:g}DBM", f"{GUIDE}, SENSe:POWer:RANGe")
    wavelength = Setting(":SENS{head}:POW:WAV {wavelength_nm:g}NM", f"{GUIDE}, SENSe:POWer:WAVelength")
    averaging_time = Setting(":SENS{master}:POW:ATIM {averaging}", f"{GUIDE}, ATIMe (master channel only)")
    trigger_head = Action(":INIT{head}:IMM", f"{GUIDE}, INITiate:IMMediate")
    fetch_power = Measurement(":FETC{head}:POW?", float, f"{GUIDE}, FETCh:POWer")

    def __init__(self, resource: Any, *, slots: tuple[int, ...] = (1,), channel: int = 1,
                 range_dbm: float | None = None, **kwargs: Any) -> None:
        super().__init__(resource, **kwargs)
        self.slots = tuple(int(slot) for slot in slots)
        if not self.slots or any(not 1 <= slot <= 17 for slot in self.slots):
            raise ValueError(f"{self.name}: sensor slots {list(self.slots)} are not mainframe slots")
        self.channel = channel
        self.range_dbm = range_dbm
        self._wavelength_nm: float | None = None
        self._averaging_time_s: float | None = None
        self._setup_done = False

    @property
    def channel_count(self) -> int:
        return len(self.slots)

    def _head(self, slot: int) -> str:
        return f"{slot}:CHAN{self.channel}"

    @staticmethod
    def _master(slot: int) -> str:
        return f"{slot}:CHAN{MASTER_CHANNEL}"

    def setup(self) -> None:
        commands = []
        for slot in self.slots:
            head, master = self._head(slot), self._master(slot)
            commands += [self.power_unit_w(head=head), self.continuous(master=master)]
            if self.range_dbm is None:
                commands.append(self.auto_range(master=master, state=1))
            else:
                commands += [self.auto_range(master=master, state=0),
                             self.power_range(head=head, range_dbm=self.range_dbm)]
        self.send_configuration(commands)
        self._setup_done = True

    def _wavelength_commands(self, wavelength_nm: float) -> list[str]:
        return [self.wavelength(head=self._head(slot), wavelength_nm=wavelength_nm) for slot in self.slots]

    def _averaging_commands(self, averaging_time_s: float) -> list[str]:
        averaging = format_averaging_time(averaging_time_s)
        return [self.averaging_time(master=self._master(slot), averaging=averaging) for slot in self.slots]

    def trigger(self) -> None:
        for slot in self.slots:
            self.write(self.trigger_head(head=self._head(slot)))

    def fetch(self) -> PowerReadings:
        power_w = np.array([self.query_float(self.fetch_power(head=self._head(slot))) for slot in self.slots])
        over_range = np.array([is_over_range(value, OVER_RANGE_THRESHOLD_816X) for value in power_w])
        return PowerReadings(np.where(over_range, np.nan, power_w), over_range)

    def read_all(self) -> PowerReadings:
        self.trigger()
        return self.fetch()
