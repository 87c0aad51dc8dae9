"""One thread that serves every simulated TCP instrument of a bench.

A thread per connection made the simulated instruments slower than their own
latency model: on a 2-core machine each command waited for the interpreter
lock and for its thread to be scheduled (100-800 µs measured, per command,
with four meters answering at once), and that time was charged to the
toolkit's cycle time. Here one thread multiplexes the listeners and
connections, acts on each line as soon as it is read, and sends each reply at
the moment the instrument's model says it is ready.

Timing rules (the same as `SimulatedInstrument.handle`):

* a line's time is its arrival at the socket (a kernel timestamp,
  `SO_TIMESTAMPNS`), not when the loop got round to it;
* the instrument acts on a command when it reads it, and completes it at the
  moment `respond()` returns; the reply leaves then, and the connection's next
  command starts no earlier (instruments work through their input in order).

Sub-millisecond waits are finished with a precise sleep (epoll waits in whole
milliseconds); lines arriving meanwhile keep their kernel timestamps.
"""

from __future__ import annotations

import heapq
import itertools
import selectors
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sim_instruments.faults import DROP, Partial

_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python does not export it
_PRECISE_WAIT_S = 0.002  # below this, sleep instead of epoll (whole-millisecond timeouts)


class LineServer(Protocol):
    instrument: Any  # its `received_at` is set before each line is answered

    def answer(self, text: str) -> tuple[Any, float]: ...


