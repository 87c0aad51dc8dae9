"""`expected_protocol` for serial instruments: reads without a command are pinned too.

An exchange `(None, reply)` is one `resource.read()` (the echo line, or the reply
line after a written query); everything else is as in tests.protocol.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tests.protocol import Exchange, ProtocolResource

ECHO: Exchange = (None, "")  # the DiCon MEMS newline, as pyvisa returns it (termination stripped)


class SerialProtocolResource(ProtocolResource):
    def read(self) -> str:
        reply = self._next(None)  # type: ignore[arg-type]
        if isinstance(reply, Exception):
            raise reply
        assert reply is not None, "a read must have a reply in the protocol"
        return reply if isinstance(reply, str) else reply.decode()


@contextmanager
def expected_serial_protocol(driver_class: type, exchanges: Sequence[Exchange],
                             **kwargs: Any) -> Iterator[Any]:
    resource = SerialProtocolResource(exchanges)
    instrument = driver_class(resource, **kwargs)
    yield instrument
    remaining = resource.exchanges[resource.position:]
    assert not remaining, f"expected exchanges never happened: {remaining}"


def query(command: str, reply: str, echo: bool = True) -> list[Exchange]:
    """A serial query: the write, the echo line (if any), the reply line."""
    return [(command, None), *([ECHO] if echo else []), (None, reply)]


def command(command: str, echo: bool = True) -> list[Exchange]:
    return [(command, None), *([ECHO] if echo else [])]
