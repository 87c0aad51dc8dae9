"""A loopback SCPI peer that records what arrives and in which segment: the observable side of
the drivers' transport (which lines share a write, what is sent at all), without any
library internals."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

Answer = Callable[[str], str | None]


class RecordingInstrument:
    """Serves one connection on 127.0.0.1; `answer(line)` gives the reply (None: no reply)."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.segments: list[list[str]] = []  # lines per received chunk
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"TCPIP0::127.0.0.1::{self._listener.getsockname()[1]}::SOCKET"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def lines(self) -> list[str]:
        return [line for segment in self.segments for line in segment]

    def _serve(self) -> None:
        connection, _ = self._listener.accept()
        buffer = b""
        with connection:
            while True:
                try:
                    chunk = connection.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                lines = [line.decode("ascii").strip() for line in complete]
                if lines:
                    self.segments.append(lines)
                replies = [reply for reply in map(self.answer, lines) if reply is not None]
                if replies:
                    connection.sendall("".join(reply + "\n" for reply in replies).encode("ascii"))

    def close(self) -> None:
        self._listener.close()
        self._thread.join(timeout=2.0)
