"""The simulated instruments' timing and their server: a reply is due when the latency model says,
one instrument waiting on its data never holds up another, and closing leaves nothing open.

Timing is checked on the instrument's own clock (`received_at` is when the server got a line;
`respond()` returns when the instrument completes it), never against the wall clock."""

from __future__ import annotations

import select
import socket
import threading

import pytest

from sim_instruments.dialects.keysight_n773x import SimKeysightN773x
from sim_instruments.dialects.keysight_n774x import SimKeysightN774x
from sim_instruments.event_loop import InstrumentLoop
from sim_instruments.physics import PhysicalModel
from sim_instruments.scpi_server import Latency, SimulatedInstrument, TcpInstrumentServer

ROUND_TRIP_S = 0.002
AVERAGING_S = 0.02
T0 = 1000.0  # a fake moment on the instrument's clock


def _connect(server: TcpInstrumentServer) -> tuple[socket.socket, object]:
    link = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    return link, link.makefile("rb")


def _meter(model: PhysicalModel, name: str) -> SimKeysightN774x:
    model.add_meter(name, [1, 2, 3, 4])
    meter = SimKeysightN774x(model, name, instrument_model="N7744A", latency=Latency(query_round_trip_s=ROUND_TRIP_S))
    for slot in range(1, 5):
        model.channels[(name, slot)].averaging_time_s = AVERAGING_S
    return meter


def _respond_at(instrument: SimulatedInstrument, moment: float, command: str) -> tuple[object, float]:
    instrument.received_at = moment
    return instrument.respond(command)


def test_a_fetch_is_due_when_the_triggered_integration_ends_plus_the_round_trip() -> None:
    meter = _meter(PhysicalModel(port_count=4, seed=1), "meter1")
    _respond_at(meter, T0, "INIT1:CONT 0")
    assert _respond_at(meter, T0, "INIT1:IMM") == (None, T0)
    reply, due = _respond_at(meter, T0 + 0.001, "FETC:POW:ALL:CSV?")
    assert reply.count(",") == 3
    assert due == pytest.approx(T0 + AVERAGING_S + ROUND_TRIP_S)
    # a slot measuring continuously has a completed reading at once
    reply, due = _respond_at(meter, T0 + 1.0, "FETC2:POW?")
    assert due == pytest.approx(T0 + 1.0 + ROUND_TRIP_S)
    _reply, due = _respond_at(meter, T0 + 2.0, "*IDN?")
    assert due == pytest.approx(T0 + 2.0 + ROUND_TRIP_S)


def test_commands_of_one_message_run_one_after_the_other() -> None:
    """IEEE 488.2 sequential commands: a trigger behind a FETCh in its program message starts
    when the fetched integration ends; a query behind a move, when the mirror has settled."""
    meter = _meter(PhysicalModel(port_count=4, seed=1), "meter1")
    for slot in range(1, 5):
        _respond_at(meter, T0, f"INIT{slot}:CONT 0")
    triggers = ";".join(f":INIT{slot}:IMM" for slot in range(1, 5))
    _respond_at(meter, T0, triggers)
    _reply, due = _respond_at(meter, T0, f"FETC:POW:ALL:CSV?;{triggers}")
    assert due == pytest.approx(T0 + AVERAGING_S + ROUND_TRIP_S)
    _reply, due = _respond_at(meter, due, "FETC:POW:ALL:CSV?")  # asked as soon as the first reply is in
    assert due == pytest.approx(T0 + 2 * AVERAGING_S + ROUND_TRIP_S)  # one round trip for the pair

    switch = SimKeysightN773x(PhysicalModel(port_count=8),
                              latency=Latency(query_round_trip_s=ROUND_TRIP_S, switch_settle_s=0.005))
    reply, due = _respond_at(switch, T0, ":ROUT1 A,3;:ROUT1?")
    assert reply == "A,3" and due == pytest.approx(T0 + 0.005 + ROUND_TRIP_S)


def test_a_switch_move_holds_the_next_command_until_it_has_settled() -> None:
    switch = SimKeysightN773x(PhysicalModel(port_count=8),
                              latency=Latency(query_round_trip_s=ROUND_TRIP_S, switch_settle_s=0.005))
    assert _respond_at(switch, T0, ":ROUT1 A,3") == (None, T0)
    reply, due = _respond_at(switch, T0 + 0.001, ":ROUT1?")
    assert reply == "A,3"
    assert due == pytest.approx(T0 + 0.005 + ROUND_TRIP_S)  # started once the mirror settled
    _respond_at(switch, T0 + 1.0, ":ROUT1 A,3")  # no move: nothing to wait for
    assert _respond_at(switch, T0 + 1.0, ":ROUT1?")[1] == pytest.approx(T0 + 1.0 + ROUND_TRIP_S)


class _WaitsAnHour(SimulatedInstrument):
    """Answers `DATA?` only once data an hour away are ready."""

    def __init__(self) -> None:
        super().__init__()
        self.declare("DATA?", self._data)

    def _data(self, _call: object) -> str:
        self.reply_not_before(self.now() + 3600.0)
        return "late"


def test_an_instrument_waiting_on_its_data_does_not_hold_up_another() -> None:
    """Both are served by one thread: a reply that is not due yet must not block it."""
    loop = InstrumentLoop()
    slow = TcpInstrumentServer(_WaitsAnHour(), loop=loop)
    quick = TcpInstrumentServer(SimulatedInstrument(), loop=loop)
    try:
        slow_link, _slow_replies = _connect(slow)
        quick_link, quick_replies = _connect(quick)
        with slow_link, quick_link:
            slow_link.sendall(b"DATA?\n")
            quick_link.sendall(b"*IDN?\n")
            assert quick_replies.readline().startswith(b"Simulated,Instrument")
            readable, _, _ = select.select([slow_link], [], [], 0)
            assert not readable, "the slow instrument answered before its data were due"
    finally:
        slow.close()
        quick.close()
        loop.close()


def test_commands_on_one_link_complete_in_order() -> None:
    """A query sent behind a slow one is answered after it, as an instrument works through its input."""
    model = PhysicalModel(port_count=4, seed=1)
    server = TcpInstrumentServer(_meter(model, "meter1"))  # a loop of its own
    try:
        link, replies = _connect(server)
        with link:
            link.sendall(b"INIT1:CONT 0\nINIT:IMM\nFETC:POW:ALL:CSV?\n*IDN?\nSYST:ERR?\n")
            assert replies.readline().count(b",") == 3
            assert replies.readline().startswith(b"Keysight")
            assert replies.readline().strip() == b'+0,"No error"'
    finally:
        server.close()


def test_closing_closes_every_link_and_stops_the_thread() -> None:
    threads_before = {thread.ident for thread in threading.enumerate()}
    server = TcpInstrumentServer(SimulatedInstrument())
    link, replies = _connect(server)
    with link:
        link.sendall(b"*IDN?\n")
        assert replies.readline()
        server.close()
        assert replies.readline() == b""  # the simulator hung up
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
    assert not {thread.ident for thread in threading.enumerate()} - threads_before  # close() joined it
