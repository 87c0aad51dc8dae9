"""DiCon MEMS 1×N optical switch modules on RS-232 (`I1 <n>`).

Line: 115200 baud, 8N1, commands end in CR; the module answers every command
with a newline first (discarded), then the reply line. `CF?` gives the
configuration as `<inputs>,<outputs>`, `ID?` the identity text, `I1 <n>`
routes input 1 to output n, `I1?` reads the route back, `PK` parks the mirror
(no output lit).

No DiCon manual was found: every command here is unverified against one. Public code
written against real modules (Instrumental's and photonmover's `DiConOpticalSwitch`)
uses the same line (115200 baud, CR), reads a newline before each reply to `ID?`, `CF?`
and `I1?`, takes the output count as the second field of `CF?`, and sends `I1 <n>` and
`PK` — agreement with that code, not with a manual.

There is no error queue: a move is confirmed by reading `I1?` back, so a
refused or lost command raises a typed error instead of passing silently.
The identity's model is `MEMS-1x<N>` from `CF?`, so a station config can pin
the module size (`model = "MEMS-1x12"`) and a 1×8 in place of a 1×12 is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drivers.cached_settings import CachedSwitch
from drivers.capabilities import InstrumentIdentity
from drivers.declarative import Action, Measurement, Setting
from drivers.errors import InstrumentCommunicationError, InstrumentError, WrongInstrumentError
from drivers.options import option
from drivers.serial_base import SerialInstrument, SerialOptions

PUBLIC_CODE = "[verify] no manual found; as public code for real modules (Instrumental DiConOpticalSwitch)"


def parse_configuration(reply: str) -> tuple[int, int]:
    """`<inputs>,<outputs>[,...]` → (inputs, outputs)."""
    inputs, outputs = (int(item) for item in reply.split(",")[:2])
    return inputs, outputs


@dataclass(frozen=True)
class DiconMemsOptions(SerialOptions):
    """What a station file may set for a DiCon MEMS module."""

    port_count: int | None = field(default=None, metadata=option(
        "output ports needed; default the module's (CF?)", minimum=1))
    verify_moves: bool = field(default=True, metadata=option("read each move back with I1?"))
    park_on_close: bool = field(default=False, metadata=option("park the mirror (PK) when closing"))


class DiconMems(CachedSwitch, SerialInstrument):
    """A DiCon MEMS 1×N module; launch position n is output port n."""

    Options = DiconMemsOptions
    baud_rate = 115200
    read_termination = "\n"
    write_termination = "\r"
    echo_lines = 1
    has_error_queue = False  # moves are confirmed by reading `I1?` back

    identity_query = Measurement("ID?", str, PUBLIC_CODE)
    configuration_query = Measurement("CF?", parse_configuration, PUBLIC_CODE)
    route = Setting("I1 {port}", PUBLIC_CODE)
    route_query = Measurement("I1?", int, PUBLIC_CODE)
    park_command = Action("PK", PUBLIC_CODE)

    def __init__(self, resource: Any, *, port_count: int | None = None, verify_moves: bool = True,
                 park_on_close: bool = False, **kwargs: Any) -> None:
        self._configured_port_count = port_count
        self.verify_moves = verify_moves
        self.park_on_close = park_on_close
        self._position: int | None = None
        self._port_count = port_count or 0
        super().__init__(resource, **kwargs)

    def _read_identity(self) -> InstrumentIdentity:
        id_text = self.query(self.identity_query())
        inputs, outputs = self.configuration()
        if self._configured_port_count is not None and outputs < self._configured_port_count:
            raise WrongInstrumentError(
                self.name, self.configuration_query(), f"module is a {inputs}x{outputs} switch but the station "
                f"config needs port_count {self._configured_port_count}; check the address or the config")
        self._port_count = self._configured_port_count or outputs
        fields = [field.strip() for field in id_text.split(",")]
        manufacturer = fields[0] if len(fields) > 1 and fields[0] else "DiCon"
        serial_number = fields[2] if len(fields) > 2 else ""
        return InstrumentIdentity(manufacturer, f"MEMS-{inputs}x{outputs}", serial_number, id_text, self.name)

    def configuration(self) -> tuple[int, int]:
        """(inputs, outputs) from `CF?`."""
        command = self.configuration_query()
        reply = self.query(command)
        try:
            return self.configuration_query.parse(reply)
        except ValueError as error:
            raise InstrumentCommunicationError(self.name, command, f"unexpected reply {reply!r}") from error

    def _move(self, launch_position: int) -> None:
        command = self.route(port=launch_position)
        self.write(command)
        if self.verify_moves:
            reported = self.position()
            if reported != launch_position:
                raise InstrumentError(self.name, command,
                                      f"switch reports output {reported} after the move to {launch_position}")

    def position(self) -> int:
        """Output port routed now (0: parked)."""
        command = self.route_query()
        reply = self.query(command)
        try:
            return self.route_query.parse(reply)
        except ValueError as error:
            raise InstrumentCommunicationError(self.name, command, f"unexpected reply {reply!r}") from error

    def park(self) -> None:
        self._position = None
        self.write(self.park_command())

    def close(self) -> None:
        if self.park_on_close:
            try:
                self.park()
            except InstrumentError:
                pass
        super().close()
