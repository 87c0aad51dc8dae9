"""Lines to and from one instrument through public PyVISA calls, with typed errors.

A command that has no reply (a trigger, a setting) is held in an outbox and sent in the
same write as the next query: TCP's Nagle algorithm holds a small segment sent while an
earlier one is unacknowledged, and an instrument acknowledges a command without a reply
only after its delayed-ACK timer (~40 ms on Linux). pyvisa-py's SOCKET sessions do not
accept `VI_ATTR_TCPIP_NODELAY` (0.8.1 reads it but refuses to set it), and a driver
must not reach into the library's socket, so the measurement plan avoids the stall
instead: every segment the host sends ends in a query whose reply acknowledges it.
`flush()` sends the outbox on its own where a command must start now and no query follows.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from pyvisa import constants
from pyvisa.constants import StatusCode
from pyvisa.resources import MessageBasedResource

from drivers.errors import InstrumentCommunicationError, InstrumentError, InstrumentTimeout

#: How replies are awaited (station `[timing] reply_wait`). Public PyVISA offers no readiness
#: check on a socket, so every mode ends in the library's own (select-based) read; "near-due"
#: sleeps until shortly before a reply is due first, which keeps the host idle and changes
#: nothing else; "sleep" and "poll" read at once.
REPLY_WAITS = ("near-due", "sleep", "poll")
_WAKE_EARLY_S = 0.0005  # a sleeping thread wakes late; the library's read covers the rest
_READ_BYTES = 1 << 20  # more than any text reply; binary blocks use read_binary_values


def disable_nagle(resource: Any) -> bool:
    """Ask the VISA library to send each segment at once (`VI_ATTR_TCPIP_NODELAY`) on raw SCPI
    sockets. True if it did; the outbox keeps the timing right where it does not."""
    if "::SOCKET" not in str(getattr(resource, "resource_name", "")).upper():
        return False
    try:
        resource.set_visa_attribute(constants.ResourceAttribute.tcpip_nodelay, constants.VI_TRUE)
    except Exception:  # noqa: BLE001 - not supported by this backend
        return False
    return True


class LineTransport:
    """Write commands and read replies of one instrument (mixed into `ScpiInstrument`)."""

    name: str
    resource: Any
    #: How replies are awaited (one of REPLY_WAITS).
    reply_wait: str = "sleep"
    #: The link's query round trip (station `[timing] query_round_trip_s`): when a reply is due.
    round_trip_s: float = 0.0
    #: When the reply to the query in flight is due (monotonic), where the driver knows it.
    _reply_due: float | None = None
    read_termination: str = "\n"
    write_termination: str = "\n"
    #: The clock due times are reckoned on and the sleep "near-due" waits with (a test gives
    #: fakes; staticmethod so that a plain function set on a subclass is not bound).
    clock = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)
    _lean = False
    _holds = False  # unanswered commands wait in the outbox for the next query (raw TCP sockets)
    _outbox: list[bytes]

    def _configure_transport(self, timeout_s: float) -> None:
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
        self._outbox = []
        # Only a raw socket delays a lone segment; other links (VXI-11, HiSLIP, USB, GPIB, a
        # simulated session that takes one message per write) get each command at once.
        raw_socket = "::SOCKET" in str(getattr(self.resource, "resource_name", "")).upper()
        self._holds = self._lean and raw_socket and not disable_nagle(self.resource)

    def _lean_io(self) -> bool:
        """Lines go to the VISA library's own read/write (public `visalib.read`/`write`) on a
        PyVISA message-based resource with "\n" terminations and ASCII: the resource layer's
        per-call work (logging, warning contexts, termination handling) is skipped, and
        unanswered commands can share a segment with the next query. Anything else (fakes in
        tests, serial lines with other terminations) goes through the resource."""
        resource = self.resource
        return (isinstance(resource, MessageBasedResource) and resource.read_termination == "\n"
                and resource.write_termination == "\n" and resource.encoding == "ascii")

    # -- lines -----------------------------------------------------------------------------
    def write(self, command: str) -> None:
        """Send a command that has no reply (held for the next query on a raw socket)."""
        if self._holds:
            self._outbox.append(command.encode("ascii") + b"\n")
            return
        try:
            if self._lean:
                self.resource.visalib.write(self.resource.session, command.encode("ascii") + b"\n")
                return
            self.resource.write(command)
        except Exception as error:  # noqa: BLE001 - translated to a typed error
            raise self._translate(command, error) from error

    def send_query(self, command: str) -> None:
        """Send a query whose reply is read later (`read_reply`), with any held commands."""
        if not self._holds:
            self.write(command)
            return
        self._outbox.append(command.encode("ascii") + b"\n")
        self.flush(command)

    def flush(self, command: str = "") -> None:
        """Send the held commands now."""
        if not self._outbox:
            return
        data, self._outbox = b"".join(self._outbox), []
        try:
            resource = self.resource
            resource.visalib.write(resource.session, data)
        except Exception as error:  # noqa: BLE001
            raise self._translate(command or data.decode("ascii").strip(), error) from error

    def query(self, command: str) -> str:
        try:
            if not self._lean:
                return self.resource.query(command).strip()
            self.send_query(command)
            return self._receive_line().strip()
        except InstrumentError:
            raise
        except Exception as error:  # noqa: BLE001
            raise self._translate(command, error) from error

    def read_reply(self, command: str) -> str:
        """The reply to `command`, sent earlier with `send_query` (or `write` on a fake)."""
        try:
            return self._receive_line().strip()
        except Exception as error:  # noqa: BLE001
            raise self._translate(command, error) from error

    def _receive_line(self) -> str:
        due, self._reply_due = self._reply_due, None
        if not self._lean:
            return self.resource.read()
        # Held commands are not sent here: sent now, behind a query whose reply is still owed,
        # TCP would hold them until that reply, and the next query behind them until the
        # instrument's delayed ACK. They go out with the next query.
        if self.reply_wait == "near-due" and due is not None:
            sleep_s = due - _WAKE_EARLY_S - self.clock()
            if sleep_s > 0:
                self.sleep(sleep_s)
        resource = self.resource
        # Up to the termination character (the session stops there); a reply longer than
        # the count is finished by the resource's own loop.
        data, status = resource.visalib.read(resource.session, _READ_BYTES)
        reply = data.decode("ascii")
        if status == StatusCode.success_max_count_read:
            reply += resource.read()
        return reply

    def _expect_reply_at(self, ready_at: float) -> None:
        """The instrument will have the next reply ready at `ready_at` (monotonic; an integration's
        end, a move's settle): it is due a round trip later. An estimate: late or early, the
        reply is still read whole."""
        self._reply_due = ready_at + self.round_trip_s

    # -- values ----------------------------------------------------------------------------
    def query_binary_values(self, command: str, datatype: str = "f", is_big_endian: bool = False) -> np.ndarray:
        try:
            self.flush(command)
            values = self.resource.query_binary_values(
                command, datatype=datatype, is_big_endian=is_big_endian, container=np.array)
        except Exception as error:  # noqa: BLE001
            raise self._translate(command, error) from error
        return np.asarray(values, dtype=np.float64)

    def read_binary_reply(self, command: str, datatype: str = "f", is_big_endian: bool = False) -> np.ndarray:
        """The binary block answering `command`, sent earlier with `send_query`."""
        try:
            values = self.resource.read_binary_values(datatype=datatype, is_big_endian=is_big_endian,
                                                      container=np.array)
        except Exception as error:  # noqa: BLE001
            raise self._translate(command, error) from error
        return np.asarray(values, dtype=np.float64)

    def query_float(self, command: str) -> float:
        reply = self.query(command)
        try:
            return float(reply.strip('"'))
        except ValueError as error:
            raise InstrumentCommunicationError(
                self.name, command, f"expected a number, got {reply!r}") from error

    def _translate(self, command: str, error: Exception) -> Exception:
        text = f"{type(error).__name__}: {error}"
        if "timeout" in text.lower() or "VI_ERROR_TMO" in text:
            return InstrumentTimeout(self.name, command, f"no reply before the timeout ({text})")
        return InstrumentCommunicationError(self.name, command, text)

    def _discard_outbox(self) -> None:
        """A fresh session: commands held for the old one are gone with it."""
        self._outbox = []
