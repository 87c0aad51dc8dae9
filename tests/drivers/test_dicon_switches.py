"""Protocol tests for the DiCon MEMS 1×N and GP700 serial switches; pyvisa-sim fakes; the pty path."""

from __future__ import annotations

import threading
from importlib import resources

import pytest
import pyvisa
import serial
from pyvisa.errors import VisaIOError

from drivers.dicon_gp700 import DiconGP700
from drivers.dicon_mems import DiconMems
from drivers.errors import (
    InstrumentCommunicationError,
    InstrumentError,
    InstrumentTimeout,
    ScpiError,
    WrongInstrumentError,
)
from drivers.factory import open_instrument
from sim_instruments.dialects.dicon import SimDiconGP700, SimDiconMems
from sim_instruments.physics import PhysicalModel
from sim_instruments.serial_server import PtySerialServer
from tests.drivers.serial_protocol import command, expected_serial_protocol, query

MEMS_OPEN = [*query("ID?", "DiCon,MEMS 1x12,DC00000001,FW 2.03"), *query("CF?", "1,12")]
GP700_IDN = query("*IDN?", "DiCon Fiberoptics Inc,GP700,GP00000001,1.20", echo=False)


def _yaml(name: str) -> str:
    return str(resources.files("sim_instruments").joinpath("yaml", name))


# -- DiCon MEMS ----------------------------------------------------------------------------------

def test_mems_open_reads_identity_and_size_and_sets_the_serial_line() -> None:
    with expected_serial_protocol(DiconMems, MEMS_OPEN, name="switch") as switch:
        assert switch.identity.model == "MEMS-1x12"
        assert switch.identity.serial_number == "DC00000001"
        assert switch.port_count == 12
        resource = switch.resource
    assert resource.baud_rate == 115200
    assert resource.write_termination == "\r" and resource.read_termination == "\n"


def test_mems_select_discards_the_echo_and_confirms_the_move() -> None:
    exchanges = [*MEMS_OPEN, *command("I1 7"), *query("I1?", "7"), *command("I1 8"), *query("I1?", "8")]
    with expected_serial_protocol(DiconMems, exchanges) as switch:
        switch.select(7)
        switch.select(7)  # cached
        switch.select(8)


def test_mems_park_and_position() -> None:
    exchanges = [*MEMS_OPEN, *command("PK"), *query("I1?", "0")]
    with expected_serial_protocol(DiconMems, exchanges) as switch:
        switch.park()
        assert switch.position() == 0


def test_mems_without_verification_sends_only_the_move() -> None:
    with expected_serial_protocol(DiconMems, [*MEMS_OPEN, *command("I1 2")], verify_moves=False) as switch:
        switch.select(2)


def test_mems_refused_move_raises_naming_switch_command_and_reply() -> None:
    exchanges = [*MEMS_OPEN, *command("I1 5"), *query("I1?", "1")]
    with expected_serial_protocol(DiconMems, exchanges, name="switch") as switch:
        with pytest.raises(InstrumentError, match="switch: 'I1 5': switch reports output 1"):
            switch.select(5)


def test_mems_port_outside_module_is_refused_before_sending() -> None:
    with expected_serial_protocol(DiconMems, MEMS_OPEN) as switch:
        with pytest.raises(ValueError, match="outside 1..12"):
            switch.select(13)


def test_mems_smaller_module_than_configured_is_refused() -> None:
    exchanges = [*query("ID?", "DiCon,MEMS 1x8,DC2,FW 2.03"), *query("CF?", "1,8")]
    with pytest.raises(WrongInstrumentError, match="1x8.*port_count 12"):
        with expected_serial_protocol(DiconMems, exchanges, port_count=12):
            pass


def test_mems_unexpected_echo_is_a_communication_error() -> None:
    exchanges = [("ID?", None), (None, "DiCon,MEMS 1x12,DC1,FW")]  # no echo: wrong echo_lines or baud rate
    with pytest.raises(InstrumentCommunicationError, match="echo line.*baud rate"):
        with expected_serial_protocol(DiconMems, exchanges):
            pass


def test_mems_timeout_and_garbage() -> None:
    timeout = VisaIOError(pyvisa.constants.StatusCode.error_timeout)
    with pytest.raises(InstrumentTimeout, match="ID\\?"):
        with expected_serial_protocol(DiconMems, [("ID?", None), (None, timeout)]):
            pass
    with pytest.raises(InstrumentCommunicationError, match="CF\\?"):
        with expected_serial_protocol(DiconMems, [*query("ID?", "x"), *query("CF?", "twelve")]):
            pass


# -- DiCon GP700 ---------------------------------------------------------------------------------

def test_gp700_select_checks_err_and_reads_back() -> None:
    exchanges = [*GP700_IDN, *command("M1 4", echo=False), *query("err?", "0", echo=False),
                 *query("M1?", "4", echo=False), *query("system:config?", "M1 1x12", echo=False)]
    with expected_serial_protocol(DiconGP700, exchanges, port_count=12) as switch:
        assert switch.identity.model == "GP700"
        assert switch.resource.baud_rate == 9600
        switch.select(4)
        switch.select(4)  # cached
        assert switch.position() == 4
        assert switch.configuration() == "M1 1x12"


