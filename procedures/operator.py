"""What a procedure asks of the person (or robot) at the bench.

Procedures never print or wait for a key: they call `operator.prompt(Prompt(...))`
and continue when it returns. The CLI shows `prompt.message` and waits for the
technician; a mating machine or a test answers by doing `prompt.action`
`prompt.count` times. Raising from `prompt` (KeyboardInterrupt, or
`OperatorAbort`) stops the procedure; what was already measured has been
handed to the caller through the procedure's callback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# Actions a prompt can ask for.
CONNECT = "connect"  # connect the named cable into the fixture (mating 1)
REMATE = "remate"  # unmate, (clean,) mate again: one mating
MATE_CYCLES = "mate_cycles"  # `count` full mate/unmate cycles, cable left mated
CLEAN = "clean"  # clean the end faces, leave the cable mated
ACTIONS = (CONNECT, REMATE, MATE_CYCLES, CLEAN)


@dataclass(frozen=True)
class Prompt:
    action: str
    message: str
    count: int = 1
    serial: str = ""

    def __str__(self) -> str:
        return self.message


class Operator(Protocol):
    def prompt(self, prompt: Prompt) -> None:
        """Return once the request is done; raise to abort the procedure."""


class OperatorAbort(Exception):  # noqa: N818 - an operator's decision, not an error
    """The operator declined a prompt; the procedure stops, measured data is kept."""
