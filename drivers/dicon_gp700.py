"""DiCon GP700 programmable optical switch chassis on RS-232 (`M1 <out>`).

`*IDN?` gives the identity, `system:config?` lists the installed modules
(`M…` 1×N switches, `P…`, `S…`), `M<k> <out>` routes 1×N module k to output
`out`, `M<k>?` reads the route, `err?` returns the last error as a bare code
(`0`: none). Line settings default to 9600 baud 8N1, CR in, LF out, no echo
[verify against the unit's manual; override in the station config].
"""

from __future__ import annotations

from typing import Any

from drivers.cached_settings import CachedSwitch
from drivers.errors import InstrumentCommunicationError, ScpiError
from drivers.serial_base import SerialInstrument


class DiconGP700(CachedSwitch, SerialInstrument):
    """One 1×N module (`module`) of a GP700; launch position n is output n."""

    models = ("GP700",)
    error_query = "err?"
    asks_errors_ahead = False  # `err?` holds one code, read by `drain_errors`
    baud_rate = 9600
    read_termination = "\n"
    write_termination = "\r"
    echo_lines = 0

    def __init__(self, resource: Any, *, module: int = 1, port_count: int = 12, **kwargs: Any) -> None:
        super().__init__(resource, **kwargs)
        self.module = module
        self._port_count = port_count
        self._position: int | None = None

    @property
    def port_count(self) -> int:
        return self._port_count

    def drain_errors(self) -> list[tuple[int, str]]:
        """`err?` holds one code, not a queue: read it once."""
        reply = self.query(self.error_query)
        try:
            code = int(reply.split(",")[0])
        except ValueError as error:
            raise InstrumentCommunicationError(self.name, self.error_query,
                                               f"expected an error code, got {reply!r}") from error
        return [(code, f"GP700 error code {code}")] if code else []

    def check_errors(self, command: str) -> None:
        errors = self.drain_errors()
        if errors:
            raise ScpiError(self.name, command, *errors[0])

    def configuration(self) -> str:
        """The chassis' module list as `system:config?` reports it."""
        return self.query("system:config?")

    def _move(self, launch_position: int) -> None:
        self.send_configuration([f"M{self.module} {launch_position}"])

    def position(self) -> int:
        command = f"M{self.module}?"
        reply = self.query(command)
        try:
            return int(reply.split(",")[0])
        except ValueError as error:
            raise InstrumentCommunicationError(self.name, command, f"unexpected reply {reply!r}") from error
