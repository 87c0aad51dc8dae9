"""The simulated N774x with its logging function (fast acquisition), as the programming guide describes.

`:SENSe[n]:FUNCtion:PARameter:LOGGing <points>,<averaging time>` sets it up,
`:SENSe[n]:FUNCtion:STATe LOGGing,STARt` starts it (at once with trigger input
IGNore; at the next software trigger otherwise: "in logging mode [INITiate]
triggers all channels independent from [n]"), `:SENSe[n]:FUNCtion:STATe?`
reports `LOGGING_STABILITY,PROGRESS|COMPLETE`, `:SENSe[n]:FUNCtion:RESult?`
returns the points as a binary block of 4-byte floats in W. Settings changed
while logging runs give -284 "Function running"; results asked for before any
logging give -286 "No function data".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from sim_instruments.dialects.keysight_n774x import AVERAGING_RANGE_S, TIME_UNITS, SimKeysightN774x
from sim_instruments.scpi_commands import Call, ScpiError, choice, number_with_unit
from sim_instruments.scpi_server import binary_block

TRIGGER_INPUTS = ("IGNore", "SMEasure", "CMEasure", "MMEasure")


@dataclass
class LoggingRun:
    points: int
    averaging_time_s: float
    started_at: float | None = None  # None: armed, waiting for a trigger
    data_w: np.ndarray | None = None


class SimKeysightN774xLogging(SimKeysightN774x):
    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - same as the base
        self.logging_parameters: dict[int, tuple[int, float]] = {}
        self.runs: dict[int, LoggingRun] = {}
        self.trigger_input: dict[int, str] = {}
        super().__init__(*args, **kwargs)
        declare = self.declare
        declare(":SENSe[n]:FUNCtion:PARameter:LOGGing", self._set_logging)
        declare(":SENSe[n]:FUNCtion:PARameter:LOGGing?", self._get_logging)
        declare(":SENSe[n]:FUNCtion:STATe", self._logging_state)
        declare(":SENSe[n]:FUNCtion:STATe?", self._logging_status)
        declare(":SENSe[n]:FUNCtion:RESult?", self._logging_result)
        declare(":TRIGger[n]:INPut", self._set_trigger_input)
        declare(":TRIGger[n]:INPut?", lambda call: self.trigger_input[self._slot_number(call)].upper()[:4])

    def power_on(self) -> None:
        super().power_on()
        self.logging_parameters = {}
        self.runs = {}
        self.trigger_input = {slot: "IGNore" for slot in self.slots}

    def _running(self, slot: int) -> bool:
        run = self.runs.get(slot)
        if run is None or run.data_w is None:
            return run is not None  # armed counts as running: the function is on
        return self.now() < run.started_at + run.points * run.averaging_time_s

    def _settable(self, call: Call) -> int:
        slot = super()._settable(call)
        if self._running(slot):
            raise ScpiError(-284, "Function running")
        return slot

    def _set_logging(self, call: Call) -> None:
        slot = self._settable(call)
        try:
            points = int(call.parameter(0))
        except ValueError:
            raise ScpiError(-104, "Data type error") from None
        averaging_time_s = number_with_unit(call.parameter(1), TIME_UNITS)
        low_s, high_s = AVERAGING_RANGE_S
        if not 1 <= points <= 1_000_000 or not low_s <= averaging_time_s <= high_s:
            raise ScpiError(-222, "Data out of range")
        self.logging_parameters[slot] = (points, averaging_time_s)

    def _get_logging(self, call: Call) -> str:
        points, averaging_time_s = self.logging_parameters.get(self._slot_number(call), (100, 1e-4))
        return f"{points:+d},{averaging_time_s:+.8E}"

    def _logging_state(self, call: Call) -> None:
        slot = self._slot_number(call)
        choice(call.parameter(0), ("LOGGing",))
        action = choice(call.parameter(1), ("STARt", "STOP"))
        if action == "STOP":
            self.runs.pop(slot, None)
            return
        if self._running(slot):
            raise ScpiError(-284, "Function running")
        if slot not in self.logging_parameters:
            raise ScpiError(-221, "Settings conflict")
        points, averaging_time_s = self.logging_parameters[slot]
        self.runs[slot] = LoggingRun(points, averaging_time_s)
        if self.trigger_input[slot] == "IGNore":
            self._start_runs([slot])

    def _start_runs(self, slots: list[int]) -> None:
        for slot in slots:
            run = self.runs[slot]
            with self.model.lock:
                self.model.channels[(self.name, slot)].averaging_time_s = run.averaging_time_s
            run.data_w = np.array([self.model.read_meter_w(self.name)[slot - 1] for _ in range(run.points)])
            run.started_at = self.now()

    def _initiate(self, call: Call) -> None:
        armed = [slot for slot, run in self.runs.items() if run.data_w is None]
        if armed:  # "in logging mode it triggers all channels independent from [n]"
            self._slot_number(call)
            self._start_runs(armed)
            return
        super()._initiate(call)

    def _set_trigger_input(self, call: Call) -> None:
        slot = self._settable(call)
        self.trigger_input[slot] = choice(call.parameter(), TRIGGER_INPUTS)

    def _logging_status(self, call: Call) -> str:
        slot = self._slot_number(call)
        if slot not in self.runs:
            return "NONE,NONE"
        return "LOGGING_STABILITY,PROGRESS" if self._running(slot) else "LOGGING_STABILITY,COMPLETE"

    def _logging_result(self, call: Call) -> bytes | None:
        slot = self._slot_number(call)
        run = self.runs.get(slot)
        if run is None or run.data_w is None:
            raise ScpiError(-286, "No function data")
        if self._running(slot):
            raise ScpiError(-284, "Function running")
        return binary_block(struct.pack(f"{self.binary_format}{run.data_w.size}f", *run.data_w))
