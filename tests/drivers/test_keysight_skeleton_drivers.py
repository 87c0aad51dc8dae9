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
# Every slot used is triggered, in one program message (a bare INIT:IMM would be slot 1 only).
TRIGGER_4 = ":INIT1:IMM;:INIT2:IMM;:INIT3:IMM;:INIT4:IMM"


def _configured(command: str) -> list[tuple[str, str | None]]:
    return [(command, None), NO_ERROR]


def test_meter_identity_is_parsed() -> None:
    with expected_protocol(KeysightN774x, [METER_IDN], slots=(1, 2)) as meter:
        assert meter.identity.manufacturer == "Keysight Technologies"
        assert meter.identity.model == "N7745A"
        assert meter.identity.serial_number == "MY00000001"
        assert meter.identity.firmware == "V2.1.0"
        assert meter.channel_count == 2


def test_meter_configure_sends_single_mode_unit_range_wavelength_and_averaging_once() -> None:
    exchanges = [METER_IDN]
    for command in ("INIT1:CONT 0", "INIT2:CONT 0", "SENS1:POW:UNIT 1", "SENS2:POW:UNIT 1",
                    "SENS1:POW:RANG:AUTO 1", "SENS2:POW:RANG:AUTO 1",
                    "SENS1:POW:WAV 1310nm", "SENS2:POW:WAV 1310nm", "SENS1:POW:ATIM 1ms", "SENS2:POW:ATIM 1ms",
                    "SENS1:POW:WAV 1550nm", "SENS2:POW:WAV 1550nm"):
        exchanges += _configured(command)
    with expected_protocol(KeysightN774x, exchanges, slots=(1, 2)) as meter:
        meter.configure(1310.0, 0.001)
        meter.configure(1310.0, 0.001)  # cached: no traffic
        meter.configure(1550.0, 0.001)  # only the wavelength changes


def test_meter_explicit_range() -> None:
    exchanges = [METER_IDN]
    for command in ("INIT3:CONT 0", "SENS3:POW:UNIT 1", "SENS3:POW:RANG:AUTO 0", "SENS3:POW:RANG -10DBM",
                    "SENS3:POW:WAV 1550nm", "SENS3:POW:ATIM 0.1ms"):
        exchanges += _configured(command)
    with expected_protocol(KeysightN774x, exchanges, slots=(3,), range_dbm=-10.0) as meter:
        meter.configure(1550.0, 0.0001)


def test_meter_reads_all_channels_in_one_transaction_and_flags_over_range() -> None:
    csv = "+1.000000E-03,+9.900000E+37,+5.000000E-04,+0.000000E+00"
    exchanges = [("*IDN?", "Keysight Technologies,N7744A,MY1,V1"), (TRIGGER_4, None), ("FETC:POW:ALL:CSV?", csv)]
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

    exchanges = [METER_IDN, (":INIT1:IMM;:INIT2:IMM", None), ("FETC:POW:ALL:CSV?", "+1.0E-03,+1.0E-03")]
    with expected_protocol(KeysightN774x, exchanges, slots=(1, 2)) as meter:
        with pytest.raises(InstrumentCommunicationError, match="expected 8 values"):
            meter.read_all()


def test_scpi_error_names_instrument_command_and_text() -> None:
    exchanges = [METER_IDN, *_configured("INIT1:CONT 0"), ("SENS1:POW:UNIT 1", None),
                 ("SYST:ERR?", '-303,"Module slot empty"'), NO_ERROR]
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


def _settled_read_of(meter: KeysightN774x):
    from drivers.meter_group import MeterGroup
    from procedures.acquisition import AcquisitionSettings, settled_read
    from procedures.instruments import BenchInstruments

    group = MeterGroup([meter])
    assert group.queues_triggers
    bench = BenchInstruments(source=None, switch=None, meter=group)  # type: ignore[arg-type]  # only the meter reads
    return settled_read(bench, AcquisitionSettings(), lambda: 0.0)


