"""Keysight N7744A/N7745A/N7747A/N7748A multiport optical power meters.

All slots are read in one transaction (`FETC:POW:ALL:CSV?`, always in W), so
a whole MPO row costs one round trip. Settings are cached: a production run
changes wavelength twice per cable, and re-sending unchanged settings would
only add round trips.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from drivers.cached_settings import CachedMeterSettings
from drivers.capabilities import PowerReadings
from drivers.errors import InstrumentCommunicationError, InstrumentTimeout
from drivers.scpi import OVER_RANGE_THRESHOLD, ScpiInstrument

SLOT_COUNT = {"N7744A": 4, "N7745A": 8, "N7747A": 2, "N7748A": 4}


def format_wavelength_nm(wavelength_nm: float) -> str:
    return f"{wavelength_nm:g}nm"


def format_averaging_time(averaging_time_s: float) -> str:
    return f"{averaging_time_s * 1e3:g}ms"


@dataclass(frozen=True)
class LoggedPower:
    """A logging-mode acquisition: `power_w[channel, point]` in W, one row per selected slot."""

    slots: tuple[int, ...]
    averaging_time_s: float
    power_w: np.ndarray
    over_range: np.ndarray


class KeysightN774x(CachedMeterSettings, ScpiInstrument):
    """One N774xA mainframe; `slots` selects which of its detectors are used."""

    models = tuple(SLOT_COUNT)
    read_termination = "\n"

    def __init__(self, resource: Any, *, slots: tuple[int, ...] | None = None,
                 range_dbm: float | None = None, binary_read: bool = False,
                 binary_big_endian: bool = False, byte_order: str | None = None, **kwargs: Any) -> None:
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
        # Binary blocks (READ:POW:ALL?, logging results) are little-endian 4-byte floats
        # by default; `byte_order = "big"` in the station config flips both.
        self.binary_big_endian = binary_big_endian if byte_order is None else byte_order == "big"
        self._slot_index = np.array([slot - 1 for slot in self.slots], dtype=np.intp)
        self._all_slots = self.slots == tuple(range(1, available + 1))
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
        """Power unit W and the range policy; sent once per session."""
        commands = [f"SENS{slot}:POW:UNIT 1" for slot in self.slots]
        if self.range_dbm is None:
            commands += [f"SENS{slot}:POW:RANG:AUTO 1" for slot in self.slots]
        else:
            commands += [f"SENS{slot}:POW:RANG:AUTO 0" for slot in self.slots]
            commands += [f"SENS{slot}:POW:RANG {self.range_dbm:g}DBM" for slot in self.slots]
        self.send_configuration(commands)
        self._setup_done = True

    def _wavelength_commands(self, wavelength_nm: float) -> list[str]:
        return [f"SENS{slot}:POW:WAV {format_wavelength_nm(wavelength_nm)}" for slot in self.slots]

    def _averaging_commands(self, averaging_time_s: float) -> list[str]:
        return [f"SENS{slot}:POW:ATIM {format_averaging_time(averaging_time_s)}" for slot in self.slots]

    @property
    def queues_triggers(self) -> bool:
        """A trigger may be sent while a fetch reply is still owed: the meter works through its
        input in order, so the new integration starts once the fetched one has ended."""
        return not self.binary_read

    def trigger(self) -> None:
        if self.binary_read:
            return  # READ:POW:ALL? starts its own measurement
        self.write("INIT:IMM")
        # The meter works through its input in order: a trigger queued behind a fetch starts
        # once that fetch has been answered. When the integration ends tells the reader when
        # to be awake for the fetch's reply.
        starts_at = max(time.monotonic(), self._answered_at)
        self._integration_ends_at = starts_at + self._averaging_time_s if self._averaging_time_s else None
        self.trigger_armed = True

    def _fetch_sent(self) -> None:
        self.trigger_armed = False
        if self._integration_ends_at is not None:
            self._expect_reply_at(self._integration_ends_at)
            self._answered_at = self._integration_ends_at + self.round_trip_s
            self._integration_ends_at = None

    def fetch(self) -> PowerReadings:
        """Fetch all slots' last reading (W); selected slots only."""
        if self.binary_read:
            command = "READ:POW:ALL?"
            power_all_w = self.query_binary_values(command, "f", self.binary_big_endian)
        else:
            self._fetch_sent()
            return self._parse_csv(self.query("FETC:POW:ALL:CSV?"))
        return self._select_slots(command, power_all_w)

    # -- split fetch: send the query now, read the reply later (several meters in parallel) --------
    def begin_fetch(self) -> bool:
        """Send the fetch query without waiting for its reply (`READ:POW:ALL?` in binary mode,
        which also starts the measurement: one transaction per reading)."""
        self.write("READ:POW:ALL?" if self.binary_read else "FETC:POW:ALL:CSV?")
        self._fetch_sent()
        return True

    def end_fetch(self) -> PowerReadings:
        """The reply to `begin_fetch()`: the same readings `fetch()` returns."""
        command = "READ:POW:ALL?" if self.binary_read else "FETC:POW:ALL:CSV?"
        try:
            if self.binary_read:
                power_all_w = np.asarray(self.resource.read_binary_values(
                    datatype="f", is_big_endian=self.binary_big_endian, container=np.array), dtype=np.float64)
            else:
                reply = self._receive_line().strip()
        except Exception as error:  # noqa: BLE001 - translated to a typed error
            raise self._translate(command, error) from error
        if self.binary_read:
            return self._select_slots(command, power_all_w)
        return self._parse_csv(reply)

    def _parse_csv(self, reply: str) -> PowerReadings:
        # Plain floats, one numpy array at the end: on 2-8 values numpy's per-call cost is
        # most of the work, and this runs once per mainframe and reading.
        command = "FETC:POW:ALL:CSV?"
        try:
            values = [float(field) for field in reply.split(",")]
        except ValueError as error:
            raise InstrumentCommunicationError(self.name, command, f"unparseable reply {reply!r}") from error
        self._check_value_count(command, len(values))
        selected = values if self._all_slots else [values[slot - 1] for slot in self.slots]
        over_range = [not abs(value) < OVER_RANGE_THRESHOLD for value in selected]  # NaN and ±inf included
        if any(over_range):
            selected = [math.nan if over else value for value, over in zip(selected, over_range, strict=True)]
        return PowerReadings(np.array(selected, dtype=np.float64), np.array(over_range, dtype=bool))

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
            commands += [f"SENS{slot}:FUNC:STAT LOGG,STOP", f"INIT{slot}:CONT 0", f"TRIG{slot}:INP IGN",
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
