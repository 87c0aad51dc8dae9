"""DiCon MEMS 1×N optical switch modules on RS-232 (`I1 <n>`).

Line: 115200 baud, 8N1, commands end in CR; the module answers every command
with a newline first (discarded), then the reply line. `CF?` gives the
configuration as `<inputs>,<outputs>` [verify], `ID?` the identity text,
`I1 <n>` routes input 1 to output n, `I1?` reads the route back, `PK` parks
the mirror (no output lit).

There is no error queue: a move is confirmed by reading `I1?` back, so a
refused or lost command raises a typed error instead of passing silently.
The identity's model is `MEMS-1x<N>` from `CF?`, so a station config can pin
the module size (`model = "MEMS-1x12"`) and a 1×8 in place of a 1×12 is refused.
"""

from __future__ import annotations

from typing import Any

from drivers.cached_settings import CachedSwitch
from drivers.capabilities import InstrumentIdentity
from drivers.errors import InstrumentCommunicationError, InstrumentError, WrongInstrumentError
from drivers.serial_base import SerialInstrument


class DiconMems(CachedSwitch, SerialInstrument):
    """A DiCon MEMS 1×N module; launch position n is output port n."""

    baud_rate = 115200
    read_termination = "\n"
    write_termination = "\r"
    echo_lines = 1
    has_error_queue = False  # moves are confirmed by reading `I1?` back

    def __init__(self, resource: Any, *, port_count: int | None = None, verify_moves: bool = True,
                 park_on_close: bool = False, **kwargs: Any) -> None:
        self._configured_port_count = port_count
        self.verify_moves = verify_moves
        self.park_on_close = park_on_close
        self._position: int | None = None
        self._port_count = port_count or 0
        super().__init__(resource, **kwargs)

    def _read_identity(self) -> InstrumentIdentity:
        id_text = self.query("ID?")
        inputs, outputs = self.configuration()
        if self._configured_port_count is not None and outputs < self._configured_port_count:
            raise WrongInstrumentError(
                self.name, "CF?", f"module is a {inputs}x{outputs} switch but the station config needs "
                f"port_count {self._configured_port_count}; check the address or the config")
        self._port_count = self._configured_port_count or outputs
        fields = [field.strip() for field in id_text.split(",")]
        manufacturer = fields[0] if len(fields) > 1 and fields[0] else "DiCon"
        serial_number = fields[2] if len(fields) > 2 else ""
        return InstrumentIdentity(manufacturer, f"MEMS-{inputs}x{outputs}", serial_number, id_text, self.name)

    def configuration(self) -> tuple[int, int]:
        """(inputs, outputs) from `CF?`."""
        reply = self.query("CF?")
        try:
            inputs, outputs = (int(field) for field in reply.split(",")[:2])
        except ValueError as error:
            raise InstrumentCommunicationError(self.name, "CF?", f"unexpected reply {reply!r}") from error
        return inputs, outputs

    def _move(self, launch_position: int) -> None:
        command = f"I1 {launch_position}"
        self.write(command)
        if self.verify_moves:
            reported = self.position()
            if reported != launch_position:
                raise InstrumentError(self.name, command,
                                      f"switch reports output {reported} after the move to {launch_position}")

    def position(self) -> int:
        """Output port routed now (0: parked)."""
        reply = self.query("I1?")
        try:
            return int(reply)
        except ValueError as error:
            raise InstrumentCommunicationError(self.name, "I1?", f"unexpected reply {reply!r}") from error

    def park(self) -> None:
        self._position = None
        self.write("PK")

    def close(self) -> None:
        if self.park_on_close:
            try:
                self.park()
            except InstrumentError:
                pass
        super().close()
