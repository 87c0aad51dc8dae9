"""The simulated N774xA with its logging function (fast acquisition), as the programming guide describes.

`SENSn:FUNC:PAR:LOGG <points>,<averaging time>` arms, `SENSn:FUNC:STAT LOGG,STAR`
starts, `SENSn:FUNC:STAT?` reports `LOGGING_STABILITY,PROGRESS|COMPLETE`,
`SENSn:FUNC:RES?` returns the points as a binary block of little-endian
4-byte floats in W. Settings changed while logging runs raise -284; results
asked for before any logging raise -286.
"""

from __future__ import annotations

import re
import struct
import time

import numpy as np

from sim_instruments.dialects.keysight_n774x import SimKeysightN774x
from sim_instruments.scpi_server import binary_block

_TIME_SCALE = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}


class SimKeysightN774xLogging(SimKeysightN774x):
    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - same as the base
        super().__init__(*args, **kwargs)
        self.logging_parameters: dict[int, tuple[int, float]] = {}
        self.logging_started: dict[int, float] = {}
        self.logging_data: dict[int, np.ndarray] = {}
        self.continuous = {slot: True for slot in range(1, self.slot_count + 1)}
        self.trigger_input = {slot: "IGN" for slot in range(1, self.slot_count + 1)}
        self.route(r"SENS(\d+):FUNC:PAR:LOGG (\d+),([0-9.eE+-]+)\s*(s|ms|us)?", self._set_logging)
        self.route(r"SENS(\d+):FUNC:STAT LOGG,(STOP|STAR|START)", self._logging_state)
        self.route(r"SENS(\d+):FUNC:STAT\?", self._logging_status)
        self.route(r"SENS(\d+):FUNC:RES\?", self._logging_result)
        self.route(r"INIT(\d+):CONT ([01])", lambda m: self.continuous.__setitem__(self._slot(m), m.group(2) == "1"))
        self.route(r"TRIG(\d+):INP (IGN|SME|CME|MME)", lambda m: self.trigger_input.__setitem__(self._slot(m),
                                                                                               m.group(2).upper()))

    def _running(self, slot: int) -> bool:
        if slot not in self.logging_started:
            return False
        points, averaging_s = self.logging_parameters[slot]
        return time.monotonic() < self.logging_started[slot] + points * averaging_s

    def _set_logging(self, match: re.Match[str]) -> None:
        slot = self._slot(match)
        if self._running(slot):
            self.push_error(-284, "Function running")
            return
        points = int(match.group(2))
        averaging_s = float(match.group(3)) * _TIME_SCALE[(match.group(4) or "").lower()]
        if not 1 <= points <= 1_000_000 or not 1e-5 <= averaging_s <= 10:
            raise ValueError("logging parameters")
        self.logging_parameters[slot] = (points, averaging_s)

    def _logging_state(self, match: re.Match[str]) -> None:
        slot = self._slot(match)
        if match.group(2).upper() == "STOP":
            self.logging_started.pop(slot, None)
            return
        if slot not in self.logging_parameters:
            self.push_error(-221, "Settings conflict")
            return
        points, averaging_s = self.logging_parameters[slot]
        with self.model.lock:
            self.model.channels[(self.name, slot)].averaging_time_s = averaging_s
        samples = np.array([self.model.read_meter_w(self.name)[slot - 1] for _ in range(points)])
        self.logging_data[slot] = samples
        self.logging_started[slot] = time.monotonic()

    def _logging_status(self, match: re.Match[str]) -> str:
        slot = self._slot(match)
        if slot not in self.logging_started:
            return "NONE,NONE"
        return "LOGGING_STABILITY,PROGRESS" if self._running(slot) else "LOGGING_STABILITY,COMPLETE"

    def _logging_result(self, match: re.Match[str]) -> bytes | None:
        slot = self._slot(match)
        if slot not in self.logging_data:
            self.push_error(-286, "No function data")
            return None
        if self._running(slot):
            self.push_error(-284, "Function running")
            return None
        data = self.logging_data[slot]
        return binary_block(struct.pack(f"<{data.size}f", *data))
