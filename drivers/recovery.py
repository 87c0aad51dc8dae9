"""Recovery from link failures: a bounded retry budget, the operation wrapper, and the
configuration replayed after a reconnect.

When an operation fails on the link (timeout, connection reset, garbage or truncated
reply) the instrument reconnects (a fresh session discards any late or stray bytes),
checks that `*IDN?` still names the same unit, re-sends the configuration it was last
given (its state is unknown after a reconnect) and repeats the whole operation; a fetch is
preceded by a new trigger, so a reading taken before the fault is never returned as if it
were fresh. Recoveries are bounded per operation (`max_recoveries`) and by a `RetryBudget`
a test session shares among its instruments and resets per cable. A SCPI error from the
instrument's queue, a wrong model or a changed identity is never retried.
"""

from __future__ import annotations

import functools
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drivers.errors import InstrumentCommunicationError, InstrumentTimeout, WrongInstrumentError

# One-shot actions, never replayed after a reconnect: an immediate trigger, a logging start or
# its parameters (a new acquisition is armed explicitly), resets, a zeroing, a DiCon park.
# `INITn:CONT 0|1` is a setting and is replayed: a meter that lost power is measuring
# continuously again, and would refuse the next immediate trigger (-213).
_NOT_REPLAYED = re.compile(r"FUNC:STAT|FUNC:PAR|INIT[0-9]*(:CHAN[0-9]+)?(:IMM|$| *$)|TRIG|\*RST|\*CLS|"
                           r"CORR:COLL|PK$", re.IGNORECASE)


class InstrumentReplacedError(WrongInstrumentError):
    """After a reconnect `*IDN?` names another unit: the station must be reopened and re-referenced."""


@dataclass(frozen=True)
class Recovery:
    """One recovery: which instrument, what failed, what was done."""

    instrument: str
    operation: str
    command: str
    error: str

    def as_dict(self) -> dict[str, str]:
        return {"instrument": self.instrument, "operation": self.operation, "command": self.command,
                "error": self.error}


class RetryBudget:
    """Recoveries allowed to a group of instruments (a test session resets it for every cable).

    `limit` None: no shared limit (each operation is still bounded by its driver's `max_recoveries`).
    """

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.used: list[Recovery] = []
        self.history: deque[Recovery] = deque(maxlen=1000)

    def reset(self) -> None:
        self.used = []

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - len(self.used))

    def spend(self, recovery: Recovery) -> bool:
        """Record `recovery` and return True if the budget allows it."""
        if self.limit is not None and len(self.used) >= self.limit:
            return False
        self.used.append(recovery)
        self.history.append(recovery)
        return True


def recovering(name: str, operation: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a driver operation so that a link failure is recovered and the operation repeated."""

    @functools.wraps(operation)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self._operation_depth:  # nested in another operation: the outer one recovers
            return operation(self, *args, **kwargs)
        self._operation_depth += 1
        try:
            recoveries, reconnect = 0, False
            while True:
                self._refuse_if_replaced()
                try:
                    if reconnect:
                        self.reconnect()
                        for method in self.retrigger_before.get(name, ()):
                            getattr(self, method)()
                    return operation(self, *args, **kwargs)
                except (InstrumentTimeout, InstrumentCommunicationError) as error:
                    if not self._may_recover(name, error, recoveries):
                        self.link_suspect = True  # reconnect before trusting this link again
                        raise
                    recoveries, reconnect = recoveries + 1, True
        finally:
            self._operation_depth -= 1

    wrapper.recovers_link_failures = True  # type: ignore[attr-defined]
    return wrapper


@functools.lru_cache(maxsize=1024)
def replay_header(command: str) -> str | None:
    """The header a configuration command is remembered under; None for a one-shot action."""
    if _NOT_REPLAYED.search(command):
        return None
    return command.split(" ", 1)[0].upper()


class ConfigurationMemory:
    """The last command sent per header, in order: what a reconnect re-sends."""

    def __init__(self) -> None:
        self._commands: dict[str, str] = {}

    def remember(self, command: str) -> None:
        header = replay_header(command)
        if header is None:
            return
        self._commands.pop(header, None)
        self._commands[header] = command

    def take(self) -> list[str]:
        """The commands to replay (forgotten here: replaying remembers them again)."""
        commands = list(self._commands.values())
        self._commands.clear()
        return commands
