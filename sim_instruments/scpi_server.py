"""SCPI over raw TCP sockets on 127.0.0.1, the way LAN instruments serve port 5025.

Each simulated instrument is a `SimulatedInstrument` (a command table and an
error queue) served by a `TcpInstrumentServer` bound to a free loopback port.
Clients reach it through pyvisa-py as `TCPIP0::127.0.0.1::<port>::SOCKET`.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim_instruments.faults import DROP, Partial

if TYPE_CHECKING:
    from sim_instruments.faults import FaultInjector

Reply = str | bytes | None
Handler = Callable[[re.Match[str]], Reply]

LOOPBACK = "127.0.0.1"


@dataclass
class Latency:
    """Time an instrument takes for things, as its data sheet would say."""

    query_round_trip_s: float = 0.0
    switch_settle_s: float = 0.0
    wavelength_change_s: float = 0.0
    laser_on_s: float = 0.0


class SlotEmpty(LookupError):
    """A command addressed a slot the instrument does not have (-303 already queued)."""


class SimulatedInstrument:
    """A command table plus a SCPI error queue; subclasses add their dialect."""

    idn = "Simulated,Instrument,0,0"
    error_queue_depth = 30
    no_error_reply = '+0,"No error"'

    def __init__(self, latency: Latency | None = None) -> None:
        self.latency = latency or Latency()
        # Timing without stacked sleeps (each sleep overshoots by tens of µs): an operation that
        # completes later (switch settle, wavelength change) sets `_busy_until`, and the next
        # command starts then; a reply whose data is not ready yet (FETC during an integration)
        # sets `_reply_at`. `handle()` waits once, until max(start, data ready) + round trip.
        self._busy_until = 0.0
        self._reply_at = 0.0
        #: When the server received the line being handled (set by the server; None: now).
        self.received_at: float | None = None
        #: When the instrument started on the command being handled (received, and not busy).
        self.command_started = 0.0
        self.errors: deque[tuple[int, str]] = deque(maxlen=self.error_queue_depth)
        self._table: list[tuple[re.Pattern[str], Handler]] = []
        self.route(r"\*IDN\?", lambda _m: self.idn)
        self.route(r"\*CLS", lambda _m: self.errors.clear())
        self.route(r"\*OPC\?", lambda _m: "1")
        self.route(r"\*RST", lambda _m: self.reset())
        self.route(r"SYST(?:em)?:ERR(?:or)?\?", lambda _m: self.pop_error())
        self.commands_seen = 0

    def route(self, pattern: str, handler: Handler) -> None:
        self._table.append((re.compile(pattern + r"$", re.IGNORECASE), handler))

    def reset(self) -> None:
        self.errors.clear()

    def push_error(self, code: int, message: str) -> None:
        self.errors.append((code, message))

    def pop_error(self) -> str:
        if not self.errors:
            return self.no_error_reply
        code, message = self.errors.popleft()
        return f'{code:+d},"{message}"'

    def busy_for(self, seconds: float) -> None:
        """The command just handled completes `seconds` from now: later commands wait for it
        (operation-complete semantics of a switch move or a wavelength change)."""
        if seconds > 0:
            self._busy_until = max(self._busy_until, time.monotonic() + seconds)

    def reply_not_before(self, moment: float) -> None:
        """The reply being built carries data that is ready at `moment` (time.monotonic())."""
        self._reply_at = max(self._reply_at, moment)

    def handle(self, command: str) -> Reply:
        self.commands_seen += 1
        received, self.received_at = self.received_at, None
        started = self.command_started = max(received or time.monotonic(), self._busy_until)
        self._reply_at = 0.0
        command = command.strip()
        for pattern, handler in self._table:
            match = pattern.match(command)
            if match:
                try:
                    reply = handler(match)
                except ValueError:
                    self.push_error(-222, "Data out of range")
                    return None
                deadline = max(started, self._reply_at)
                if command.endswith("?"):
                    deadline += self.latency.query_round_trip_s
                _wait_until(deadline)
                return reply
        self.push_error(-113, "Undefined header")
        return None


def _wait_until(deadline: float) -> None:
    delay_s = deadline - time.monotonic()
    if delay_s > 0:
        time.sleep(delay_s)


def precise_timers() -> None:
    """Ask Linux for 1 ns timer slack on the calling thread (default 50 µs), so a simulated
    sub-millisecond latency is not stretched by the scheduler's batching. Best effort."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(29, 1, 0, 0, 0)  # PR_SET_TIMERSLACK
    except (OSError, AttributeError):
        pass


def binary_block(payload: bytes) -> bytes:
    """IEEE 488.2 definite-length block: #<n><length><payload>."""
    length = str(len(payload)).encode()
    return b"#" + str(len(length)).encode() + length + payload


class TcpInstrumentServer:
    """Serves one instrument on a free loopback port until closed."""

    def __init__(self, instrument: SimulatedInstrument, *, host: str = LOOPBACK) -> None:
        if host not in (LOOPBACK, "localhost", "::1"):
            raise ValueError("simulated instruments bind to loopback only")
        self.instrument = instrument
        #: Fault injection (sim_instruments.faults): consulted by `serve_line` when set.
        self.faults: FaultInjector | None = None
        self._listener = socket.create_server((host, 0))
        self.port: int = self._listener.getsockname()[1]
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                        name=f"sim-{type(instrument).__name__}-{self.port}")
        self._thread.start()

    @property
    def address(self) -> str:
        return f"TCPIP0::{LOOPBACK}::{self.port}::SOCKET"

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _peer = self._listener.accept()
            except OSError:
                return
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._connections.add(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        precise_timers()
        buffer = b""
        try:
            while not self._closed.is_set():
                chunk = connection.recv(65536)
                received = time.monotonic()
                if not chunk:
                    return
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    text = line.decode("ascii", errors="replace").strip()
                    if not text:
                        continue
                    # The instrument's time starts when the line arrived, not when this thread got
                    # the interpreter: a round trip includes the simulator's own processing.
                    self.instrument.received_at = received
                    reply = self.serve_line(text)
                    if isinstance(reply, Partial):
                        connection.sendall(reply.data)  # cut short: no terminator ...
                        reply = DROP  # ... and the link goes
                    if reply is DROP:
                        # A connection reset by the peer: RST, not an orderly FIN.
                        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        return
                    if reply is not None:
                        payload = reply if isinstance(reply, bytes) else reply.encode("ascii")
                        connection.sendall(payload + b"\n")
        except OSError:
            return
        finally:
            with self._lock:
                self._connections.discard(connection)
            connection.close()

    def serve_line(self, text: str) -> Reply:
        """Hook for fault injection; by default the instrument answers."""
        if self.faults is not None:
            return self.faults.serve(text, self.instrument.handle)
        return self.instrument.handle(text)

    def close(self) -> None:
        self._closed.set()
        try:
            # close() alone does not wake a thread blocked in accept() on Linux;
            # shutdown() does, so stop() returns at once instead of after the join timeout.
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
        finally:
            with self._lock:
                connections = list(self._connections)
            for connection in connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                connection.close()
        self._thread.join(timeout=2.0)