def test_second_reading_is_queued_behind_the_first_fetch() -> None:
    """The settle rule's second trigger follows the first fetch in its program message, so the
    meter starts integrating again the moment it has answered (IEEE 488.2 sequential commands),
    and no message reaches the meter while a reply is unread."""
    csv = "+1.000000E-03,+2.000000E-03,+3.000000E-03,+4.000000E-03"
    exchanges = [("*IDN?", "Keysight Technologies,N7744A,MY1,V1"), (TRIGGER_4, None),
                 (f"FETC:POW:ALL:CSV?;{TRIGGER_4}", csv), ("FETC:POW:ALL:CSV?", csv)]
    with expected_protocol(KeysightN774x, exchanges) as meter:
        readings, _elapsed_s, settled = _settled_read_of(meter)
    assert settled
    np.testing.assert_allclose(readings.power_w, [1e-3, 2e-3, 3e-3, 4e-3])


def test_on_a_raw_socket_the_queued_trigger_travels_in_the_first_fetchs_message() -> None:
    """Sent on its own behind the unanswered fetch, TCP (Nagle) would hold the second trigger
    until the first reply came back; in the fetch's own message it reaches the meter at once."""
    from tests.drivers.recording_instrument import RecordingInstrument

    csv = '"+1.0E-03,+2.0E-03,+3.0E-03,+4.0E-03"'
    peer = RecordingInstrument(_answers({"*IDN?": "Keysight Technologies,N7744A,MY1,V1", "FETC:POW:ALL:CSV?": csv}))
    manager = pyvisa.ResourceManager("@py")
    try:
        meter = open_instrument(manager, driver="keysight_n774x", address=peer.address, name="meter")
        meter.configure(1310.0, 0.001)
        _readings, _elapsed_s, settled = _settled_read_of(meter)
        meter.close()
    finally:
        manager.close()
        peer.close()
    assert settled
    readings_part = peer.segments[-2:]
    assert readings_part == [[TRIGGER_4, f"FETC:POW:ALL:CSV?;{TRIGGER_4}"], ["FETC:POW:ALL:CSV?"]]


def test_a_queued_trigger_lost_with_a_reconnect_is_sent_again() -> None:
    """After a reconnect the queued trigger is gone: the next fetch must not return the old reading."""
    from drivers.meter_group import MeterGroup

    csv = "+1.000000E-03,+2.000000E-03,+3.000000E-03,+4.000000E-03"
    idn = ("*IDN?", "Keysight Technologies,N7744A,MY1,V1")
    exchanges = [idn, (TRIGGER_4, None), (f"FETC:POW:ALL:CSV?;{TRIGGER_4}", csv), idn]
    with expected_protocol(KeysightN774x, exchanges) as meter:
        group = MeterGroup([meter])
        group.trigger()
        group.request(trigger_next=True)
        assert group.trigger_armed
        group.collect()
        meter.reconnect()  # a fresh session: what was sent on the old one is gone
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
        assert switch.move_under_way == 3  # unconfirmed until the switch has answered
        switch.end_select()
        assert switch.move_under_way is None
        switch.end_select()  # nothing owed: nothing sent or read
        switch.begin_select(3)  # already there: nothing sent
        switch.end_select()
        switch.begin_select(4)
        switch.select(4)  # a move still owed is confirmed first; then it is already there (nothing sent)
        assert switch.move_under_way is None


def test_switch_move_refused_by_the_instrument_names_the_move() -> None:
    exchanges = [SWITCH_IDN, (":ROUT1 A,5", None), ("SYST:ERR?", '-222,"Data out of range"'), NO_ERROR,
                 *_configured(":ROUT1 A,5")]
    with expected_protocol(KeysightN773x, exchanges, port_count=12) as switch:
        switch.begin_select(5)
        with pytest.raises(ScpiError, match=r":ROUT1 A,5.*-222"):
            switch.end_select()
        switch.select(5)  # refused: the position is unknown, so the move is sent again
        switch.select(5)  # now confirmed: nothing sent


def test_a_meter_group_reads_only_the_mainframes_carrying_the_asked_channels() -> None:
    from drivers.meter_group import MeterGroup
    from tests.protocol import ProtocolResource

    idn = ("*IDN?", "Keysight Technologies,N7744A,MY1,V1")
    csv = "+1.000000E-03,+2.000000E-03,+3.000000E-03,+4.000000E-03"
    first = ProtocolResource([idn, (TRIGGER_4, None), ("FETC:POW:ALL:CSV?", csv),
                              (TRIGGER_4, None), ("FETC:POW:ALL:CSV?", csv)])
    second = ProtocolResource([idn, (TRIGGER_4, None), ("FETC:POW:ALL:CSV?", csv)])  # only once, at the end
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


