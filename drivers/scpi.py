"""A small SCPI base over a PyVISA message-based resource.

Every driver is a thin declarative layer over `ScpiInstrument`: it says which
models it accepts and which strings it sends. The base owns the things that
must be the same everywhere: timeouts mapped to typed errors, `*IDN?` parsing,
draining `SYST:ERR?` after configuration, and the SCPI over-range sentinel.

It also owns recovery, so that every driver recovers the same way. When an
operation (`configure`, `set_wavelength`, `set_output`, `select`, `trigger`,
`fetch`, `read_all`, `setup`) fails on the link — timeout, connection reset,
garbage or truncated reply — the base reconnects (a fresh session discards any
late or stray bytes), checks that `*IDN?` still names the same unit, re-sends
the configuration the instrument was last given (its state is unknown after
a reconnect) and repeats the whole operation; a `fetch` is preceded by a new
`trigger`, so a reading taken before the fault is never returned as if it were
fresh. Recoveries are bounded per operation (`max_recoveries`) and by a
`RetryBudget` a test session shares among its instruments and resets per
cable. A SCPI error from the instrument's queue, a wrong model or a changed
identity is never retried.
"""

from __future__ import annotations

import _thread
import functools
import re
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pyvisa.constants import StatusCode
from pyvisa.resources import MessageBasedResource

from drivers.capabilities import InstrumentIdentity
from drivers.errors import (
    InstrumentCommunicationError,
    InstrumentError,
    InstrumentTimeout,
    ScpiError,
    WrongInstrumentError,
)

# SCPI-99 reports "not a number / over range" as 9.9E37; instruments differ in
# the last digits, so anything above this threshold is treated as over range.
OVER_RANGE_THRESHOLD = 1e37
# The 816x family reports out-of-range readings as values above 1e20.
OVER_RANGE_THRESHOLD_816X = 1e20

_ERROR_REPLY = re.compile(r"^\s*([+-]?\d+)\s*,\s*\"?(.*?)\"?\s*$")
_POLL_LIMIT_S = 0.02  # longer waits are not a reading's latency
# "near-due" wakes this long before a reply is due and polls from then on: a thread that has
# slept for milliseconds wakes 70-310 µs after its data arrives on the VMs measured.
_WAKE_EARLY_S = 0.0005
# Between polls, with other threads in the process: a thread spinning on select(0) holds the
# interpreter lock nearly all the time, and a thread waiting for it can be held off for the
# whole switch interval (5 ms): measured with simulated instruments in the same process.
_SHARED_SPIN_NAP_S = 0.00005
#: How a reader waits for a reply (station `[timing] reply_wait`); see `ScpiInstrument._await_reply`.
REPLY_WAITS = ("near-due", "sleep", "poll")
_LEAN_READ_BYTES = 1 << 20  # more than any text reply; binary blocks use read_binary_values
# One socket read: a 32-channel CSV reply is ~500 bytes. Not _LEAN_READ_BYTES: Python allocates
# the whole count for every recv, and a 1 MiB allocation costs more than the read it serves.
_RECV_BYTES = 4096
# Threads started through `_thread` (all but the main one); not in every Python: then none known.
_thread_count: Callable[[], int] = getattr(_thread, "_count", lambda: 0)
_MAX_ERRORS_DRAINED = 32  # deeper than any queue we drive (N774x: 30)

# Commands that start or stop something rather than set a state: never replayed after a reconnect.
_NOT_REPLAYED = re.compile(r"FUNC:STAT|FUNC:PAR|INIT|TRIG|\*RST|\*CLS|PK$", re.IGNORECASE)
# Driver caches of instrument state ("unknown" values); see `invalidate_state`.
_STATE_CACHES: dict[str, Any] = {"_wavelength_nm": None, "_averaging_time_s": None, "_average_count": None,
                                 "_output": None, "_position": None, "_setup_done": False}


class InstrumentReplacedError(WrongInstrumentError):
    """After a reconnect `*IDN?` names another unit: the station must be reopened and re-referenced."""


