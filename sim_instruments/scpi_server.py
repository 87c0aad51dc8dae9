"""SCPI over raw TCP sockets on 127.0.0.1, the way LAN instruments serve port 5025.

Each simulated instrument is a `SimulatedInstrument` (a command table and an
error queue) served by a `TcpInstrumentServer` bound to a free loopback port.
Clients reach it through pyvisa-py as `TCPIP0::127.0.0.1::<port>::SOCKET`.
"""

from __future__ import annotations

import re
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim_instruments.event_loop import InstrumentLoop
from sim_instruments.scpi_commands import Call, CommandSet, ScpiError, split_program_message

if TYPE_CHECKING:
    from sim_instruments.faults import FaultInjector

Reply = str | bytes | None
Handler = Callable[[re.Match[str]], Reply]
CommandHandler = Callable[[Call], Reply]

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
    """A declared command set plus a SCPI error queue; subclasses add their dialect.

    Dialects declare headers as their programming guide writes them (`declare`, see
    sim_instruments.scpi_commands). `route` (a regular expression per command) remains for
    the non-SCPI serial dialects whose commands have no SCPI tree.
    """

    idn = "Simulated,Instrument,0,0"
    error_queue_depth = 30
    no_error_reply = '+0,"No error"'

    def __init__(self, latency: Latency | None = None) -> None:
        self.latency = latency or Latency()
        # Timing without stacked sleeps (each sleep overshoots by tens of µs): an operation that
        # completes later (switch settle, wavelength change) sets `_busy_until`, and the next
        # command starts then; a reply whose data is not ready yet (FETC during an integration)
        # sets `_reply_at`. The reply leaves once, at max(start, data ready) + round trip.
        self._busy_until = 0.0
        self._reply_at = 0.0
        #: When the server received the line being handled (set by the server; None: now).
        self.received_at: float | None = None
        #: When the instrument started on the command being handled (received, and not busy).
        self.command_started = 0.0
        self.errors: deque[tuple[int, str]] = deque()
        self.commands = CommandSet()
        self._table: list[tuple[re.Pattern[str], Handler]] = []
        self._dispatch_cache: dict[str, tuple[Handler, re.Match[str]]] = {}
        # IEEE 488.2 common commands and the SCPI error queue (SCPI-1999, SYSTem:ERRor).
        self.declare("*IDN?", lambda _c: self.idn)
        self.declare("*CLS", lambda _c: self.errors.clear())
        self.declare("*OPC?", lambda _c: "1")
        self.declare("*OPC", lambda _c: None)
        self.declare("*WAI", lambda _c: None)
        self.declare("*RST", lambda _c: self.reset())
        self.declare(":SYSTem:ERRor[:NEXT]?", lambda _c: self.pop_error())
        self.commands_seen = 0

    def declare(self, header: str, handler: CommandHandler) -> None:
        """Serve `header`, written as the guide writes it (`:SENSe[n]:POWer:WAVelength?`)."""
        self.commands.add(header, handler)

    def route(self, pattern: str, handler: Handler) -> None:
        self._table.append((re.compile(pattern + r"$", re.IGNORECASE), handler))
        self._dispatch_cache.clear()

    def _dispatch(self, command: str) -> tuple[Handler, re.Match[str]] | None:
        """The first route that matches `command`, once per distinct string."""
        found = self._dispatch_cache.get(command)
        if found is None:
            for pattern, handler in self._table:
                match = pattern.match(command)
                if match:
                    found = (handler, match)
                    break
            else:
                return None
            if len(self._dispatch_cache) < 4096:  # bounded: commands carry free values
                self._dispatch_cache[command] = found
        return found

    def reset(self) -> None:
        self.errors.clear()

    def push_error(self, code: int, message: str) -> None:
        """Queue an error; a full queue keeps its oldest entries and its last becomes -350
        "Queue overflow" (SCPI-1999, SYSTem:ERRor)."""
        if len(self.errors) >= self.error_queue_depth:
            self.errors[-1] = (-350, "Queue overflow")
            return
        self.errors.append((code, message))

    def pop_error(self) -> str:
        if not self.errors:
            return self.no_error_reply
        code, message = self.errors.popleft()
        return f'{code:+d},"{message}"'

    def busy_for(self, seconds: float) -> None:
        """The command just handled completes `seconds` from now: later commands wait for it
        (operation-complete semantics of a switch move or a wavelength change)."""
        if seconds > 0:  # from when the command started, not from when the simulator got to it
            self._busy_until = max(self._busy_until, (self.command_started or time.monotonic()) + seconds)

    def reply_not_before(self, moment: float) -> None:
        """The reply being built carries data that is ready at `moment` (time.monotonic())."""
        self._reply_at = max(self._reply_at, moment)

    def now(self) -> float:
        """The moment the command being handled started (the instrument's own clock)."""
        return self.command_started or time.monotonic()

    def execute(self, command: str) -> Reply:
        """Act on one command (no `;`); errors go to the queue and give no reply."""
        found = self.commands.find(command)
        if found is not None:
            handler, call = found
            try:
                return handler(call)
            except ScpiError as error:
                self.push_error(error.code, error.message)
                return None
            except SlotEmpty:  # -303 is queued; any other error of a handler is a simulator bug and shows
                return None
        routed = self._dispatch(command)
        if routed is None:
            self.push_error(-113, "Undefined header")
            return None
        handler, match = routed
        try:
            return handler(match)
        except ValueError:
            self.push_error(-222, "Data out of range")
            return None
        except SlotEmpty:
            return None

    def respond(self, line: str) -> tuple[Reply, float]:
        """Act on the program message `line` now; return the reply and the moment
        (time.monotonic()) the instrument completes it: the reply leaves then, and the next
        command starts no earlier. Replies of several queries in one message are joined by `;`."""
        self.commands_seen += 1
        received, self.received_at = self.received_at, None
        started = self.command_started = max(received or time.monotonic(), self._busy_until)
        self._reply_at = 0.0
        line = line.strip()
        if ";" in line:
            reply = _joined(self._sequentially(split_program_message(line)))
        else:
            reply = self.execute(line)
        if reply is None:
            return None, max(started, self._reply_at)
        deadline = max(self.command_started, self._reply_at) + self.latency.query_round_trip_s
        return reply, deadline

    def _sequentially(self, commands: list[str]) -> list[str | bytes]:
        """The commands of one message, each starting once the one before has completed (IEEE
        488.2 sequential commands): a command behind a query whose data are not ready yet (a
        trigger behind a FETCh) starts when they are, one behind a move when it has settled."""
        replies = []
        for command in commands:
            reply = self.execute(command)
            if reply is not None:
                replies.append(reply)
            self.command_started = max(self.command_started, self._busy_until, self._reply_at)
        return replies

    def handle(self, command: str) -> Reply:
        """`respond()`, waiting until the instrument completes the command (serial server, tests)."""
        reply, deadline = self.respond(command)
        _wait_until(deadline)
        return reply


