"""The simulated Thorlabs PM100 (raw SCPI over its socket) and DiCon switches (over their pty)."""

from __future__ import annotations

import pytest
import serial

from sim_instruments.dialects.dicon import SimDiconGP700, SimDiconMems
from sim_instruments.dialects.thorlabs_pm100 import SimThorlabsPM100
from sim_instruments.physics import PhysicalModel
from sim_instruments.serial_server import PtySerialServer

from .conftest import Connect, errors, lit_model


def _pm100() -> SimThorlabsPM100:
    model = lit_model()
    model.add_meter("pm", [1])
    return SimThorlabsPM100(model, "pm")


def test_pm100_takes_long_and_short_forms_and_nm_wavelengths(connect: Connect) -> None:
    meter = connect(_pm100())
    meter.write("SENSe:CORRection:WAVelength 1310")  # nm is this command's default unit
    assert float(meter.query("sens:corr:wav?")) == pytest.approx(1310.0)
    meter.write("SENS:CORR:WAV 1.55UM")
    assert float(meter.query("SENS:CORR:WAV?")) == pytest.approx(1550.0)
    meter.write("SENS:POW:UNIT W")
    meter.write("SENS:AVER 4")  # [:COUNt] optional
    assert meter.query("SENSe:AVERage:COUNt?").strip() == "4"
    meter.write("CONF:POW")
    meter.write("INIT")
    assert 0 < float(meter.query("FETC?")) < 1e-2
    assert 0 < float(meter.query("MEAS:POW?")) < 1e-2
    assert meter.query("SYST:SENS:IDN?").count(",") == 5  # name, sn, cal message, type, subtype, flags
    assert meter.query("*OPC?").strip() == "1"
    assert errors(meter) == []
    meter.write("SENS:CORR:WAVEL 1310")  # neither form: an error, as the manual says
    assert errors(meter) == ['-113,"Undefined header"']


def test_pm100_fetch_before_any_measurement_is_an_error(connect: Connect) -> None:
    meter = connect(_pm100())
    meter.write("FETC?")
    assert errors(meter) == ['-230,"Data corrupt or stale"']


def _pty(instrument: object) -> tuple[PtySerialServer, serial.Serial]:
    server = PtySerialServer(instrument)  # type: ignore[arg-type]
    port = serial.Serial(server.device, 115200, timeout=2)
    return server, port


def test_dicon_mems_echoes_a_newline_then_answers_and_ignores_what_it_does_not_know() -> None:
    model = PhysicalModel(port_count=8)
    server, port = _pty(SimDiconMems(model))
    try:
        port.write(b"I1 5\r")
        assert port.readline() == b"\n"
        port.write(b"I1?\r")
        assert port.readline() == b"\n"
        assert port.readline().strip() == b"5"
        port.write(b"I1 99\r")  # no such port: no error queue, the position stays
        assert port.readline() == b"\n"
        port.write(b"I1?\r")
        port.readline()
        assert port.readline().strip() == b"5"
        port.write(b"*IDN?\r")  # not SCPI: not even the common commands
        port.write(b"CF?\r")
        assert port.readline() == b"\n"
        assert port.readline() == b"\n"
        assert port.readline().strip() == b"1,8"
    finally:
        port.close()
        server.close()


def test_dicon_gp700_moves_module_1_and_reports_errors_as_a_code() -> None:
    model = PhysicalModel(port_count=8)
    server, port = _pty(SimDiconGP700(model))
    try:
        port.write(b"M1 3\r\n")
        port.write(b"M1?\r\n")
        assert port.readline().strip() == b"3"
        port.write(b"err?\r\n")
        assert port.readline().strip() == b"0"
        port.write(b"M1 42\r\n")
        port.write(b"err?\r\n")
        assert port.readline().strip() != b"0"
    finally:
        port.close()
        server.close()
