"""Simulated Keysight N773xA optical switch."""

from __future__ import annotations

import re

from sim_instruments.physics import PhysicalModel
from sim_instruments.scpi_server import Latency, SimulatedInstrument


class SimKeysightN773x(SimulatedInstrument):
    def __init__(self, model: PhysicalModel, *, instrument_model: str = "N7734A",
                 serial_number: str = "MY00000731", latency: Latency | None = None) -> None:
        super().__init__(latency)
        self.model = model
        self.idn = f"Keysight Technologies,{instrument_model},{serial_number},V1.2"
        self.route(r":ROUT(\d+)(?::CHAN\d+)? A,(\d+)", self._select)
        self.route(r":ROUT(\d+)(?::CHAN\d+)?\?", lambda _m: f"A,{self.model.switch_port}")
        self.route(r":ROUT(\d+):CONF\?", lambda _m: f"A;1,{self.model.port_count}")

    def _select(self, match: re.Match[str]) -> None:
        port = int(match.group(2))
        if int(match.group(1)) != 1 or not 1 <= port <= self.model.port_count:
            raise ValueError("port")
        with self.model.lock:
            moved = port != self.model.switch_port
            self.model.switch_port = port
        if moved and self.latency.switch_settle_s:
            # The write completes once the mirror has settled, as the programming
            # guide's operation-complete semantics describe: the next command waits.
            self.busy_for(self.latency.switch_settle_s)
