"""Protocol tests for the N774x logging mode (fast acquisition) and the binary READ:POW:ALL? byte order."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from drivers.errors import InstrumentCommunicationError, InstrumentTimeout, ScpiError
from drivers.keysight_n774x import KeysightN774x
from tests.protocol import expected_protocol

IDN = ("*IDN?", "Keysight Technologies,N7744A,MY00000001,V2.1.0")
NO_ERROR = ("SYST:ERR?", '+0,"No error"')


def _ok(*commands: str) -> list[tuple[str, str | None]]:
    return [exchange for command in commands for exchange in ((command, None), NO_ERROR)]


def _block(values: list[float], byte_order: str = "<") -> bytes:
    payload = struct.pack(f"{byte_order}{len(values)}f", *values)
    length = str(len(payload)).encode()
    return b"#" + str(len(length)).encode() + length + payload


SETUP = _ok("INIT1:CONT 0", "INIT2:CONT 0", "SENS1:POW:UNIT 1", "SENS2:POW:UNIT 1", "SENS1:POW:RANG:AUTO 1",
            "SENS2:POW:RANG:AUTO 1")
START = _ok("SENS1:FUNC:STAT LOGG,STOP", "INIT1:CONT 0", "TRIG1:INP IGN", "SENS1:FUNC:PAR:LOGG 4,1ms",
            "SENS2:FUNC:STAT LOGG,STOP", "INIT2:CONT 0", "TRIG2:INP IGN", "SENS2:FUNC:PAR:LOGG 4,1ms",
            "SENS1:FUNC:STAT LOGG,STAR", "SENS2:FUNC:STAT LOGG,STAR")


def test_logging_acquisition_arms_starts_polls_and_fetches_binary_watts() -> None:
    exchanges = [IDN, *SETUP, *START,
                 ("SENS1:FUNC:STAT?", "LOGGING_STABILITY,PROGRESS"),
                 ("SENS1:FUNC:STAT?", "LOGGING_STABILITY,COMPLETE"), ("SENS2:FUNC:STAT?", "LOGGING_STABILITY,COMPLETE"),
                 ("SENS1:FUNC:RES?", _block([1e-3, 1e-3, 9.9e37, 1e-3])),
                 ("SENS2:FUNC:RES?", _block([5e-4, 5e-4, 5e-4, 0.0]))]
    with expected_protocol(KeysightN774x, exchanges, slots=(1, 2)) as meter:
        logged = meter.acquire_logging(4, 0.001, poll_interval_s=0.0)
    assert logged.power_w.shape == (2, 4) and logged.slots == (1, 2)
    assert logged.power_w[0, 0] == pytest.approx(1e-3)
    assert logged.over_range[0, 2] and np.isnan(logged.power_w[0, 2])
    assert logged.power_w[1, 3] == 0.0 and not logged.over_range[1].any()


def test_logging_poll_times_out_with_a_typed_error() -> None:
    now = iter([0.0, 0.5, 2.0])
    exchanges = [IDN, ("SENS1:FUNC:STAT?", "LOGGING_STABILITY,PROGRESS"),
                 ("SENS1:FUNC:STAT?", "LOGGING_STABILITY,PROGRESS")]
    with expected_protocol(KeysightN774x, exchanges, slots=(1,), name="meter1") as meter:
        with pytest.raises(InstrumentTimeout, match="meter1.*SENS1:FUNC:STAT.*not complete after 1 s"):
            meter.wait_logging(1.0, clock=lambda: next(now), sleep=lambda _s: None)


def test_logging_status_garbage_and_running_function_errors() -> None:
    with expected_protocol(KeysightN774x, [IDN, ("SENS1:FUNC:STAT?", "BUSY")], slots=(1,)) as meter:
        with pytest.raises(InstrumentCommunicationError, match="BUSY"):
            meter.logging_complete()
    exchanges = [IDN, *_ok("INIT1:CONT 0", "SENS1:POW:UNIT 1", "SENS1:POW:RANG:AUTO 1"),
                 ("SENS1:FUNC:STAT LOGG,STOP", None),
                 ("SYST:ERR?", '-284,"Function running"'), NO_ERROR]
    with expected_protocol(KeysightN774x, exchanges, slots=(1,), name="meter1") as meter:
        with pytest.raises(ScpiError, match="-284"):
            meter.start_logging(4, 0.001)
    with expected_protocol(KeysightN774x, [IDN], slots=(1,)) as meter:
        with pytest.raises(ValueError, match="logging points"):
            meter.start_logging(0, 0.001)


def test_logging_results_of_unequal_length_are_refused() -> None:
    exchanges = [IDN, ("SENS1:FUNC:RES?", _block([1e-3, 1e-3])), ("SENS2:FUNC:RES?", _block([1e-3]))]
    with expected_protocol(KeysightN774x, exchanges, slots=(1, 2)) as meter:
        with pytest.raises(InstrumentCommunicationError, match="different point counts"):
            meter.fetch_logging(0.001)


def test_binary_read_byte_order_is_a_setting_and_read_does_its_own_trigger() -> None:
    exchanges = [IDN, ("READ:POW:ALL?", _block([1e-3, 2e-3, 3e-3, 4e-3], ">"))]
    with expected_protocol(KeysightN774x, exchanges, binary_read=True, byte_order="big") as meter:
        readings = meter.read_all()  # no INIT:IMM: READ triggers
    assert readings.power_w == pytest.approx([1e-3, 2e-3, 3e-3, 4e-3])
    with pytest.raises(ValueError, match="byte_order"):
        with expected_protocol(KeysightN774x, [IDN], byte_order="middle"):
            pass


def test_logging_results_follow_the_byte_order_setting() -> None:
    exchanges = [IDN, ("SENS1:FUNC:RES?", _block([1e-3, 2e-3], ">"))]
    with expected_protocol(KeysightN774x, exchanges, slots=(1,), byte_order="big") as meter:
        assert meter.fetch_logging(0.001).power_w[0] == pytest.approx([1e-3, 2e-3])
