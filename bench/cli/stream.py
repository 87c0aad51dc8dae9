"""Writing to standard output for a line script: one JSON object per line, flushed at once, and a
closed reader (`bench line ... | head`) noticed instead of raising a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, TextIO


class Output:
    """Standard output that remembers whether its reader has gone away.

    `write` returns False (and writes nothing more, ever) once a write or flush met a closed pipe;
    the caller decides whether the run goes on. The descriptor is then pointed at /dev/null so
    that Python's own flush at exit does not report the closed pipe either.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.closed = False

    def write(self, text: str) -> bool:
        if self.closed:
            return False
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:
            self.closed = True
            silence(self.stream)
        return not self.closed

    def line(self, text: str) -> bool:
        return self.write(text + "\n")

    def json_line(self, document: dict[str, Any]) -> bool:
        """One JSON Lines record: NaN is refused (it is not JSON), non-ASCII kept as written."""
        return self.line(json.dumps(document, ensure_ascii=False, allow_nan=False))


def silence(stream: TextIO) -> None:
    """Point `stream`'s descriptor at /dev/null (its reader is gone; nothing more can reach it)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