def precise_timers() -> None:
    """Ask Linux for 1 ns timer slack on the calling thread (default 50 µs), so a simulated
    sub-millisecond latency is not stretched by the scheduler's batching. Best effort."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(29, 1, 0, 0, 0)  # PR_SET_TIMERSLACK
    except (OSError, AttributeError):
        pass


def enable_arrival_stamps(connection: socket.socket) -> bool:
    """Ask the kernel to stamp each received segment (Linux SO_TIMESTAMPNS). An instrument's
    clock starts when the bytes reach it, not when a simulator thread gets round to them."""
    try:
        connection.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def arrival_monotonic(ancillary: list[tuple[int, int, bytes]]) -> float:
    """The kernel's arrival stamp (CLOCK_REALTIME) on the monotonic clock; now if absent.

    With several segments in one read the stamp is the last one's: a line is then
    taken as arriving a little late, never early."""
    now_monotonic, now_realtime = time.monotonic(), time.time()
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            age_s = now_realtime - (seconds + nanoseconds * 1e-9)
            if 0.0 <= age_s < 1.0:  # a wall-clock step would make it meaningless
                return now_monotonic - age_s
    return now_monotonic


@dataclass(eq=False)
class _Connection:
    sock: socket.socket
    server: LineServer
    stamped: bool
    buffer: bytes = b""
    lines: deque[tuple[str, float]] = field(default_factory=deque)
    free_at: float = 0.0  # the instrument completes the previous command then
    pending: bytes | None = None  # reply leaving at free_at
    waiting: bool = False


class InstrumentLoop:
    """Serves the listeners added to it, on one daemon thread, until `close()`."""

    def __init__(self, name: str = "sim-instruments", *, busy_poll: bool = False) -> None:
        self.busy_poll = busy_poll
        self._selector = selectors.DefaultSelector()
        self._wake_in, self._wake_out = socket.socketpair()
        self._wake_in.setblocking(False)
        self._selector.register(self._wake_in, selectors.EVENT_READ, None)
        self._calls: deque[Callable[[], None]] = deque()
        self._calls_lock = threading.Lock()
        self._timers: list[tuple[float, int, _Connection]] = []
        self._order = itertools.count()
        self._listeners: dict[socket.socket, LineServer] = {}
        self._connections: dict[socket.socket, _Connection] = {}
        self._closing = False
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)
        self._thread.start()

    # -- called from any thread ------------------------------------------------------------
    def add_listener(self, listener: socket.socket, server: LineServer) -> None:
        listener.setblocking(False)
        self._call(lambda: self._register_listener(listener, server))

    def remove_listener(self, listener: socket.socket) -> None:
        """Stop serving `listener` and every connection it accepted; returns when they are closed."""
        self._call(lambda: self._drop_listener(listener), wait=True)

    def close(self) -> None:
        if self._closing:
            return
        self._call(self._shut_down, wait=True)
        self._thread.join(timeout=2.0)
        for end in (self._wake_in, self._wake_out):
            end.close()

    def _call(self, function: Callable[[], None], wait: bool = False) -> None:
        if threading.current_thread() is self._thread or not self._thread.is_alive():
            function()
            return
        done = threading.Event()

        def run() -> None:
            try:
                function()
            finally:
                done.set()

        with self._calls_lock:
            self._calls.append(run)
        try:
            self._wake_out.send(b"\0")
        except OSError:
            run()  # the loop is gone: do it here
        if wait and not done.wait(timeout=5.0):
            raise RuntimeError("the simulated instruments' loop did not answer within 5 s")

    # -- the loop thread -----------------------------------------------------------------------
    def _register_listener(self, listener: socket.socket, server: LineServer) -> None:
        self._listeners[listener] = server
        self._selector.register(listener, selectors.EVENT_READ, None)

    def _drop_listener(self, listener: socket.socket) -> None:
        server = self._listeners.pop(listener, None)
        if server is not None:
            self._selector.unregister(listener)
        listener.close()
        for connection in [c for c in self._connections.values() if c.server is server]:
            self._close_connection(connection, shutdown=True)

    def _shut_down(self) -> None:
        for listener in list(self._listeners):
            self._drop_listener(listener)
        self._closing = True

    def _run(self) -> None:
        precise_timers()
        try:
            while not self._closing:
                self._wait_for_events()
                self._fire_due_timers()
        finally:
            for connection in list(self._connections.values()):
                self._close_connection(connection, shutdown=True)
            for listener in list(self._listeners):
                listener.close()
            self._selector.close()

    def _wait_for_events(self) -> None:
        timeout: float | None = None
        if self.busy_poll:
            timeout = 0.0
        elif self._timers:
            timeout = max(0.0, self._timers[0][0] - time.monotonic())
            if timeout < _PRECISE_WAIT_S:
                if timeout > 0:
                    time.sleep(timeout)
                timeout = 0.0
            else:
                timeout -= 0.001  # epoll rounds up to the millisecond: wake early, finish precisely
        for key, _mask in self._selector.select(timeout):
            sock = key.fileobj
            if sock is self._wake_in:
                self._run_calls()
            elif sock in self._listeners:
                self._accept(sock)  # type: ignore[arg-type]
            else:
                connection = self._connections.get(sock)  # type: ignore[call-overload]
                if connection is not None:
                    self._read(connection)

    def _run_calls(self) -> None:
        try:
            while self._wake_in.recv(4096):
                pass
        except BlockingIOError:
            pass
        while True:
            with self._calls_lock:
                if not self._calls:
                    return
                call = self._calls.popleft()
            call()

    def _accept(self, listener: socket.socket) -> None:
        try:
            sock, _peer = listener.accept()
        except (BlockingIOError, OSError):
            return
        sock.setblocking(True)  # replies are sent whole; the client is waiting for them
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = _Connection(sock, self._listeners[listener], enable_arrival_stamps(sock))
        self._connections[sock] = connection
        self._selector.register(sock, selectors.EVENT_READ, None)

    def _read(self, connection: _Connection) -> None:
        try:
            if connection.stamped:
                chunk, ancillary, _flags, _peer = connection.sock.recvmsg(65536, 64)
                received = arrival_monotonic(ancillary)
            else:
                chunk, received = connection.sock.recv(65536), time.monotonic()
        except OSError:
            self._close_connection(connection)
            return
        if not chunk:
            self._close_connection(connection)
            return
        connection.buffer += chunk
        while b"\n" in connection.buffer:
            line, connection.buffer = connection.buffer.split(b"\n", 1)
            text = line.decode("ascii", errors="replace").strip()
            if text:
                connection.lines.append((text, received))
        self._work_through(connection)

    def _work_through(self, connection: _Connection) -> None:
        """Act on queued lines in order until one completes in the future."""
        instrument = connection.server.instrument
        while connection.lines and not connection.waiting and connection.sock in self._connections:
            text, received = connection.lines.popleft()
            instrument.received_at = max(received, connection.free_at)
            reply, completes_at = connection.server.answer(text)
            if isinstance(reply, Partial):
                self._send(connection, reply.data)  # cut short: no terminator ...
                reply = DROP  # ... and the link goes
            if reply is DROP:
                # A connection reset by the peer: RST, not an orderly FIN.
                connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self._close_connection(connection)
                return
            payload = None
            if reply is not None:
                payload = (reply if isinstance(reply, bytes) else reply.encode("ascii")) + b"\n"
            connection.free_at = max(connection.free_at, completes_at)
            if completes_at > time.monotonic():
                connection.pending, connection.waiting = payload, True
                heapq.heappush(self._timers, (completes_at, next(self._order), connection))
            elif payload is not None:
                self._send(connection, payload)

    def _fire_due_timers(self) -> None:
        while self._timers and self._timers[0][0] <= time.monotonic():
            _due, _order, connection = heapq.heappop(self._timers)
            if connection.sock not in self._connections:
                continue  # closed while waiting
            payload, connection.pending, connection.waiting = connection.pending, None, False
            if payload is not None:
                self._send(connection, payload)
            self._work_through(connection)

    def _send(self, connection: _Connection, payload: bytes) -> None:
        try:
            connection.sock.sendall(payload)
        except OSError:
            self._close_connection(connection)

    def _close_connection(self, connection: _Connection, shutdown: bool = False) -> None:
        if self._connections.pop(connection.sock, None) is None:
            return
        try:
            self._selector.unregister(connection.sock)
        except (KeyError, ValueError):
            pass
        if shutdown:
            try:
                connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        connection.sock.close()
