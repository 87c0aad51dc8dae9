"""Protocol tests pinning every command the Keysight meter, source and switch drivers send,
plus the same drivers against their pyvisa-sim YAMLs."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import pyvisa

from drivers.errors import InstrumentTimeout, ScpiError, WrongInstrumentError
from drivers.factory import open_instrument
from drivers.keysight_816x_source import Keysight816xSource
from drivers.keysight_n773x import KeysightN773x
from drivers.keysight_n774x import KeysightN774x
from tests.protocol import expected_protocol

METER_IDN = ("*IDN?", "Keysight Technologies,N7745A,MY00000001,V2.1.0")
SOURCE_IDN = ("*IDN?", "Agilent Technologies,8164B,MY48208514,V5.25(72637)")
SWITCH_IDN = ("*IDN?", "Keysight Technologies,N7734A,MY00000731,V1.2")
NO_ERROR = ("SYST:ERR?", '+0,"No error"')


def _configured(command: str) -> list[tuple[str, str | None]]:
    return [(command, None), NO_ERROR]


def test_meter_identity_is_parsed() -> None:
    with expected_protocol(KeysightN774x, [METER_IDN], slots=(1, 2)) as meter:
        assert meter.identity.manufacturer == "Keysight Technologies"
        assert meter.identity.model == "N7745A"
        assert meter.identity.serial_number == "MY00000001"
        assert meter.identity.firmware == "V2.1.0"
        assert meter.channel_count == 2


def test_meter_configure_sends_unit_range_wavelength_and_averaging_once() -> None:
    exchanges = [METER_IDN]
    for command in ("SENS1:POW:UNIT 1", "SENS2:POW:UNIT 1", "SENS1:POW:RANG:AUTO 1", "SENS2:POW:RANG:AUTO 1",
                    "SENS1:POW:WAV 1310nm", "SENS2:POW:WAV 1310nm", "SENS1:POW:ATIM 1ms", "SENS2:POW:ATIM 1ms",
                    "SENS1:POW:WAV 1550nm", "SENS2:POW:WAV 1550nm"):
        exchanges += _configured(command)
    with expected_protocol(KeysightN774x, exchanges, slots=(1, 2)) as meter:
        meter.configure(1310.0, 0.001)
        meter.configure(1310.0, 0.001)  # cached: no traffic
        meter.configure(1550.0, 0.001)  # only the wavelength changes


def test_meter_explicit_range() -> None:
    exchanges = [METER_IDN]
    for command in ("SENS3:POW:UNIT 1", "SENS3:POW:RANG:AUTO 0", "SENS3:POW:RANG -10DBM",
                    "SENS3:POW:WAV 1550nm", "SENS3:POW:ATIM 0.1ms"):
        exchanges += _configured(command)
    with expected_protocol(KeysightN774x, exchanges, slots=(3,), range_dbm=-10.0) as meter:
        meter.configure(1550.0, 0.0001)


def test_meter_reads_all_channels_in_one_transaction_and_flags_over_range() -> None:
    csv = "+1.000000E-03,+9.900000E+37,+5.000000E-04,+0.000000E+00"
    exchanges = [("*IDN?", "Keysight Technologies,N7744A,MY1,V1"), ("INIT:IMM", None), ("FETC:POW:ALL:CSV?", csv)]
    with expected_protocol(KeysightN774x, exchanges) as meter:
        readings = meter.read_all()
    assert readings.power_w[0] == pytest.approx(1e-3)
    assert np.isnan(readings.power_w[1]) and readings.over_range[1]
    assert readings.power_dbm[0] == pytest.approx(0.0)
    assert readings.power_dbm[2] == pytest.approx(-3.0103, abs=1e-4)
    assert np.isnan(readings.power_dbm[3]), "0 W is below the floor, not a number"
    assert not readings.over_range[[0, 2, 3]].any()


def test_meter_binary_read_little_endian() -> None:
    import struct

    payload = struct.pack("<4f", 1e-3, 2e-3, 9.9e37, 4e-3)
    block = b"#216" + payload
    exchanges = [("*IDN?", "Keysight Technologies,N7744A,MY1,V1"), ("READ:POW:ALL?", block)]
    with expected_protocol(KeysightN774x, exchanges, binary_read=True) as meter:
        meter.trigger = lambda: None  # READ does its own trigger
        readings = meter.read_all()
    assert readings.power_w[1] == pytest.approx(2e-3)
    assert readings.over_range[2]


def test_split_fetch_csv_and_binary_one_transaction_per_reading() -> None:
    import struct

    csv = "+1.000000E-03,+2.000000E-03,+3.000000E-03,+4.000000E-03"
    exchanges = [("*IDN?", "Keysight Technologies,N7744A,MY1,V1"), ("FETC:POW:ALL:CSV?", csv)]
    with expected_protocol(KeysightN774x, exchanges, slots=(2, 4)) as meter:
        assert meter.begin_fetch()
        readings = meter.end_fetch()
    np.testing.assert_allclose(readings.power_w, [2e-3, 4e-3])

    block = b"#216" + struct.pack(">4f", 1e-3, 2e-3, 3e-3, 4e-3)
    exchanges = [("*IDN?", "Keysight Technologies,N7744A,MY1,V1"), ("READ:POW:ALL?", block)]
    with expected_protocol(KeysightN774x, exchanges, binary_read=True, byte_order="big") as meter:
        meter.trigger()  # READ:POW:ALL? triggers by itself: nothing is sent here
        assert meter.begin_fetch()
        readings = meter.end_fetch()
    np.testing.assert_allclose(readings.power_w, [1e-3, 2e-3, 3e-3, 4e-3], rtol=1e-6)


def test_reply_with_missing_values_is_refused() -> None:
    from drivers.errors import InstrumentCommunicationError

    exchanges = [METER_IDN, ("INIT:IMM", None), ("FETC:POW:ALL:CSV?", "+1.0E-03,+1.0E-03")]
    with expected_protocol(KeysightN774x, exchanges, slots=(1, 2)) as meter:
        with pytest.raises(InstrumentCommunicationError, match="expected 8 values"):
            meter.read_all()


def test_scpi_error_names_instrument_command_and_text() -> None:
    exchanges = [METER_IDN, ("SENS1:POW:UNIT 1", None), ("SYST:ERR?", '-303,"Module slot empty"'),
                 NO_ERROR]
    with expected_protocol(KeysightN774x, exchanges, slots=(1,), name="meter1") as meter:
        with pytest.raises(ScpiError) as raised:
            meter.setup()
    assert raised.value.code == -303
    assert "meter1" in str(raised.value) and "SENS1:POW:UNIT 1" in str(raised.value)
    assert "Module slot empty" in str(raised.value)


def test_wrong_model_is_refused() -> None:
    with pytest.raises(WrongInstrumentError, match="N7731A"):
        with expected_protocol(KeysightN774x, [("*IDN?", "Keysight Technologies,N7731A,MY1,V1")]):
            pass


def test_timeout_becomes_typed_error() -> None:
    from pyvisa.errors import VisaIOError

    timeout = VisaIOError(pyvisa.constants.StatusCode.error_timeout)
    with expected_protocol(KeysightN774x, [METER_IDN, ("FETC:POW:ALL:CSV?", timeout)], slots=(1,)) as meter:
        with pytest.raises(InstrumentTimeout, match="FETC:POW:ALL:CSV"):
            meter.fetch()


def test_source_commands() -> None:
    exchanges = [SOURCE_IDN, *_configured(":SOUR1:CHAN1:POW:STAT 1"), *_configured(":SOUR1:WAV 1550NM"),
                 (":SOUR1:WAV?", "+1.55000000E-006"), *_configured(":SOUR1:CHAN1:POW:STAT 0"),
                 (":SOUR1:CHAN1:POW:STAT?", "0")]
    with expected_protocol(Keysight816xSource, exchanges, slot=1) as source:
        source.set_output(True)
        source.set_output(True)  # cached
        source.set_wavelength(1550.0)
        source.set_wavelength(1550.0)  # cached
        assert source.wavelength_nm() == pytest.approx(1550.0)
        source.set_output(False)
        assert source.output_enabled() is False


def test_source_refuses_unavailable_wavelength_before_sending() -> None:
    with expected_protocol(Keysight816xSource, [SOURCE_IDN]) as source:
        with pytest.raises(ValueError, match="1625"):
            source.set_wavelength(1625.0)


def test_switch_commands() -> None:
    exchanges = [SWITCH_IDN, *_configured(":ROUT1 A,7"), (":ROUT1?", "A,7")]
    with expected_protocol(KeysightN773x, exchanges, port_count=12) as switch:
        switch.select(7)
        switch.select(7)  # cached
        assert switch.position() == 7
        with pytest.raises(ValueError):
            switch.select(13)


# -- the same drivers on their pyvisa-sim YAMLs --------------------------------------------------

def _yaml(name: str) -> str:
    return str(resources.files("sim_instruments").joinpath("yaml", name))


def test_meter_on_pyvisa_sim() -> None:
    resource_manager = pyvisa.ResourceManager(f"{_yaml('keysight_n774x.yaml')}@sim")
    try:
        meter = open_instrument(resource_manager, driver="auto", address="TCPIP0::192.168.1.12::5025::SOCKET",
                                name="meter1")
        meter.configure(1310.0, 0.001)
        readings = meter.read_all()
        assert readings.power_w.shape == (8,)
        assert readings.power_dbm[0] == pytest.approx(0.0)
        over = open_instrument(resource_manager, driver="keysight_n774x",
                               address="TCPIP0::192.168.1.22::5025::SOCKET").read_all()
        assert over.over_range[1] and np.isnan(over.power_w[1])
        with pytest.raises(WrongInstrumentError):
            open_instrument(resource_manager, driver="keysight_n774x", address="TCPIP0::192.168.1.32::5025::SOCKET")
        with pytest.raises(ScpiError, match="-113"):
            meter.send_configuration(["SENS1:POW:WAV 500nm"])  # outside the fake's spec
    finally:
        resource_manager.close()


def test_source_and_switch_on_pyvisa_sim() -> None:
    resource_manager = pyvisa.ResourceManager(f"{_yaml('keysight_816x_source.yaml')}@sim")
    try:
        source = open_instrument(resource_manager, driver="keysight_816x_source",
                                 address="TCPIP0::192.168.1.10::5025::SOCKET", model="8164B")
        source.set_output(True)
        assert source.output_enabled()
        source.set_wavelength(1550.0)
    finally:
        resource_manager.close()
    resource_manager = pyvisa.ResourceManager(f"{_yaml('keysight_n773x.yaml')}@sim")
    try:
        switch = open_instrument(resource_manager, driver="keysight_n773x",
                                 address="TCPIP0::192.168.1.11::5025::SOCKET")
        switch.select(5)
        assert switch.position() == 5
    finally:
        resource_manager.close()


def test_second_reading_is_queued_behind_the_first_fetch() -> None:
    """The settle rule's second trigger goes out before the first reply is read, so the
    meter starts integrating again the moment the first integration ends."""
    from drivers.meter_group import MeterGroup
    from procedures.acquisition import AcquisitionSettings, _settled_read

    csv = "+1.000000E-03,+2.000000E-03,+3.000000E-03,+4.000000E-03"
    exchanges = [("*IDN?", "Keysight Technologies,N7744A,MY1,V1"), ("INIT:IMM", None),
                 ("FETC:POW:ALL:CSV?", csv), ("INIT:IMM", None), ("FETC:POW:ALL:CSV?", csv)]
    with expected_protocol(KeysightN774x, exchanges) as meter:
        group = MeterGroup([meter])
        assert group.queues_triggers
        readings, _elapsed_s, settled, count = _settled_read(group, AcquisitionSettings(), lambda: 0.0)
    assert settled and count == 2
    np.testing.assert_allclose(readings.power_w, [1e-3, 2e-3, 3e-3, 4e-3])


def test_a_queued_trigger_lost_with_a_reconnect_is_sent_again() -> None:
    """After a reconnect the queued trigger is gone: the next fetch must not return the old reading."""
    from drivers.meter_group import MeterGroup

    csv = "+1.000000E-03,+2.000000E-03,+3.000000E-03,+4.000000E-03"
    exchanges = [("*IDN?", "Keysight Technologies,N7744A,MY1,V1"), ("INIT:IMM", None), ("FETC:POW:ALL:CSV?", csv),
                 ("INIT:IMM", None)]
    with expected_protocol(KeysightN774x, exchanges) as meter:
        group = MeterGroup([meter])
        group.trigger()
        group.request()
        group.trigger()
        assert group.trigger_armed
        group.collect()
        meter._after_reconnect()  # what reconnect() does to a fresh session
        assert not group.trigger_armed


def test_binary_read_meters_do_not_queue_triggers() -> None:
    from drivers.meter_group import MeterGroup

    exchanges = [("*IDN?", "Keysight Technologies,N7744A,MY1,V1")]
    with expected_protocol(KeysightN774x, exchanges, binary_read=True) as meter:
        assert not MeterGroup([meter]).queues_triggers


def test_switch_move_sent_now_and_confirmed_later() -> None:
    """begin_select sends the move and its completion query; end_select reads that reply."""
    exchanges = [SWITCH_IDN, (":ROUT1 A,3", None), NO_ERROR, (":ROUT1 A,4", None), NO_ERROR]
    with expected_protocol(KeysightN773x, exchanges, port_count=12) as switch:
        switch.begin_select(3)
        assert switch._position is None  # unknown until the switch has answered
        switch.end_select()
        switch.end_select()  # nothing owed: nothing sent or read
        switch.begin_select(3)  # already there: nothing sent
        switch.end_select()
        switch.begin_select(4)
        switch.select(4)  # a move still owed is confirmed first; then it is already there
        assert switch._position == 4


def test_switch_move_refused_by_the_instrument_names_the_move() -> None:
    exchanges = [SWITCH_IDN, (":ROUT1 A,5", None), ("SYST:ERR?", '-222,"Data out of range"'), NO_ERROR,
                 *_configured(":ROUT1 A,5")]
    with expected_protocol(KeysightN773x, exchanges, port_count=12) as switch:
        switch.begin_select(5)
        with pytest.raises(ScpiError, match=r":ROUT1 A,5.*-222"):
            switch.end_select()
        assert switch._position is None
        switch.select(5)  # position unknown: sent again, nothing owed in between
        assert switch._position == 5


def test_a_meter_group_reads_only_the_mainframes_carrying_the_asked_channels() -> None:
    from drivers.meter_group import MeterGroup
    from tests.protocol import ProtocolResource

    idn = ("*IDN?", "Keysight Technologies,N7744A,MY1,V1")
    csv = "+1.000000E-03,+2.000000E-03,+3.000000E-03,+4.000000E-03"
    first = ProtocolResource([idn, ("INIT:IMM", None), ("FETC:POW:ALL:CSV?", csv),
                              ("INIT:IMM", None), ("FETC:POW:ALL:CSV?", csv)])
    second = ProtocolResource([idn, ("INIT:IMM", None), ("FETC:POW:ALL:CSV?", csv)])  # only once, at the end
    group = MeterGroup([KeysightN774x(first), KeysightN774x(second)])
    group.read_only([1, 3])
    readings = group.read_all()
    np.testing.assert_allclose(readings.power_w[:4], [1e-3, 2e-3, 3e-3, 4e-3])
    assert np.isnan(readings.power_w[4:]).all() and not readings.over_range.any()  # not read: NaN, not over range
    group.read_only(None)
    assert np.isfinite(group.read_all().power_w).all()
    assert first.position == len(first.exchanges) and second.position == len(second.exchanges)
    with pytest.raises(ValueError, match="outside 0..7"):
        group.read_only([8])


def test_drivers_know_when_replies_are_due(monkeypatch) -> None:
    """`near-due` waits need each reply's due time: an integration's end (a queued trigger starts
    once the fetch before it is answered), a move's settle, a wavelength change, plus the round trip."""
    import types

    import drivers.keysight_n773x
    import drivers.keysight_n774x
    import drivers.scpi

    now = [100.0]
    clock = types.SimpleNamespace(monotonic=lambda: now[0])
    for module in (drivers.keysight_n774x, drivers.keysight_n773x, drivers.scpi):
        monkeypatch.setattr(module, "time", clock)
    csv = "+1.0E-03,+2.0E-03"
    exchanges = [("*IDN?", "Keysight Technologies,N7747A,MY1,V1"),
                 *_configured("SENS1:POW:UNIT 1"), *_configured("SENS2:POW:UNIT 1"),
                 *_configured("SENS1:POW:RANG:AUTO 1"), *_configured("SENS2:POW:RANG:AUTO 1"),
                 *_configured("SENS1:POW:WAV 1310nm"), *_configured("SENS2:POW:WAV 1310nm"),
                 *_configured("SENS1:POW:ATIM 2ms"), *_configured("SENS2:POW:ATIM 2ms"),
                 ("INIT:IMM", None), ("FETC:POW:ALL:CSV?", csv), ("INIT:IMM", None), ("FETC:POW:ALL:CSV?", csv)]
    with expected_protocol(KeysightN774x, exchanges) as meter:
        meter.round_trip_s = 0.0003
        meter.configure(1310.0, 0.002)
        meter.trigger()
        meter.begin_fetch()
        assert meter._reply_due == pytest.approx(100.0023)
        meter.trigger()  # queued behind the fetch: starts when that fetch has been answered
        now[0] = 100.0001
        meter.end_fetch()
        assert meter._reply_due is None  # consumed by the read
        meter.begin_fetch()
        assert meter._reply_due == pytest.approx(100.0023 + 0.002 + 0.0003)
        meter.end_fetch()

    exchanges = [SWITCH_IDN, (":ROUT1 A,3", None), ("SYST:ERR?", '+0,"No error"')]
    with expected_protocol(KeysightN773x, exchanges, port_count=12) as switch:
        switch.round_trip_s, switch.switch_settle_s = 0.0003, 0.005
        switch.begin_select(3)
        assert switch._reply_due == pytest.approx(100.0001 + 0.0053)
        switch.end_select()

    exchanges = [SOURCE_IDN, *_configured(":SOUR1:WAV 1550NM")]
    with expected_protocol(Keysight816xSource, exchanges, slot=1) as source:
        source.wavelength_change_s, source.round_trip_s = 0.05, 0.0003
        dues = []
        real_check = source.check_errors
        source.check_errors = lambda command: (dues.append(source._reply_due), real_check(command))[1]
        source.set_wavelength(1550.0)
    assert dues == [pytest.approx(100.0001 + 0.0503)]  # the error query is answered once the change is done


