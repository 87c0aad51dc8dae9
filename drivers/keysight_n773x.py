"""Keysight N7731A/N7734A/N7736A/N7738A optical switches: `:ROUTn[:CHANm] A,<port>`."""

from __future__ import annotations

from typing import Any

from drivers.cached_settings import CachedSwitch
from drivers.errors import InstrumentCommunicationError
from drivers.scpi import ScpiInstrument

MODELS = ("N7731A", "N7734A", "N7736A", "N7738A")


class KeysightN773x(CachedSwitch, ScpiInstrument):
    """One 1×N switch module (`module`) of an N773x; input A routed to an output port."""

    models = MODELS

    def __init__(self, resource: Any, *, module: int = 1, port_count: int = 12, **kwargs: Any) -> None:
        super().__init__(resource, **kwargs)
        self.module = module
        self._port_count = port_count
        self._position: int | None = None

    def _move(self, launch_position: int) -> None:
        self.send_configuration([f":ROUT{self.module} A,{launch_position}"])

    def position(self) -> int:
        command = f":ROUT{self.module}?"
        reply = self.query(command)
        try:
            _input, port = reply.split(",")
            return int(port)
        except ValueError as error:
            raise InstrumentCommunicationError(self.name, command, f"unexpected reply {reply!r}") from error
