"""The simulated instruments' server: replies never leave before the latency model allows,
one slow instrument never holds up another, and closing leaves nothing open."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from sim_instruments.dialects.keysight_n774x import SimKeysightN774x
from sim_instruments.event_loop import InstrumentLoop
from sim_instruments.physics import PhysicalModel
from sim_instruments.scpi_server import Latency, SimulatedInstrument, TcpInstrumentServer

ROUND_TRIP_S = 0.002
AVERAGING_S = 0.02


def _connect(server: TcpInstrumentServer) -> tuple[socket.socket, object]:
    link = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    return link, link.makefile("rb")


def _meter(model: PhysicalModel, name: str) -> SimKeysightN774x:
    model.add_meter(name, [1, 2, 3, 4])
    meter = SimKeysightN774x(model, name, instrument_model="N7744A", latency=Latency(query_round_trip_s=ROUND_TRIP_S))
    for slot in range(1, 5):
        model.channels[(name, slot)].averaging_time_s = AVERAGING_S
    return meter


def test_a_reading_never_comes_back_before_averaging_time_plus_round_trip() -> None:
    model = PhysicalModel(port_count=4, seed=1)
    loop = InstrumentLoop()
    server = TcpInstrumentServer(_meter(model, "meter1"), loop=loop)
    try:
        link, replies = _connect(server)
        with link:
            for _ in range(5):
                sent_at = time.monotonic()
                link.sendall(b"INIT1:CONT 0\nINIT:IMM\nFETC:POW:ALL:CSV?\n")
                reply = replies.readline()
                elapsed_s = time.monotonic() - sent_at
                assert reply.count(b",") == 3
                assert elapsed_s >= AVERAGING_S + ROUND_TRIP_S - 1e-4
            sent_at = time.monotonic()
            link.sendall(b"*IDN?\n")
            assert replies.readline().startswith(b"Keysight Technologies,N7744A")
            assert time.monotonic() - sent_at >= ROUND_TRIP_S - 1e-4
    finally:
        server.close()
        loop.close()


def test_an_instrument_that_is_integrating_does_not_hold_up_another() -> None:
    """Both instruments are served by one thread: a pending reply must not block it."""
    model = PhysicalModel(port_count=4, seed=1)
    loop = InstrumentLoop()
    slow = TcpInstrumentServer(_meter(model, "meter1"), loop=loop)
    model.channels[("meter1", 1)].averaging_time_s = 1.0  # the whole mainframe integrates for 1 s
    quick = TcpInstrumentServer(SimulatedInstrument(), loop=loop)
    try:
        slow_link, slow_replies = _connect(slow)
        quick_link, quick_replies = _connect(quick)
        with slow_link, quick_link:
            slow_link.sendall(b"INIT1:CONT 0\nINIT:IMM\nFETC:POW:ALL:CSV?\n")
            time.sleep(0.05)
            sent_at = time.monotonic()
            quick_link.sendall(b"*IDN?\n")
            assert quick_replies.readline().startswith(b"Simulated,Instrument")
            assert time.monotonic() - sent_at < 0.5, "the quick instrument waited for the slow one"
            assert slow_replies.readline().count(b",") == 3
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
    deadline = time.monotonic() + 2
    while {thread.ident for thread in threading.enumerate()} - threads_before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not {thread.ident for thread in threading.enumerate()} - threads_before
