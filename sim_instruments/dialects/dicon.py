"""Simulated DiCon switches on RS-232: the MEMS 1×N module and the GP700 chassis.

Serial behaviour (terminations, the MEMS module's echoed newline) is declared
as class attributes that `serial_server.PtySerialServer` applies, so the
driver's real pyserial path sees what a real port would send.
"""

from __future__ import annotations

from sim_instruments.physics import PhysicalModel
from sim_instruments.scpi_commands import CommandSet
from sim_instruments.scpi_server import Latency, SimulatedInstrument


class _SimDiconSwitch(SimulatedInstrument):
    serial_input_terminators = b"\r\n"
    serial_reply_terminator = b"\r\n"
    serial_echo = b""

    def __init__(self, model: PhysicalModel, latency: Latency | None = None) -> None:
        super().__init__(latency)
        self.model = model
        self.parked = False

    def _move(self, port: int) -> None:
        if not 1 <= port <= self.model.port_count:
            raise ValueError("port")
        with self.model.lock:
            moved = port != self.model.switch_port or self.parked
            self.model.switch_port = port
            self.parked = False
        if moved and self.latency.switch_settle_s:
            # The module answers once the mirror has settled, and takes no command before.
            self.busy_for(self.latency.switch_settle_s)
            self.reply_not_before(self.command_started + self.latency.switch_settle_s)

    def _position(self) -> str:
        return "0" if self.parked else str(self.model.switch_port)


class SimDiconMems(_SimDiconSwitch):
    """MEMS 1×N: 115200 baud, CR in; every command is answered by a newline, then the reply line.

    It has no error queue: an unknown command or an out-of-range port is
    ignored (the driver's `I1?` read-back catches it).
    """

    serial_echo = b"\n"

    def __init__(self, model: PhysicalModel, *, serial_number: str = "DC00000001",
                 latency: Latency | None = None) -> None:
        super().__init__(model, latency)
        self.commands = CommandSet()  # no SCPI: not even the IEEE 488.2 common commands
        self.id_text = f"DiCon,MEMS 1x{model.port_count},{serial_number},FW 2.03"
        self.route(r"ID\?", lambda _m: self.id_text)
        self.route(r"CF\?", lambda _m: f"1,{self.model.port_count}")
        self.route(r"I1 (\d+)", lambda m: self._move(int(m.group(1))))
        self.route(r"I1\?", lambda _m: self._position())
        self.route(r"PK", lambda _m: self._park())

    def _park(self) -> None:
        self.parked = True

    def push_error(self, code: int, message: str) -> None:
        """No error queue to put it in: the command is silently dropped, as the module does."""


class SimDiconGP700(_SimDiconSwitch):
    """GP700 chassis with one 1×N module `M1`; `err?` returns the last error code (0: none)."""

    def __init__(self, model: PhysicalModel, *, serial_number: str = "GP00000001",
                 latency: Latency | None = None) -> None:
        super().__init__(model, latency)
        self.idn = f"DiCon Fiberoptics Inc,GP700,{serial_number},1.20"
        self.route(r"system:config\?", lambda _m: f"M1 1x{self.model.port_count}")
        self.route(r"M1 (\d+)(?:\s*,\s*1)?", lambda m: self._move(int(m.group(1))))
        self.route(r"M1\?", lambda _m: self._position())
        self.route(r"err\?", lambda _m: self._pop_code())

    def _pop_code(self) -> str:
        if not self.errors:
            return "0"
        code, _message = self.errors.popleft()
        self.errors.clear()
        return str(abs(code))
