"""Simulated Keysight N7731/N7734/N7736/N7738 (A and C) optical switches.

Headers are declared as the N77xx Series Programming Guide writes them
(`:ROUTe[n][:CHANnel[m]] A,<port>`, its query, `:ROUTe[n]:CONFig?`), so long and
short forms, any case and the default suffix 1 are accepted. A move completes once
the mirror has settled: the next command waits for it (operation-complete semantics).
"""

from __future__ import annotations

from sim_instruments.physics import PhysicalModel
from sim_instruments.scpi_commands import Call, ScpiError
from sim_instruments.scpi_server import Latency, SimulatedInstrument

MODELS = ("N7731A", "N7734A", "N7736A", "N7738A", "N7731C", "N7734C", "N7736C", "N7738C")


class SimKeysightN773x(SimulatedInstrument):
    def __init__(self, model: PhysicalModel, *, instrument_model: str = "N7734A",
                 serial_number: str = "MY00000731", latency: Latency | None = None) -> None:
        super().__init__(latency)
        self.model = model
        self.instrument_model = instrument_model
        self.idn = f"Keysight Technologies,{instrument_model},{serial_number},V1.2"
        self.declare(":ROUTe[n][:CHANnel[m]]", self._select)
        self.declare(":ROUTe[n][:CHANnel[m]]?", self._position)
        self.declare(":ROUTe[n]:CONFig?", lambda call: (self._switch(call), f"A;1,{self.model.port_count}")[1])
        self.declare("*OPT?", lambda _call: f"{instrument_model}-{self.model.port_count:03d}")

    def _switch(self, call: Call) -> int:
        if call.suffix(0) != 1 or call.suffix(1) != 1:  # one 1xN switch per simulated mainframe
            raise ScpiError(-303, "Module slot empty or slot extension empty")
        return call.suffix(0)

    def _select(self, call: Call) -> None:
        self._switch(call)
        if call.parameter(0).strip().upper() != "A":
            raise ScpiError(-224, "Illegal parameter value")
        try:
            port = int(call.parameter(1))
        except ValueError:
            raise ScpiError(-104, "Data type error") from None
        if not 1 <= port <= self.model.port_count:
            raise ScpiError(-222, "Data out of range")
        with self.model.lock:
            moved = port != self.model.switch_port
            self.model.switch_port = port
        if moved and self.latency.switch_settle_s:
            self.busy_for(self.latency.switch_settle_s)

    def _position(self, call: Call) -> str:
        self._switch(call)
        return f"A,{self.model.switch_port}"