def test_fast_line_read_takes_whole_lines_and_leaves_partial_ones_to_the_library() -> None:
    """`_take_line` reads pyvisa-py's own buffer and socket: two replies in one segment are two
    lines, a partial line stays buffered (None: the library's read waits for the rest)."""
    import select
    import socket
    import types

    from drivers.scpi import _take_line

    host_end, instrument_end = socket.socketpair()
    with host_end, instrument_end:
        session = types.SimpleNamespace(interface=host_end, _pending_buffer=bytearray())
        assert _take_line(session) is None  # nothing sent yet: no wait here
        instrument_end.sendall(b'+1.5E-03\n+0,"No error"\n+2.')
        assert _take_line(session) == "+1.5E-03"
        assert _take_line(session) == '+0,"No error"'  # from the buffer, no socket read
        assert _take_line(session) is None and session._pending_buffer == bytearray(b"+2.")
        instrument_end.sendall(b"5E-03\n")
        assert _take_line(session) == "+2.5E-03" and session._pending_buffer == bytearray()
        instrument_end.sendall(b"+3.5E-03\n")
        select.select((host_end,), (), (), 1.0)  # what a reply wait has seen: bytes are there
        assert _take_line(session, readable=True) == "+3.5E-03"
        instrument_end.sendall(b"\xff\xfe\n")
        with pytest.raises(UnicodeDecodeError):
            _take_line(session)
        assert session._pending_buffer == bytearray()  # garbage consumed, as the library's read does


