"""Serve a simulated RS-232 instrument on a pseudo-terminal.

`os.openpty()` gives a master/slave pair; the simulated instrument reads and
writes the master, the driver opens the slave as `ASRL/dev/pts/N::INSTR`, so
pyvisa-py → pyserial → termios runs exactly as with a USB-serial adapter
(baud rate and terminations are set on a real tty). A pty is local to this
machine by nature: nothing listens on a network.

The instrument declares its line behaviour:

* `serial_input_terminators`: bytes that end a command (default CR or LF);
* `serial_echo`: bytes sent back for every command before any reply
  (DiCon MEMS: a newline);
* `serial_reply_terminator`: bytes after each reply (default CR LF).
"""

from __future__ import annotations

import atexit
import os
import select
import sys
import threading
import tty

from sim_instruments.faults import DROP, FaultInjector, Partial
from sim_instruments.scpi_server import Reply, SimulatedInstrument


class PtySerialServer:
    """One simulated instrument behind a pseudo-terminal until `close()` (or interpreter exit)."""

    def __init__(self, instrument: SimulatedInstrument) -> None:
        if not sys.platform.startswith(("linux", "darwin")):
            raise RuntimeError("pseudo-terminal serial simulation needs Linux or macOS")
        self.instrument = instrument
        self.input_terminators = bytes(getattr(instrument, "serial_input_terminators", b"\r\n"))
        self.echo = bytes(getattr(instrument, "serial_echo", b""))
        self.reply_terminator = bytes(getattr(instrument, "serial_reply_terminator", b"\r\n"))
        #: Fault injection (sim_instruments.faults): consulted by `serve_line` when set.
        self.faults: FaultInjector | None = None
        self._master, self._slave = os.openpty()
        # Raw mode before any client opens the port: no echo, no CR/LF translation
        # by the line discipline (pyserial sets the same when it opens the port).
        tty.setraw(self._slave)
        self.device = os.ttyname(self._slave)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name=f"sim-serial-{type(instrument).__name__}-{self.device}")
        self._thread.start()
        atexit.register(self.close)

    @property
    def address(self) -> str:
        return f"ASRL{self.device}::INSTR"

    def _split(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        lines: list[bytes] = []
        start = 0
        for index, byte in enumerate(buffer):
            if byte in self.input_terminators:
                lines.append(buffer[start:index])
                start = index + 1
        return lines, buffer[start:]

    def _serve(self) -> None:
        buffer = b""
        while not self._closed.is_set():
            try:
                readable, _, _ = select.select([self._master], [], [], 0.05)
                if not readable:
                    continue
                chunk = os.read(self._master, 4096)
            except OSError:
                return  # closed under us
            if not chunk:
                continue
            lines, buffer = self._split(buffer + chunk)
            for line in lines:
                text = line.decode("ascii", errors="replace").strip()
                if not text:
                    continue  # the LF of a CR LF pair
                reply = self.serve_line(text)
                if reply is DROP:
                    continue  # a serial line cannot be reset: the instrument just does not answer
                if isinstance(reply, Partial):
                    try:
                        os.write(self._master, self.echo + reply.data)  # the rest never comes
                    except OSError:
                        return
                    continue
                payload = self.echo
                if reply is not None:
                    payload += (reply if isinstance(reply, bytes) else reply.encode("ascii")) + self.reply_terminator
                if payload:
                    try:
                        os.write(self._master, payload)
                    except OSError:
                        return

    def serve_line(self, text: str) -> Reply:
        """Hook for fault injection; by default the instrument answers."""
        if self.faults is not None:
            return self.faults.serve(text, self.instrument.handle)
        return self.instrument.handle(text)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._thread.join(timeout=2.0)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        atexit.unregister(self.close)
