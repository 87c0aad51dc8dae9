"""Keysight N7744A/N7745A/N7747A/N7748A and N7744C/N7745C/N7747C/N7748C multiport power meters.

What the N77xx Series Programming Guide (edition 7, 2015) says, and what this driver does:

* `:INITiate[n][:IMMediate]` "completes one full trigger cycle, that is, one measurement is
  made for selected [n]" (a missing [n] is 1), and `FETCh[n]:POWer:ALL:CSV?` "returns the
  value the previous software trigger measured" for every slot: a reading triggers each slot
  used (`INITn:IMM`, sent in one segment with the fetch) and fetches all slots in one
  transaction (always W).
* The meters power up measuring continuously, and an immediate trigger while continuous is
  refused (-213 "Init ignored"): `setup()` sends `INITn:CONT 0` for every slot used, and a
  reconnect replays it with the rest of the configuration.
* The example reply of `FETC:POW:ALL:CSV?` is a quoted string: quotes are accepted.
* `READ:POW:ALL?` (binary block, 4-byte floats) "provides its own software triggering"
  (`binary_read = true`). The guide's conventions page says binary data is big endian
  while every command description says Intel order: `byte_order` is a setting,
  little-endian by default.
* C models: the same per-slot SENSe/INITiate/FETCh commands; public code written against
  a real N7744C sends `SENSn:POW:WAV`, `SENSn:POW:RANG[:AUTO]`, `SENSn:POW:UNIT` and
  `READn:POW?` per slot. Their `SENS:POW:WAV:ALL` and `SENSn:POW:GAIN:AUTO` are not used
  here, so both generations get the same commands [verify the C guide's range limits].

Settings are cached: a production run changes wavelength twice per cable, and re-sending
unchanged settings would only add round trips.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from drivers.cached_settings import CachedMeterSettings
from drivers.capabilities import PowerReadings
from drivers.declarative import Action, Measurement, Setting
from drivers.errors import InstrumentCommunicationError, InstrumentTimeout
from drivers.options import option
from drivers.over_range import OVER_RANGE_THRESHOLD, flag_over_range, parse_csv_values
from drivers.scpi import ScpiInstrument

SLOT_COUNT = {"N7744A": 4, "N7745A": 8, "N7747A": 2, "N7748A": 4,
              "N7744C": 4, "N7745C": 8, "N7747C": 2, "N7748C": 4}
GUIDE = "N77xx Series Programming Guide ed. 7 (2015)"


def format_wavelength_nm(wavelength_nm: float) -> str:
    return f"{wavelength_nm:g}nm"


def format_averaging_time(averaging_time_s: float) -> str:
    return f"{averaging_time_s * 1e3:g}ms"


@dataclass(frozen=True)
class N774xOptions:
    """What a station file may set for an N774x (`[[meters]]` table)."""

    slots: tuple[int, ...] | None = field(default=None, metadata=option(
        "the detector slots used, e.g. [1, 2, 3, 4]; default all", minimum=1, maximum=8))
    range_dbm: float | None = field(default=None, metadata=option(
        "a fixed range in dBm (+10 … -30, 10 dB steps); default auto range", minimum=-30, maximum=10))
    binary_read: bool = field(default=False, metadata=option("read with the self-triggering READ:POW:ALL?"))
    binary_big_endian: bool = field(default=False, metadata=option("binary blocks big-endian"))
    byte_order: Literal["little", "big"] | None = field(default=None, metadata=option(
        "binary blocks' byte order", choices=("little", "big")))
    compound_trigger: bool = field(default=True, metadata=option(
        "trigger every slot in one program message (`;`-separated); false: one line per slot"))


@dataclass(frozen=True)
class LoggedPower:
    """A logging-mode acquisition: `power_w[channel, point]` in W, one row per selected slot."""

    slots: tuple[int, ...]
    averaging_time_s: float
    power_w: np.ndarray
    over_range: np.ndarray


class KeysightN774x(CachedMeterSettings, ScpiInstrument):
    """One N774x mainframe; `slots` selects which of its detectors are used."""

    models = tuple(SLOT_COUNT)
    Options = N774xOptions
    read_termination = "\n"

    # The commands, as the guide gives them.
    continuous = Setting("INIT{slot}:CONT {state}", f"{GUIDE}, INITiate subtree", {"state": (0, 1)})
    power_unit_w = Setting("SENS{slot}:POW:UNIT 1", f"{GUIDE}, SENSe subtree (0 dBm, 1 W)")
    auto_range = Setting("SENS{slot}:POW:RANG:AUTO {state}", f"{GUIDE}, SENSe subtree", {"state": (0, 1)})
    power_range = Setting("SENS{slot}:POW:RANG {range_dbm:g}DBM", f"{GUIDE}, SENSe subtree")
    wavelength = Setting("SENS{slot}:POW:WAV {wavelength}", f"{GUIDE}, SENSe subtree")
    averaging_time = Setting("SENS{slot}:POW:ATIM {averaging}", f"{GUIDE}, SENSe subtree")
    trigger_slot = Action(":INIT{slot}:IMM", f"{GUIDE}, INITiate subtree: one measurement for slot [n]")
    fetch_all_csv = Measurement("FETC:POW:ALL:CSV?", parse_csv_values,
                                f"{GUIDE}, FETCh subtree: the previous software trigger's values, W")
    read_all_binary = Measurement("READ:POW:ALL?", source=f"{GUIDE}, READ subtree: triggers by itself")

    def __init__(self, resource: Any, *, slots: tuple[int, ...] | None = None,
                 range_dbm: float | None = None, binary_read: bool = False,
                 binary_big_endian: bool = False, byte_order: str | None = None, compound_trigger: bool = True,
                 **kwargs: Any) -> None:
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
        if byte_order is not None and byte_order not in ("little", "big"):
            raise ValueError(f"{self.name}: byte_order must be 'little' or 'big', not {byte_order!r}")
        self.binary_big_endian = binary_big_endian if byte_order is None else byte_order == "big"
        self._slot_index = np.array([slot - 1 for slot in self.slots], dtype=np.intp)
        self._all_slots = self.slots == tuple(range(1, available + 1))
        # One program message triggers every slot used at the same moment (SCPI-1999 vol. 1,
        # 6.2.4: commands separated by `;`, each rooted by its leading colon), in one write.
        triggers = self.trigger_slot.each("slot", self.slots)
        self._triggers = [";".join(triggers)] if compound_trigger else triggers
        self._wavelength_nm: float | None = None
        self._averaging_time_s: float | None = None
        self._setup_done = False
        #: A trigger was sent on this link and no fetch has consumed it yet.
        self.trigger_armed = False
        self._integration_ends_at: float | None = None  # of the armed trigger, where known
        self._answered_at = 0.0  # when the last fetch sent will have been answered

    @property
    def channel_count(self) -> int:
        return len(self.slots)

    def setup(self) -> None:
        """Single measurement (off the power-on continuous mode), power unit W and the range
        policy, for every slot used; sent once per session and replayed after a reconnect."""
        commands = self.continuous.each("slot", self.slots, state=0)
        commands += self.power_unit_w.each("slot", self.slots)
        if self.range_dbm is None:
            commands += self.auto_range.each("slot", self.slots, state=1)
        else:
            commands += self.auto_range.each("slot", self.slots, state=0)
            commands += self.power_range.each("slot", self.slots, range_dbm=self.range_dbm)
        self.send_configuration(commands)
        self._setup_done = True

    def _wavelength_commands(self, wavelength_nm: float) -> list[str]:
        return self.wavelength.each("slot", self.slots, wavelength=format_wavelength_nm(wavelength_nm))

    def _averaging_commands(self, averaging_time_s: float) -> list[str]:
        return self.averaging_time.each("slot", self.slots, averaging=format_averaging_time(averaging_time_s))

    @property
    def queues_triggers(self) -> bool:
        """The next reading's triggers may follow a fetch in its program message
        (`begin_fetch(trigger_next=True)`): the meter executes them once it has answered, so the
        new integration starts as the fetched one ends. Not with `READ` (it triggers itself) nor
        with `compound_trigger = false` (a meter that takes one command per message)."""
        return not self.binary_read and len(self._triggers) == 1

    def trigger(self) -> None:
        """One measurement on every slot used (`:INITn:IMM` each, a bare `INIT:IMM` being slot 1
        only), in one program message unless `compound_trigger` is off."""
        if self.binary_read:
            return  # READ:POW:ALL? starts its own measurement
        for command in self._triggers:
            self.write(command)
        # The meter works through its input in order: a trigger sent behind a fetch starts once
        # that fetch has been answered.
        self._armed(max(self.clock(), self._answered_at))

    def _armed(self, starts_at: float) -> None:
        # When the integration ends tells the reader when the fetch's reply is due.
        self._integration_ends_at = starts_at + self._averaging_time_s if self._averaging_time_s else None
        self.trigger_armed = True

    def _fetch_sent(self) -> None:
        self.trigger_armed = False
        if self._integration_ends_at is not None:
            self._expect_reply_at(self._integration_ends_at)
            self._answered_at = self._integration_ends_at + self.round_trip_s
            self._integration_ends_at = None

    def fetch(self) -> PowerReadings:
        """All slots' last reading (W); selected slots only."""
        self.begin_fetch()
        return self.end_fetch()

    # -- split fetch: send the query now, read the reply later (several meters in parallel) --------
    def begin_fetch(self, *, trigger_next: bool = False) -> bool:
        """Send the fetch query without waiting for its reply (`READ:POW:ALL?` in binary mode,
        which also starts the measurement: one transaction per reading). `trigger_next`: the
        next reading's triggers follow the query in the same write, so that integration starts
        as soon as the meter has answered, with no round trip to the host in between."""
        command = self.read_all_binary() if self.binary_read else self.fetch_all_csv()
        queue = trigger_next and self.queues_triggers
        # One program message: the triggers execute once the fetch has been answered (IEEE 488.2
        # sequential commands), and no new message reaches the meter while a reply is unread.
        self.send_query(f"{command};{self._triggers[0]}" if queue else command)
        fetched_ends_at = self._integration_ends_at
        self._fetch_sent()
        if queue:  # the new integration starts as the fetched one ends
            self._armed(max(self.clock(), fetched_ends_at or 0.0))
        return True

    def end_fetch(self) -> PowerReadings:
        """The reply to `begin_fetch()`: the same readings `fetch()` returns."""
        if self.binary_read:
            command = self.read_all_binary()
            return self._select_slots(command, self.read_binary_reply(command, "f", self.binary_big_endian))
        return self._parse_csv(self.read_reply(self.fetch_all_csv()))

    def _parse_csv(self, reply: str) -> PowerReadings:
        command = self.fetch_all_csv()
        try:
            values = self.fetch_all_csv.parse(reply)
        except ValueError as error:
            raise InstrumentCommunicationError(self.name, command, f"unparseable reply {reply!r}") from error
        self._check_value_count(command, len(values))
        selected = values if self._all_slots else [values[slot - 1] for slot in self.slots]
        return PowerReadings(*flag_over_range(selected))

    def _check_value_count(self, command: str, count: int) -> None:
        # Exactly one value per slot: a reply cut short could otherwise still cover the
        # slots in use and pass a partial reading off as a whole one.
        if count != self.slot_count:
            raise InstrumentCommunicationError(
                self.name, command, f"expected {self.slot_count} values (one per slot), got {count}")

    def _select_slots(self, command: str, power_all_w: np.ndarray) -> PowerReadings:
        self._check_value_count(command, power_all_w.size)
        selected_w = power_all_w[self._slot_index]
        over_range = ~(np.abs(selected_w) < OVER_RANGE_THRESHOLD)  # NaN and ±inf included
        return PowerReadings(np.where(over_range, np.nan, selected_w), over_range)

    def read_all(self) -> PowerReadings:
        self.trigger()
        return self.fetch()

    def _after_reconnect(self) -> None:
        super()._after_reconnect()
        self.trigger_armed = False  # a trigger sent on the old link is gone with it
        self._integration_ends_at, self._answered_at = None, 0.0

    # -- logging mode: many points per channel, acquired by the instrument --------------
    def start_logging(self, points: int, averaging_time_s: float) -> None:
        """Stop any running function, arm logging of `points` readings per slot, start it."""
        if not 1 <= points <= 1_000_000:
            raise ValueError(f"{self.name}: {points} logging points outside 1..1000000")
        if not self._setup_done:
            self.setup()
        commands: list[str] = []
        for slot in self.slots:
            commands += [f"SENS{slot}:FUNC:STAT LOGG,STOP", self.continuous(slot=slot, state=0), f"TRIG{slot}:INP IGN",
                         f"SENS{slot}:FUNC:PAR:LOGG {points},{format_averaging_time(averaging_time_s)}"]
        commands += [f"SENS{slot}:FUNC:STAT LOGG,STAR" for slot in self.slots]
        # Logging changes the averaging time: the cached one no longer holds.
        self._averaging_time_s = None
        self.send_configuration(commands)

    def logging_complete(self) -> bool:
        """True when every slot reports `...,COMPLETE` to `SENSn:FUNC:STAT?`."""
        for slot in self.slots:
            command = f"SENS{slot}:FUNC:STAT?"
            reply = self.query(command)
            if "," not in reply:
                raise InstrumentCommunicationError(self.name, command, f"unexpected reply {reply!r}")
            if reply.rsplit(",", 1)[1].strip().upper() != "COMPLETE":
                return False
        return True

    def wait_logging(self, timeout_s: float, poll_interval_s: float = 0.01,
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> None:
        started = clock()
        while not self.logging_complete():
            if clock() - started > timeout_s:
                raise InstrumentTimeout(self.name, f"SENS{self.slots[0]}:FUNC:STAT?",
                                        f"logging not complete after {timeout_s:g} s")
            sleep(poll_interval_s)

    def fetch_logging(self, averaging_time_s: float) -> LoggedPower:
        """`SENSn:FUNC:RES?` for each slot: binary blocks of 4-byte floats in W."""
        rows = [self.query_binary_values(f"SENS{slot}:FUNC:RES?", "f", self.binary_big_endian)
                for slot in self.slots]
        if len({row.size for row in rows}) != 1:
            raise InstrumentCommunicationError(self.name, "SENSn:FUNC:RES?",
                                               f"slots returned different point counts {[r.size for r in rows]}")
        power_w = np.vstack(rows)
        over_range = ~np.isfinite(power_w) | (np.abs(power_w) >= OVER_RANGE_THRESHOLD)
        return LoggedPower(self.slots, averaging_time_s, np.where(over_range, np.nan, power_w), over_range)

    def acquire_logging(self, points: int, averaging_time_s: float, timeout_s: float | None = None,
                        poll_interval_s: float | None = None) -> LoggedPower:
        """Fast acquisition: `points` readings per slot at `averaging_time_s` each, fetched at the end."""
        duration_s = points * averaging_time_s
        self.start_logging(points, averaging_time_s)
        self.wait_logging(timeout_s if timeout_s is not None else 2.0 * duration_s + 1.0,
                          poll_interval_s if poll_interval_s is not None else max(duration_s / 20, 0.001))
        return self.fetch_logging(averaging_time_s)