@dataclass(frozen=True)
class Recovery:
    """One recovery: which instrument, what failed, what was done."""

    instrument: str
    operation: str
    command: str
    error: str

    def as_dict(self) -> dict[str, str]:
        return {"instrument": self.instrument, "operation": self.operation, "command": self.command,
                "error": self.error}


class RetryBudget:
    """Recoveries allowed to a group of instruments (a test session resets it for every cable).

    `limit` None: no shared limit (each operation is still bounded by its driver's `max_recoveries`).
    """

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.used: list[Recovery] = []
        self.history: deque[Recovery] = deque(maxlen=1000)

    def reset(self) -> None:
        self.used = []

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - len(self.used))

    def spend(self, recovery: Recovery) -> bool:
        """Record `recovery` and return True if the budget allows it."""
        if self.limit is not None and len(self.used) >= self.limit:
            return False
        self.used.append(recovery)
        self.history.append(recovery)
        return True


def _recovering(name: str, operation: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a driver operation so that a link failure is recovered and the operation repeated."""

    @functools.wraps(operation)
    def wrapper(self: ScpiInstrument, *args: Any, **kwargs: Any) -> Any:
        if self._operation_depth:  # nested in another operation: the outer one recovers
            return operation(self, *args, **kwargs)
        self._operation_depth += 1
        try:
            recoveries, reconnect = 0, False
            while True:
                self._refuse_if_replaced()
                try:
                    if reconnect:
                        self.reconnect()
                        for method in self.retrigger_before.get(name, ()):
                            getattr(self, method)()
                    return operation(self, *args, **kwargs)
                except (InstrumentTimeout, InstrumentCommunicationError) as error:
                    if not self._may_recover(name, error, recoveries):
                        self.link_suspect = True  # reconnect before trusting this link again
                        raise
                    recoveries, reconnect = recoveries + 1, True
        finally:
            self._operation_depth -= 1

    wrapper._recovering = True  # type: ignore[attr-defined]
    return wrapper


def other_threads_running() -> bool:
    """Whether this process runs other Python threads, low-level ones included (`threading`
    sees only its own): a reader polling in a tight loop would hold them off the interpreter."""
    return threading.active_count() > 1 or _thread_count() > 0


def _socket_session(resource: Any) -> Any:
    """The pyvisa-py TCP socket session behind `resource` (its socket `interface` and the
    `_pending_buffer` it reads into), or None for any other library or session kind."""
    session = getattr(resource.visalib, "sessions", {}).get(resource.session)
    if isinstance(getattr(session, "interface", None), socket.socket) \
            and isinstance(getattr(session, "_pending_buffer", None), bytearray):
        return session
    return None


def _take_line(session: Any, readable: bool = False) -> str | None:
    """The next reply line, if it has arrived whole; None otherwise (the library's read then
    waits for it, with its timeout and error handling). `readable`: the caller has just seen
    bytes waiting on the socket, so it is not asked again.

    The same buffer and socket as pyvisa-py's own read, without its per-call work (three
    attribute look-ups, a status enum, a timeout computation): 3.6 µs against 8.9 µs for
    the library's read of a line already there (warm, measured here), several times more
    right after a wait, on the critical path of every reading."""
    buffer = session._pending_buffer
    end = buffer.find(b"\n")
    if end < 0:
        link = session.interface
        if not readable and not select.select((link,), (), (), 0)[0]:
            return None
        chunk = link.recv(_RECV_BYTES)
        if not chunk:
            return None  # closed by the peer: the library's read reports it
        buffer.extend(chunk)
        end = buffer.find(b"\n")
        if end < 0:
            return None
    line = bytes(buffer[:end])
    del buffer[:end + 1]  # before decoding: garbage is consumed, as the library's read does
    return line.decode("ascii")


def parse_identity(reply: str, address: str = "") -> InstrumentIdentity:
    """Split an `*IDN?` reply into maker, model, serial and firmware."""
    fields = [part.strip() for part in reply.strip().split(",")]
    fields += [""] * (4 - len(fields))
    manufacturer, model, serial_number = fields[0], fields[1], fields[2]
    firmware = ",".join(fields[3:]).strip(",")
    return InstrumentIdentity(manufacturer, model, serial_number, firmware, address)


# Cached: a production loop parses the same few replies and commands thousands of times, and
# right after a reply arrives (on the critical path of every switch move) a regex match cost
# 14-23 µs in the measured loop against 0.1 µs for the cache look-up.
@functools.lru_cache(maxsize=256)
def parse_error(reply: str) -> tuple[int, str]:
    """`+0,"No error"` → (0, "No error"); tolerant of missing quotes and spaces."""
    match = _ERROR_REPLY.match(reply)
    if match is None:
        raise ValueError(f"not a SCPI error reply: {reply!r}")
    return int(match.group(1)), match.group(2)


@functools.lru_cache(maxsize=1024)
def _replay_header(command: str) -> str | None:
    """The header a configuration command is remembered under (see `parse_error` on the
    cache); None for a command that starts or stops something and is never replayed."""
    if _NOT_REPLAYED.search(command):
        return None
    return command.split(" ", 1)[0].upper()


def is_over_range(value: float, threshold: float = OVER_RANGE_THRESHOLD) -> bool:
    return not np.isfinite(value) or abs(value) >= threshold


class ScpiInstrument:
    """Base for SCPI instruments reached through a PyVISA message-based resource."""

    #: Model names (as in `*IDN?`) this driver accepts; empty accepts any.
    models: tuple[str, ...] = ()
    #: Query that drains one entry of the error queue.
    error_query: str = "SYST:ERR?"
    #: False for instruments without an error queue (they confirm commands another way).
    has_error_queue: ClassVar[bool] = True
    #: How replies are awaited (station `[timing] reply_wait`, one of REPLY_WAITS); see `_await_reply`.
    reply_wait: str = "sleep"
    #: The link's query round trip (station `[timing] query_round_trip_s`): when a reply is due.
    round_trip_s: float = 0.0
    #: When the reply to the query in flight is due (monotonic), where the driver knows it.
    _reply_due: float | None = None
    #: Termination the instrument uses; socket instruments need it set explicitly.
    read_termination: str = "\n"
    write_termination: str = "\n"
    #: Operations repeated after a link failure (see the module docstring); each must be idempotent.
    recoverable_operations: ClassVar[tuple[str, ...]] = (
        "setup", "configure", "set_wavelength", "set_output", "select", "trigger", "fetch", "read_all",
        "begin_fetch", "end_fetch")
    #: Before repeating operation K, call methods V in order: a fetch needs a fresh trigger (a reading
    #: taken before the fault must never come back as a new one), the reply of a split fetch its query.
    retrigger_before: ClassVar[dict[str, tuple[str, ...]]] = {
        "fetch": ("trigger",), "begin_fetch": ("trigger",), "end_fetch": ("trigger", "begin_fetch")}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.recoverable_operations:
            # getattr, not cls.__dict__: an operation inherited from a mixin must be wrapped too.
            operation = getattr(cls, name, None)
            if callable(operation) and not getattr(operation, "_recovering", False):
                setattr(cls, name, _recovering(name, operation))

    def __init__(self, resource: Any, *, name: str = "", timeout_s: float = 5.0,
                 check_identity: bool = True, max_recoveries: int = 2,
                 retry_budget: RetryBudget | None = None) -> None:
        self.resource = resource
        self.name = name or getattr(resource, "resource_name", type(self).__name__)
        self.timeout_s = timeout_s
        #: Recoveries (reconnect + repeat) allowed to one operation; 0 disables recovery.
        self.max_recoveries = int(max_recoveries)
        self.retry_budget = retry_budget if retry_budget is not None else RetryBudget()
        self.replaced_by: InstrumentIdentity | None = None
        #: True after a link failure that was not recovered; `reconnect()` clears it.
        self.link_suspect = False
        self._operation_depth = 0
        self._configuration: dict[str, str] = {}  # header → last command that set it, in order
        self._check_identity = check_identity
        self._configure_resource(timeout_s)
        self.identity = self._read_identity() if check_identity else InstrumentIdentity(
            "", "", "", "", self.name)
        if check_identity and self.models and self.identity.model not in self.models:
            raise WrongInstrumentError(
                self.name, "*IDN?",
                f"reports model {self.identity.model!r}, but this driver ({type(self).__name__}) drives "
                f"{', '.join(self.models)}; check the station config's model/address for this instrument")

    def _configure_resource(self, timeout_s: float) -> None:
        # Real sockets and serial ports need explicit terminations; fakes used in
        # protocol tests may not have these attributes, which is fine.
        for attribute, value in (("read_termination", self.read_termination),
                                 ("write_termination", self.write_termination),
                                 ("timeout", int(timeout_s * 1000))):
            try:
                setattr(self.resource, attribute, value)
            except AttributeError:
                pass
        self._lean = self._lean_io()
        # Looked up once per session (a reconnect comes back here), not once per line.
        self._socket = _socket_session(self.resource) if self._lean else None

    # -- transport ---------------------------------------------------------

    def _lean_io(self) -> bool:
        """Lines go straight to the VISA library's read/write on a PyVISA message-based resource
        with "\n" terminations and ASCII: the resource layer's per-call work (logging, warning
        contexts, termination handling) costs ~20 µs a read here, on the critical path of every
        reading. Anything else (fakes in tests, other terminations) goes through the resource."""
        resource = self.resource
        return (isinstance(resource, MessageBasedResource) and resource.read_termination == "\n"
                and resource.write_termination == "\n" and resource.encoding == "ascii")

    def _send_line(self, command: str) -> None:
        if not self._lean:
            self.resource.write(command)
            return
        resource = self.resource
        data = command.encode("ascii") + b"\n"
        session = self._socket
        if session is not None:
            # The session's own (blocking) socket, as its write uses it, without the library's
            # per-call work (a select, a status enum): a trigger or a move is on the critical path.
            sent = session.interface.send(data)
            if sent == len(data):
                return
            data = data[sent:]  # a full send buffer: the library finishes the line
        resource.visalib.write(resource.session, data)

    def _receive_line(self) -> str:
        due, self._reply_due = self._reply_due, None
        if not self._lean:
            return self.resource.read()
        resource = self.resource
        session = self._socket
        if session is not None:
            readable = self.reply_wait != "sleep" and self._await_reply(due, session)
            line = _take_line(session, readable)
            if line is not None:
                return line
        # Up to the termination character (the session stops there); a reply longer than
        # the count is finished by the resource's own loop.
        data, status = resource.visalib.read(resource.session, _LEAN_READ_BYTES)
        reply = data.decode("ascii")
        if status == StatusCode.success_max_count_read:
            reply += resource.read()
        return reply

    def _expect_reply_at(self, ready_at: float) -> None:
        """The instrument will have the next reply ready at `ready_at` (monotonic; an integration's
        end, a move's settle): it is due a round trip later. An estimate: late or early, the
        reply is still read whole; only the reader's wake-up costs more."""
        self._reply_due = ready_at + self.round_trip_s

    def _await_reply(self, due: float | None, session: Any) -> bool:
        """Wait until the reply's first bytes are on the socket (pyvisa-py TCP sessions). A thread
        sleeping in the kernel wakes 70-310 µs after its data arrives on the VMs measured (the
        longer it slept, the later), on the critical path of every reading and every switch move.

        "poll" spins from the start; "near-due" sleeps (on the link: an early reply ends the
        sleep) until `_WAKE_EARLY_S` before the reply is due and spins from then, so a core is
        busy for about half a millisecond a reply rather than for the whole wait; with no due
        time known it leaves the wait to the library. Spinning is bounded: `_POLL_LIMIT_S`
        after it starts, the library's read sleeps as usual.

        True when it saw bytes waiting on the socket (the read need not look again)."""
        link = session.interface
        # A whole reply already buffered (two replies in one segment) is read at once.
        if b"\n" in session._pending_buffer:
            return False
        if self.reply_wait == "near-due":
            if due is None:
                return False
            sleep_s = due - _WAKE_EARLY_S - time.monotonic()
            if sleep_s > 0 and select.select((link,), (), (), sleep_s)[0]:
                return True
        nap_s = _SHARED_SPIN_NAP_S if other_threads_running() else 0.0
        give_up_at = time.monotonic() + _POLL_LIMIT_S
        while not select.select((link,), (), (), nap_s)[0]:
            if time.monotonic() > give_up_at:
                return False
        return True

    def write(self, command: str) -> None:
        try:
            self._send_line(command)
        except Exception as error:  # noqa: BLE001 - translated to a typed error
            raise self._translate(command, error) from error

    def query(self, command: str) -> str:
        try:
            if not self._lean:
                return self.resource.query(command).strip()
            self._send_line(command)
            return self._receive_line().strip()
        except Exception as error:  # noqa: BLE001
            raise self._translate(command, error) from error

    def read_reply(self, command: str) -> str:
        """The reply to `command`, sent earlier with `write` (a query whose answer is read later)."""
        try:
            return self._receive_line().strip()
        except Exception as error:  # noqa: BLE001
            raise self._translate(command, error) from error

    def query_binary_values(self, command: str, datatype: str = "f",
                            is_big_endian: bool = False) -> np.ndarray:
        try:
            values = self.resource.query_binary_values(
                command, datatype=datatype, is_big_endian=is_big_endian, container=np.array)
        except Exception as error:  # noqa: BLE001
            raise self._translate(command, error) from error
        return np.asarray(values, dtype=np.float64)

    def query_float(self, command: str) -> float:
        reply = self.query(command)
        try:
            return float(reply)
        except ValueError as error:
            raise InstrumentCommunicationError(
                self.name, command, f"expected a number, got {reply!r}") from error

    def _translate(self, command: str, error: Exception) -> Exception:
        text = f"{type(error).__name__}: {error}"
        if "timeout" in text.lower() or "VI_ERROR_TMO" in text:
            return InstrumentTimeout(self.name, command, f"no reply before the timeout ({text})")
        return InstrumentCommunicationError(self.name, command, text)

    # -- identity and error queue -------------------------------------------
    def _read_identity(self) -> InstrumentIdentity:
        reply = self.query("*IDN?")
        if reply.count(",") < 2:
            raise InstrumentCommunicationError(self.name, "*IDN?", f"malformed identity {reply!r}")
        return parse_identity(reply, self.name)

    def drain_errors(self) -> list[tuple[int, str]]:
        """Read the error queue until it reports no error; return what was in it."""
        errors: list[tuple[int, str]] = []
        for _ in range(_MAX_ERRORS_DRAINED):
            code, message = self._error_entry(self.query(self.error_query))
            if code == 0:
                return errors
            errors.append((code, message))
        return errors

    def _error_entry(self, reply: str) -> tuple[int, str]:
        try:
            return parse_error(reply)
        except ValueError as error:
            raise InstrumentCommunicationError(self.name, self.error_query, str(error)) from error

    def request_errors(self) -> bool:
        """Send the error query without reading its reply, so that several instruments' queues
        cost one round trip (`collect_errors` reads it). False, and nothing sent, where this
        driver reads its queue another way."""
        if type(self).drain_errors is not ScpiInstrument.drain_errors:
            return False
        self.write(self.error_query)
        return True

    def collect_errors(self) -> list[tuple[int, str]]:
        """The reply to an error query sent earlier (`request_errors()`), and the rest of the
        queue when it held anything, so that no error is left for a later command to trip on."""
        code, message = self._error_entry(self.read_reply(self.error_query))
        return [] if code == 0 else [(code, message), *self.drain_errors()]

    def check_errors(self, command: str) -> None:
        """Raise a ScpiError naming `command` if the queue holds anything."""
        errors = self.drain_errors()
        if errors:
            code, message = errors[0]
            raise ScpiError(self.name, command, code, message)

    def send_configuration(self, commands: Iterable[str], completes_in_s: float = 0.0) -> None:
        """Send configuration commands, checking the error queue after each step. The error
        query is answered once a command has completed: `completes_in_s` (a wavelength change,
        a switch settle, from the data sheet) says when that will be."""
        for command in commands:
            self.write(command)
            if completes_in_s:
                self._expect_reply_at(time.monotonic() + completes_in_s)
            self.check_errors(command)
            self._remember(command)

    def _remember(self, command: str) -> None:
        """Keep the last command per header, to restore the instrument's state after a reconnect."""
        header = _replay_header(command)
        if header is None:
            return
        self._configuration.pop(header, None)
        self._configuration[header] = command

    # -- recovery ------------------------------------------------------------
    def _can_reconnect(self) -> bool:
        return callable(getattr(self.resource, "open", None)) and hasattr(self.resource, "session")

    def _may_recover(self, operation: str, error: InstrumentError, recoveries: int) -> bool:
        if recoveries >= self.max_recoveries or not self._can_reconnect():
            return False
        return self.retry_budget.spend(Recovery(self.name, operation, error.command, error.detail))

    def _refuse_if_replaced(self) -> None:
        if self.replaced_by is not None:
            raise InstrumentReplacedError(self.name, "*IDN?", self._replaced_text())

    def _replaced_text(self) -> str:
        was, now = self.identity, self.replaced_by
        assert now is not None
        return (f"the instrument was replaced: it was {was.manufacturer} {was.model} serial {was.serial_number}, "
                f"it is now {now.manufacturer} {now.model} serial {now.serial_number}; its calibration and the "
                "reference no longer apply: close and reopen the station, check the config, take a new reference")

    def reconnect(self) -> None:
        """Open a fresh session, verify the identity, restore the last configuration.

        Raises InstrumentCommunicationError if the instrument cannot be reached and
        InstrumentReplacedError if `*IDN?` names another unit than at opening.
        """
        try:
            self.resource.close()
        except Exception:  # noqa: BLE001 - the old session is already dead
            pass
        try:
            self.resource.open()
        except Exception as error:  # noqa: BLE001
            raise InstrumentCommunicationError(
                self.name, "reconnect", f"cannot reopen {getattr(self.resource, 'resource_name', '')} "
                f"({type(error).__name__}: {error}); check the instrument's power and cable") from error
        self._configure_resource(self.timeout_s)
        self._after_reconnect()
        if self._check_identity:
            identity = self._read_identity()
            if not self._same_unit(identity):
                identity = self._read_identity()  # a garbled reply must not pass for a new unit
                if not self._same_unit(identity):
                    self.replaced_by = identity
                    raise InstrumentReplacedError(self.name, "*IDN?", self._replaced_text())
        self.restore_state()
        self.link_suspect = False

    def _after_reconnect(self) -> None:
        """Transport settings a fresh session needs beyond terminations and timeout."""
        from drivers.factory import disable_nagle  # the factory imports every driver, hence here

        try:
            disable_nagle(self.resource)
        except Exception:  # noqa: BLE001 - a latency optimisation, never a reason to fail
            pass

    def _same_unit(self, identity: InstrumentIdentity) -> bool:
        was = self.identity
        return (identity.manufacturer, identity.model, identity.serial_number) == (
            was.manufacturer, was.model, was.serial_number)

    def restore_state(self) -> None:
        """Re-send the configuration last sent (the instrument may have lost it), in the order sent."""
        commands = list(self._configuration.values())
        self._configuration.clear()
        self.send_configuration(commands)

    def invalidate_state(self) -> None:
        """Forget what the driver believes about the instrument's state, so that the next
        operation sends every setting again (after a fault, the state is unknown)."""
        for attribute, unknown in _STATE_CACHES.items():
            if attribute in vars(self):
                setattr(self, attribute, unknown)

    def identities(self) -> list[InstrumentIdentity]:
        return [self.identity]

    def close(self) -> None:
        try:
            self.resource.close()
        except Exception:  # noqa: BLE001 - closing a dead link must not mask the real error
            pass
