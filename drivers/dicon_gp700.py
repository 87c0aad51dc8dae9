"""DiCon GP700 programmable optical switch chassis on RS-232 (`M1 <out>`).

`*IDN?` gives the identity, `system:config?` lists the installed modules
(`M…` 1×N switches, `P…`, `S…`), `M<k> <out>` routes 1×N module k to output
`out`, `M<k>?` reads the route, `err?` returns the last error as a bare code
(`0`: none). Line settings default to 9600 baud 8N1, CR in, LF out, no echo.

No GP700 manual was found: every command and line setting here is unverified (they are
SPEC.md's). The only public GP-series code found drives a GP600 from its manual's
"3D Matrix MxN Switch RS232 Serial Port (ASCII) Command Set", another command set.
Line settings are options, so a station file can correct them without code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drivers.cached_settings import CachedSwitch
from drivers.declarative import Measurement, Setting
from drivers.errors import InstrumentCommunicationError, ScpiError
from drivers.options import option
from drivers.serial_base import SerialInstrument, SerialOptions

UNVERIFIED = "[verify] no GP700 manual found; as SPEC.md gives it"


def parse_code(reply: str) -> int:
    """`<code>[,…]` → code (GP700 `err?`, `M<k>?`)."""
    return int(reply.split(",")[0])


@dataclass(frozen=True)
class DiconGP700Options(SerialOptions):
    """What a station file may set for a GP700 1xN module."""

    module: int = field(default=1, metadata=option("the 1xN module (M<k>) used", minimum=1))
    port_count: int = field(default=12, metadata=option("output ports of the module", minimum=1))


class DiconGP700(CachedSwitch, SerialInstrument):
    """One 1×N module (`module`) of a GP700; launch position n is output n."""

    models = ("GP700",)
    Options = DiconGP700Options
    asks_errors_ahead = False  # `err?` holds one code, read by `drain_errors`
    baud_rate = 9600
    read_termination = "\n"
    write_termination = "\r"
    echo_lines = 0

    route = Setting("M{module} {port}", UNVERIFIED)
    route_query = Measurement("M{module}?", parse_code, UNVERIFIED)
    configuration_query = Measurement("system:config?", str, UNVERIFIED)
    last_error = Measurement("err?", parse_code, UNVERIFIED)
    error_query = last_error.template

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
            code = self.last_error.parse(reply)
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
        return self.query(self.configuration_query())

    def _move(self, launch_position: int) -> None:
        self.send_configuration([self.route(module=self.module, port=launch_position)])

    def position(self) -> int:
        command = self.route_query(module=self.module)
        reply = self.query(command)
        try:
            return self.route_query.parse(reply)
        except ValueError as error:
            raise InstrumentCommunicationError(self.name, command, f"unexpected reply {reply!r}") from error