def test_gp700_other_module_and_baud_rate_from_config() -> None:
    exchanges = [*GP700_IDN, *command("M2 3", echo=False), *query("err?", "0", echo=False)]
    with expected_serial_protocol(DiconGP700, exchanges, module=2, baud_rate=115200) as switch:
        assert switch.resource.baud_rate == 115200
        switch.select(3)


def test_gp700_error_code_raises_typed_error() -> None:
    exchanges = [*GP700_IDN, *command("M1 9", echo=False), *query("err?", "5", echo=False)]
    with expected_serial_protocol(DiconGP700, exchanges, name="gp") as switch:
        with pytest.raises(ScpiError, match="gp: 'M1 9'.*GP700 error code 5"):
            switch.select(9)
    exchanges = [*GP700_IDN, *command("M1 9", echo=False), *query("err?", "??", echo=False)]
    with expected_serial_protocol(DiconGP700, exchanges) as switch:
        with pytest.raises(InstrumentCommunicationError, match="expected an error code"):
            switch.select(9)


def test_gp700_wrong_model() -> None:
    with pytest.raises(WrongInstrumentError, match="GP600"):
        with expected_serial_protocol(DiconGP700, query("*IDN?", "DiCon Fiberoptics Inc,GP600,1,1", echo=False)):
            pass


# -- pyvisa-sim fakes ----------------------------------------------------------------------------

def test_mems_on_pyvisa_sim() -> None:
    resource_manager = pyvisa.ResourceManager(f"{_yaml('dicon_mems.yaml')}@sim")
    try:
        switch = open_instrument(resource_manager, driver="dicon_mems", address="ASRL1::INSTR",
                                 model="MEMS-1x12", options={"port_count": 12})
        switch.select(9)
        assert switch.position() == 9
        with pytest.raises(WrongInstrumentError, match="1x8"):
            open_instrument(resource_manager, driver="dicon_mems", address="ASRL2::INSTR",
                            options={"port_count": 12})
        stuck = open_instrument(resource_manager, driver="dicon_mems", address="ASRL3::INSTR")
        with pytest.raises(InstrumentError, match="reports output 1"):
            stuck.select(4)
        with pytest.raises(InstrumentTimeout):
            open_instrument(resource_manager, driver="dicon_mems", address="ASRL4::INSTR", timeout_s=0.05)
    finally:
        resource_manager.close()


def test_gp700_on_pyvisa_sim() -> None:
    resource_manager = pyvisa.ResourceManager(f"{_yaml('dicon_gp700.yaml')}@sim")
    try:
        switch = open_instrument(resource_manager, driver="auto", address="ASRL5::INSTR",
                                 options={"port_count": 12})
        assert isinstance(switch, DiconGP700)
        switch.select(11)
        assert switch.position() == 11
        # A station file that claims more ports than the 12-port module has: the chassis' refusal is reported.
        wide = open_instrument(resource_manager, driver="dicon_gp700", address="ASRL5::INSTR",
                               options={"port_count": 20})
        with pytest.raises(ScpiError, match="M1 15.*code 1"):
            wide.select(15)
        with pytest.raises(WrongInstrumentError):
            open_instrument(resource_manager, driver="dicon_gp700", address="ASRL6::INSTR")
        faulty = open_instrument(resource_manager, driver="dicon_gp700", address="ASRL7::INSTR")
        with pytest.raises(ScpiError, match="code 5"):
            faulty.select(3)
    finally:
        resource_manager.close()


# -- the real serial path: pyvisa-py → pyserial → a pseudo-terminal -------------------------------

def test_mems_pty_server_sends_the_newline_echo_before_each_reply() -> None:
    server = PtySerialServer(SimDiconMems(PhysicalModel(port_count=12)))
    serving = [thread for thread in threading.enumerate() if server.device in thread.name]
    try:
        assert len(serving) == 1 and serving[0].is_alive()
        assert server.address.startswith("ASRL/dev/") and server.address.endswith("::INSTR")
        with serial.Serial(server.device, baudrate=115200, timeout=1.0) as port:
            port.write(b"CF?\r")
            assert port.read(1) == b"\n"
            assert port.readline() == b"1,12\r\n"
            port.write(b"I1 3\r")
            assert port.read(1) == b"\n"
            port.write(b"*IDN?\r")  # not a MEMS command: echo only, no reply
            assert port.read(1) == b"\n"
            port.timeout = 0.05
            assert port.read(10) == b""
    finally:
        server.close()
    assert not serving[0].is_alive()  # the thread serving the pty ended with close()


def test_drivers_through_pyvisa_py_on_a_pty() -> None:
    model = PhysicalModel(port_count=12)
    mems, gp700 = PtySerialServer(SimDiconMems(model)), PtySerialServer(SimDiconGP700(model))
    resource_manager = pyvisa.ResourceManager("@py")
    try:
        switch = open_instrument(resource_manager, driver="dicon_mems", address=mems.address, model="MEMS-1x12",
                                 timeout_s=1.0)
        assert switch.resource.baud_rate == 115200
        switch.select(6)
        assert model.switch_port == 6
        switch.park()
        assert switch.position() == 0
        chassis = open_instrument(resource_manager, driver="dicon_gp700", address=gp700.address, timeout_s=1.0)
        chassis.select(10)
        assert model.switch_port == 10 and chassis.position() == 10
    finally:
        resource_manager.close()
        mems.close()
        gp700.close()