def _joined(replies: list[str | bytes]) -> Reply:
    """The replies of one program message, `;`-separated (IEEE 488.2 response message syntax)."""
    if not replies:
        return None
    if len(replies) == 1:
        return replies[0]
    if any(isinstance(part, bytes) for part in replies):
        return b";".join(part if isinstance(part, bytes) else part.encode() for part in replies)
    return ";".join(str(part) for part in replies)


def _wait_until(deadline: float) -> None:
    delay_s = deadline - time.monotonic()
    if delay_s > 0:
        time.sleep(delay_s)


def binary_block(payload: bytes) -> bytes:
    """IEEE 488.2 definite-length block: #<n><length><payload>."""
    length = str(len(payload)).encode()
    return b"#" + str(len(length)).encode() + length + payload


class TcpInstrumentServer:
    """Serves one instrument on a free loopback port until closed.

    Connections are served by an `InstrumentLoop` (one thread for all the
    instruments of a bench; pass `loop=`), or by a loop of its own.
    """

    def __init__(self, instrument: SimulatedInstrument, *, host: str = LOOPBACK,
                 loop: InstrumentLoop | None = None) -> None:
        if host not in (LOOPBACK, "localhost", "::1"):
            raise ValueError("simulated instruments bind to loopback only")
        self.instrument = instrument
        #: Fault injection (sim_instruments.faults): consulted by `answer` when set.
        self.faults: FaultInjector | None = None
        self._own_loop = loop is None
        self._loop = loop if loop is not None else InstrumentLoop()
        self._listener = socket.create_server((host, 0))
        self.port: int = self._listener.getsockname()[1]
        self._loop.add_listener(self._listener, self)

    @property
    def address(self) -> str:
        return f"TCPIP0::{LOOPBACK}::{self.port}::SOCKET"

    def answer(self, text: str) -> tuple[Reply, float]:
        """The reply to `text` (faults applied) and when it leaves."""
        if self.faults is None:
            return self.instrument.respond(text)
        completes_at = 0.0

        def respond(command: str) -> Reply:
            nonlocal completes_at
            reply, completes_at = self.instrument.respond(command)
            return reply

        return self.faults.serve(text, respond), completes_at

    def close(self) -> None:
        try:
            self._loop.remove_listener(self._listener)
        finally:
            if self._own_loop:
                self._loop.close()
