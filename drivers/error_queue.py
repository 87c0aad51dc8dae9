"""The SCPI error queue: read after configuration, drained after a cable, asked ahead of reading."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import ClassVar

from drivers.errors import InstrumentCommunicationError, ScpiError

_ERROR_REPLY = re.compile(r"^\s*\"?\s*([+-]?\d+)\s*,\s*\"?(.*?)\"?\s*$")
_MAX_ERRORS_DRAINED = 32  # deeper than any queue we drive (N774x: 30)


# Cached: a production loop parses the same few replies thousands of times, on the critical
# path of every switch move.
@functools.lru_cache(maxsize=256)
def parse_error(reply: str) -> tuple[int, str]:
    """`+0,"No error"` → (0, "No error"); tolerant of missing quotes and spaces."""
    match = _ERROR_REPLY.match(reply)
    if match is None:
        raise ValueError(f"not a SCPI error reply: {reply!r}")
    return int(match.group(1)), match.group(2)


class ErrorQueue:
    """Error-queue reading for a `ScpiInstrument` (it provides `query`, `write`, `read_reply`)."""

    name: str
    #: Query that drains one entry of the error queue.
    error_query: str = "SYST:ERR?"
    #: False for instruments without an error queue (they confirm commands another way).
    has_error_queue: ClassVar[bool] = True
    #: True where `request_errors`/`collect_errors` ask the queue ahead of reading it.
    asks_errors_ahead: ClassVar[bool] = True

    # `query`, `send_query` and `read_reply` come from the transport the instrument mixes in.

    def drain_errors(self) -> list[tuple[int, str]]:
        """Read the error queue until it reports no error; return what was in it."""
        errors: list[tuple[int, str]] = []
        for _ in range(_MAX_ERRORS_DRAINED):
            code, message = self._error_entry(self.query(self.error_query))  # type: ignore[attr-defined]
            if code == 0:
                return errors
            errors.append((code, message))
        return errors

    def _error_entry(self, reply: str) -> tuple[int, str]:
        try:
            return parse_error(reply)
        except ValueError as error:
            raise InstrumentCommunicationError(self.name, self.error_query, str(error)) from error

    def request_errors(self) -> bool:
        """Send the error query without reading its reply, so that several instruments' queues
        cost one round trip (`collect_errors` reads it). False, and nothing sent, where this
        driver reads its queue another way."""
        if not self.asks_errors_ahead:
            return False
        self.send_query(self.error_query)  # type: ignore[attr-defined]
        return True

    def collect_errors(self) -> list[tuple[int, str]]:
        """The reply to an error query sent earlier (`request_errors()`), and the rest of the
        queue when it held anything, so that no error is left for a later command to trip on."""
        code, message = self._error_entry(self.read_reply(self.error_query))  # type: ignore[attr-defined]
        return [] if code == 0 else [(code, message), *self.drain_errors()]

    def check_errors(self, command: str) -> None:
        """Raise a ScpiError naming `command` if the queue holds anything."""
        errors = self.drain_errors()
        if errors:
            code, message = errors[0]
            raise ScpiError(self.name, command, code, message)

    def raise_first(self, command: str, errors: Iterable[tuple[int, str]]) -> None:
        for code, message in errors:
            raise ScpiError(self.name, command, code, message)
