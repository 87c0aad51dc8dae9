"""A small base for ASCII instruments on RS-232, opened as `ASRL...::INSTR`.

pyvisa-py opens such resources through pyserial, so the same driver runs on a
real COM port, a USB-serial adapter or the virtual bench's pseudo-terminal.
What differs from a SCPI socket instrument is set here, once:

* line settings (baud rate, data bits, parity, stop bits) on the VISA resource;
* terminations (many serial instruments want CR on input, send LF or CR LF);
* the echo some instruments send after every command (DiCon MEMS: a bare
  newline), read and discarded so it never becomes the next command's reply;
* an error check for instruments without a SCPI `SYST:ERR?` queue.

Line settings are class defaults that a station config may override per
instrument (`baud_rate = 9600`, `echo_lines = 0`, ...): they are facts to
verify against the unit's manual, not code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyvisa import constants

from drivers.errors import InstrumentCommunicationError
from drivers.options import option
from drivers.scpi import ScpiInstrument

_PARITY = {"none": constants.Parity.none, "odd": constants.Parity.odd, "even": constants.Parity.even}
_STOP_BITS = {1: constants.StopBits.one, 2: constants.StopBits.two}


@dataclass(frozen=True)
class SerialOptions:
    """The line settings a station file may override for a serial instrument."""

    baud_rate: int | None = field(default=None, metadata=option(
        "line speed in baud; default the driver's", minimum=300, maximum=921600))
    echo_lines: int | None = field(default=None, metadata=option(
        "lines the instrument sends back after every command", minimum=0, maximum=4))
    read_termination: str | None = field(default=None, metadata=option(
        "end of the instrument's lines", choices=("\n", "\r", "\r\n")))
    write_termination: str | None = field(default=None, metadata=option(
        "end of our commands", choices=("\n", "\r", "\r\n")))


class SerialInstrument(ScpiInstrument):
    """An ASCII instrument on a serial line; queries may be preceded by an echo to discard."""

    Options: type = SerialOptions

    baud_rate: int = 9600
    data_bits: int = 8
    parity: str = "none"
    stop_bits: int = 1
    read_termination = "\n"
    write_termination = "\r"
    #: Lines the instrument sends back after *every* command before any reply.
    echo_lines: int = 0

    def __init__(self, resource: Any, *, baud_rate: int | None = None, echo_lines: int | None = None,
                 read_termination: str | None = None, write_termination: str | None = None,
                 **kwargs: Any) -> None:
        # Per-instance overrides must exist before the base configures the resource.
        if baud_rate is not None:
            self.baud_rate = int(baud_rate)
        if echo_lines is not None:
            self.echo_lines = int(echo_lines)
        if read_termination is not None:
            self.read_termination = read_termination
        if write_termination is not None:
            self.write_termination = write_termination
        super().__init__(resource, **kwargs)

    def _configure_resource(self, timeout_s: float) -> None:
        if self.parity not in _PARITY or self.stop_bits not in _STOP_BITS:
            raise ValueError(f"{self.name}: unsupported serial settings parity={self.parity!r} "
                             f"stop_bits={self.stop_bits!r}")
        for attribute, value in (("baud_rate", self.baud_rate), ("data_bits", self.data_bits),
                                 ("parity", _PARITY[self.parity]), ("stop_bits", _STOP_BITS[self.stop_bits])):
            try:
                setattr(self.resource, attribute, value)
            except AttributeError:
                pass  # protocol-test fakes have no line settings
        super()._configure_resource(timeout_s)
        flush = getattr(self.resource, "flush", None)
        if flush is not None:
            # Bytes left in the UART from before we opened it (power-up banner,
            # a previous program's unread echo) must not become our first reply.
            try:
                flush(constants.BufferOperation.discard_read_buffer)
            except Exception:  # noqa: BLE001 - not every backend supports it; the echo check still guards
                pass

    # -- transport ---------------------------------------------------------
    def _lean_io(self) -> bool:
        return False  # every command may be followed by an echo to read: never held back

    def _read_line(self, command: str) -> str:
        try:
            return self.resource.read()
        except Exception as error:  # noqa: BLE001 - translated to a typed error
            raise self._translate(command, error) from error

    def _discard_echo(self, command: str) -> None:
        for _ in range(self.echo_lines):
            echo = self._read_line(command)
            if echo.strip():
                raise InstrumentCommunicationError(
                    self.name, command, f"expected the instrument's empty echo line, got {echo!r}; "
                    "check baud rate and echo_lines in the station config")

    def write(self, command: str) -> None:
        super().write(command)
        self._discard_echo(command)

    def query(self, command: str) -> str:
        self.write(command)
        return self._read_line(command).strip()
