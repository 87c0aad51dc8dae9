"""Protocol tests in the style of PyMeasure's `expected_protocol`.

A fake resource replays an exact list of (command, reply) pairs: a command the
driver sends that is not the next expected one fails the test, and so does an
expected command the driver never sent. Every command string is pinned.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

Exchange = tuple[str | None, str | bytes | None]


class ProtocolResource:
    """Stands in for a pyvisa resource; `exchanges` is [(written command, reply or None)]."""

    def __init__(self, exchanges: Sequence[Exchange], name: str = "PROTO::INSTR") -> None:
        self.exchanges = list(exchanges)
        self.position = 0
        self.resource_name = name
        self.read_termination = "\n"
        self.write_termination = "\n"
        self.timeout = 1000
        self._pending_reply: str | bytes | None = None
        self.closed = False

    def _next(self, command: str) -> str | bytes | None:
        assert self.position < len(self.exchanges), f"unexpected extra command {command!r}"
        expected, reply = self.exchanges[self.position]
        assert command == expected, (f"exchange {self.position}: driver sent {command!r}, "
                                     f"protocol expects {expected!r}")
        # A command without a reply may follow a query whose reply is still unread (the
        # instrument works through its input in order); a second query may not.
        assert self._pending_reply is None or reply is None, \
            f"sent the query {command!r} before reading the previous reply"
        self.position += 1
        return reply

    def write(self, command: str) -> int:
        # A query may be split into write() now and read() later (several instruments
        # answering in parallel); the reply then waits for that read.
        reply = self._next(command)
        if reply is not None:
            self._pending_reply = reply
        return len(command)

    def _take_reply(self) -> str | bytes:
        reply, self._pending_reply = self._pending_reply, None
        assert reply is not None, "read() without a query written before it"
        return reply

    def read(self) -> str:
        reply = self._take_reply()
        if isinstance(reply, Exception):  # the instrument's failure, as the library raises it
            raise reply
        return reply if isinstance(reply, str) else reply.decode()

    def read_binary_values(self, datatype: str = "f", is_big_endian: bool = False, container: Any = list) -> Any:
        from pyvisa.util import from_ieee_block

        reply = self._take_reply()
        assert isinstance(reply, bytes), "expected a binary block"
        values = from_ieee_block(reply, datatype, is_big_endian)
        return np.asarray(values) if container is np.array else container(values)

    def query(self, command: str) -> str:
        reply = self._next(command)
        assert reply is not None, f"{command!r} was queried but the protocol gives no reply"
        if isinstance(reply, Exception):
            raise reply
        return reply if isinstance(reply, str) else reply.decode()

    def query_binary_values(self, command: str, datatype: str = "f", is_big_endian: bool = False,
                            container: Any = list) -> Any:
        reply = self._next(command)
        assert isinstance(reply, bytes), f"{command!r} expects a binary block"
        from pyvisa.util import from_ieee_block

        values = from_ieee_block(reply, datatype, is_big_endian)
        return np.asarray(values) if container is np.array else container(values)

    def close(self) -> None:
        self.closed = True

    def open(self) -> None:
        """A reconnect's fresh session: the exchanges go on where they were."""
        self.closed = False
        self._pending_reply = None


@contextmanager
def expected_protocol(driver_class: type, exchanges: Sequence[Exchange], **kwargs: Any) -> Iterator[Any]:
    """Build `driver_class` on a ProtocolResource; on exit every exchange must have happened."""
    resource = ProtocolResource(exchanges)
    instrument = driver_class(resource, **kwargs)
    yield instrument
    remaining = resource.exchanges[resource.position:]
    assert not remaining, f"expected exchanges never happened: {remaining}"
