"""Keysight N7731A/N7734A/N7736A/N7738A and N7731C/N7734C/N7736C/N7738C optical switches.

`:ROUTn[:CHANm] A,<port>` routes input A of module n to an output port, `:ROUTn?` reads
it back as `A,<port>` (N77xx Series Programming Guide ed. 7, ROUTe subtree, as quoted in
SPEC.md: verified for the A models). The C models take the same ROUTe commands
(unverified: no C-model guide was found). A move's completion is read from `SYST:ERR?`,
which the switch answers once the move is done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from drivers.cached_settings import SplitMoveSwitch
from drivers.declarative import Measurement, Setting
from drivers.errors import InstrumentCommunicationError, ScpiError
from drivers.options import option
from drivers.scpi import ScpiInstrument

MODELS = ("N7731A", "N7734A", "N7736A", "N7738A", "N7731C", "N7734C", "N7736C", "N7738C")
GUIDE = "N77xx Series Programming Guide ed. 7 (2015)"


def parse_route(reply: str) -> int:
    """`A,<port>` → port."""
    _input, port = reply.split(",")
    return int(port)


@dataclass(frozen=True)
class KeysightN773xOptions:
    """What a station file may set for an N773x switch."""

    module: int = field(default=1, metadata=option("the 1xN switch module used", minimum=1))
    port_count: int = field(default=12, metadata=option("output ports of the module", minimum=1))


class KeysightN773x(SplitMoveSwitch, ScpiInstrument):
    """One 1×N switch module (`module`) of an N773x; input A routed to an output port."""

    models = MODELS
    Options = KeysightN773xOptions

    route = Setting(":ROUT{module} A,{port}", f"{GUIDE}, ROUTe subtree (A models; C models unverified)")
    route_query = Measurement(":ROUT{module}?", parse_route, f"{GUIDE}, ROUTe subtree: reply `A,<port>`")
    # A move sent ahead is confirmed later; after a reconnect `end_select` sends it again.
    recoverable_operations: ClassVar[tuple[str, ...]] = (
        *ScpiInstrument.recoverable_operations, "begin_select", "end_select")

    def __init__(self, resource: Any, *, module: int = 1, port_count: int = 12, **kwargs: Any) -> None:
        super().__init__(resource, **kwargs)
        self.module = module
        self._port_count = port_count
        self._position: int | None = None

    def _move(self, launch_position: int) -> None:
        self.send_configuration([self._route_command(launch_position)], self.switch_settle_s)

    def _route_command(self, launch_position: int) -> str:
        return self.route(module=self.module, port=launch_position)

    def _send_move(self) -> None:
        assert self._move_target is not None
        self.write(self._route_command(self._move_target))
        self.send_query(self.error_query)  # answered once the move has completed
        self._expect_reply_at(self.clock() + self.switch_settle_s)

    def _confirm_move(self) -> None:
        assert self._move_target is not None
        command = self._route_command(self._move_target)
        errors = self.collect_errors()
        if errors:
            raise ScpiError(self.name, command, *errors[0])
        self._remember(command)

    def _after_reconnect(self) -> None:
        super()._after_reconnect()
        self._reply_owed = False  # a fresh session owes no reply

    def position(self) -> int:
        command = self.route_query(module=self.module)
        reply = self.query(command)
        try:
            return self.route_query.parse(reply)
        except ValueError as error:
            raise InstrumentCommunicationError(self.name, command, f"unexpected reply {reply!r}") from error
