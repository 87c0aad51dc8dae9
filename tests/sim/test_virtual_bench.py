"""The virtual bench builds the guides' instruments from a station description: C models, dual heads,
reproducible noise, and faults that keep the guide's reply format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyvisa

from sim_instruments.faults import Fault
from sim_instruments.virtual_bench import VirtualBench

from .conftest import csv_floats


@dataclass
class _Entry:
    name: str
    role: str
    driver: str
    model: str = ""
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Station:
    instruments: list[_Entry]
    launch_ports: list[int]
    receive_channels: list[tuple[str, int]]


def _station(meter: _Entry) -> _Station:
    return _Station([_Entry("source", "source", "keysight_816x_source"),
                     _Entry("switch", "switch", "keysight_n773x", "N7734C", {"port_count": 4}), meter],
                    [1, 2, 3, 4], [(meter.name, slot) for slot in (1, 2, 3, 4)])


def _open(bench: VirtualBench, name: str, manager: pyvisa.ResourceManager) -> Any:
    return manager.open_resource(bench.addresses[name], read_termination="\n", write_termination="\n", timeout=2000)


def test_c_models_are_served_as_themselves() -> None:
    with VirtualBench(_station(_Entry("meter", "meter", "keysight_n774x", "N7744C")), seed=1) as bench:
        manager = pyvisa.ResourceManager("@py")
        try:
            assert _open(bench, "meter", manager).query("*IDN?").split(",")[1] == "N7744C"
            assert _open(bench, "switch", manager).query("*IDN?").split(",")[1] == "N7734C"
        finally:
            manager.close()


def test_a_station_that_reads_head_2_gets_81635a_dual_heads() -> None:
    meter = _Entry("meter", "meter", "keysight_8163_sensor", "8163B", {"slots": [1, 2, 3, 4], "channel": 2})
    with VirtualBench(_station(meter), seed=1) as bench:
        manager = pyvisa.ResourceManager("@py")
        try:
            sensor = _open(bench, "meter", manager)
            sensor.write(":SENS1:CHAN2:POW:ATIM 1MS")
            assert sensor.query("SYST:ERR?").startswith("-306")
            sensor.write(":SENS1:CHAN1:POW:ATIM 1MS")
            assert sensor.query("SYST:ERR?").startswith("+0")
        finally:
            manager.close()


def _readings(seed: int) -> list[list[float]]:
    with VirtualBench(_station(_Entry("meter", "meter", "keysight_n774x", "N7744A")), seed=seed) as bench:
        manager = pyvisa.ResourceManager("@py")
        try:
            source, meter = _open(bench, "source", manager), _open(bench, "meter", manager)
            source.write(":SOUR1:CHAN1:POW:STAT 1")
            for slot in (1, 2, 3, 4):
                meter.write(f"INIT{slot}:CONT 0")
            return [csv_floats(meter.query("FETC:POW:ALL:CSV?"))]
        finally:
            manager.close()


def test_the_same_seed_gives_the_same_readings_on_the_bench() -> None:
    assert _readings(5) == _readings(5)
    assert _readings(5) != _readings(6)


def test_a_reading_fault_keeps_the_quoted_csv_reply_quoted() -> None:
    with VirtualBench(_station(_Entry("meter", "meter", "keysight_n774x", "N7744A")), seed=1) as bench:
        fault = bench.inject("meter", Fault("overrange", phase="reading", channel=2))
        manager = pyvisa.ResourceManager("@py")
        try:
            reply = _open(bench, "meter", manager).query("FETC:POW:ALL:CSV?").strip()
        finally:
            manager.close()
        assert fault.strikes == 1
        assert reply.startswith('"') and reply.endswith('"')
        assert csv_floats(reply)[1] == 9.9e37


def test_a_reading_fault_does_not_strike_the_continuous_mode_setting() -> None:
    with VirtualBench(_station(_Entry("meter", "meter", "keysight_n774x", "N7744A")), seed=1) as bench:
        fault = bench.inject("meter", Fault("timeout", phase="reading"))
        manager = pyvisa.ResourceManager("@py")
        try:
            meter = _open(bench, "meter", manager)
            meter.write("INIT1:CONT 0")  # a setting: the fault waits for a reading
            assert meter.query("SYST:ERR?").startswith("+0")
            assert fault.strikes == 0
        finally:
            manager.close()