def test_a_meter_group_places_each_channel_by_its_map_and_keeps_over_range_flags() -> None:
    from drivers.meter_group import MeterGroup
    from tests.protocol import ProtocolResource

    idn = ("*IDN?", "Keysight Technologies,N7744A,MY1,V1")
    first_csv = "+1.000000E-03,+9.900000E+37,+3.000000E-03,+4.000000E-03"  # slot 2 over range
    second_csv = "+5.000000E-03,+6.000000E-03,+7.000000E-03,+8.000000E-03"
    first = ProtocolResource([idn, (TRIGGER_4, None), ("FETC:POW:ALL:CSV?", first_csv)])
    second = ProtocolResource([idn, (TRIGGER_4, None), ("FETC:POW:ALL:CSV?", second_csv),
                               (TRIGGER_4, None), ("FETC:POW:ALL:CSV?", second_csv)])
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


def _answers(replies: dict[str, str]):
    def answer_one(command: str) -> str | None:
        return replies.get(command, '+0,"No error"' if command == "SYST:ERR?" else None)

    def answer(line: str) -> str | None:  # a program message: its queries' replies, `;`-joined
        found = [reply for reply in map(answer_one, line.split(";")) if reply is not None]
        return ";".join(found) if found else None
    return answer


def test_commands_without_a_reply_share_the_segment_of_the_next_query() -> None:
    """On a raw socket the trigger and the fetch leave in one write (no lone segment for TCP to
    hold back), as do a switch move and its completion query; every reply comes back whole."""
    from tests.drivers.recording_instrument import RecordingInstrument

    csv = '"+1.0E-03,+2.0E-03,+3.0E-03,+4.0E-03"'
    peer = RecordingInstrument(_answers({"*IDN?": "Keysight Technologies,N7744C,MY1,V1",
                                         "FETC:POW:ALL:CSV?": csv}))
    manager = pyvisa.ResourceManager("@py")
    try:
        meter = open_instrument(manager, driver="keysight_n774x", address=peer.address, name="meter")
        meter.configure(1310.0, 0.001)
        readings = meter.read_all()
        meter.close()
    finally:
        manager.close()
        peer.close()
    np.testing.assert_allclose(readings.power_w, [1e-3, 2e-3, 3e-3, 4e-3])
    assert [TRIGGER_4, "FETC:POW:ALL:CSV?"] in peer.segments
    assert ["INIT1:CONT 0", "SYST:ERR?"] in peer.segments  # a setting and its error check: one write
    assert all(segment[-1].endswith("?") for segment in peer.segments)  # every write ends in a query


def test_near_due_sleeps_until_just_before_the_reply_is_due() -> None:
    """`reply_wait = "near-due"`: before reading a reply whose due time the driver knows (an
    integration's end plus the round trip, a move's settle) the host sleeps until shortly
    before it; "sleep" leaves the whole wait to the library. A fake clock records the sleeps."""
    from tests.drivers.recording_instrument import RecordingInstrument

    now, slept = [100.0], []
    peer = RecordingInstrument(_answers({"*IDN?": "Keysight Technologies,N7747A,MY1,V1",
                                         "FETC:POW:ALL:CSV?": "+1.0E-03,+2.0E-03"}))
    manager = pyvisa.ResourceManager("@py")
    try:
        meter = open_instrument(manager, driver="keysight_n774x", address=peer.address, name="meter")
        meter.clock, meter.sleep = (lambda: now[0]), slept.append
        meter.configure(1310.0, 0.002)
        meter.round_trip_s = 0.0003
        for reply_wait in ("near-due", "sleep"):
            meter.reply_wait = reply_wait
            slept.clear()
            meter.read_all()
            assert slept == ([pytest.approx(0.002 + 0.0003 - 0.0005)] if reply_wait == "near-due" else [])
        meter.close()
    finally:
        manager.close()
        peer.close()