def test_a_meter_group_places_each_channel_by_its_map_and_keeps_over_range_flags() -> None:
    from drivers.meter_group import MeterGroup
    from tests.protocol import ProtocolResource

    idn = ("*IDN?", "Keysight Technologies,N7744A,MY1,V1")
    first_csv = "+1.000000E-03,+9.900000E+37,+3.000000E-03,+4.000000E-03"  # slot 2 over range
    second_csv = "+5.000000E-03,+6.000000E-03,+7.000000E-03,+8.000000E-03"
    first = ProtocolResource([idn, ("INIT:IMM", None), ("FETC:POW:ALL:CSV?", first_csv)])
    second = ProtocolResource([idn, ("INIT:IMM", None), ("FETC:POW:ALL:CSV?", second_csv),
                               ("INIT:IMM", None), ("FETC:POW:ALL:CSV?", second_csv)])
    # Receive channels wired across the mainframes out of order, as a fixture may be.
    group = MeterGroup([KeysightN774x(first), KeysightN774x(second)],
                       channel_map=[(1, 2), (0, 1), (0, 3), (1, 0)])
    readings = group.read_all()
    np.testing.assert_allclose(readings.power_w[[0, 2, 3]], [7e-3, 4e-3, 5e-3])
    assert np.isnan(readings.power_w[1]) and readings.over_range.tolist() == [False, True, False, False]
    group.read_only([0, 3])  # both on the second mainframe: the first is not read
    readings = group.read_all()
    np.testing.assert_allclose(readings.power_w[[0, 3]], [7e-3, 5e-3])
    assert np.isnan(readings.power_w[[1, 2]]).all() and not readings.over_range.any()
    assert first.position == len(first.exchanges) and second.position == len(second.exchanges)


def test_lines_go_straight_to_a_pyvisa_py_socket_and_replies_come_back_whole() -> None:
    """The lean path on a real pyvisa-py TCP session: commands written on the session's own
    socket arrive as whole lines, and two replies in one segment are two replies."""
    import socket

    from drivers.scpi import ScpiInstrument, _socket_session

    with socket.create_server(("127.0.0.1", 0)) as listener:
        manager = pyvisa.ResourceManager("@py")
        resource = manager.open_resource(f"TCPIP0::127.0.0.1::{listener.getsockname()[1]}::SOCKET")
        instrument_end, _ = listener.accept()
        with instrument_end:
            try:
                instrument = ScpiInstrument(resource, name="probe", check_identity=False)
                assert instrument._lean and _socket_session(resource) is not None
                instrument.write(":ROUT1 A,5")
                instrument.write("SYST:ERR?")
                received = b""
                while received.count(b"\n") < 2:
                    received += instrument_end.recv(100)
                assert received == b':ROUT1 A,5\nSYST:ERR?\n'
                instrument_end.sendall(b'+0,"No error"\n+1.0E-03\n')
                assert instrument.read_reply("SYST:ERR?") == '+0,"No error"'
                assert instrument.read_reply("FETC?") == "+1.0E-03"
            finally:
                resource.close()
                manager.close()
