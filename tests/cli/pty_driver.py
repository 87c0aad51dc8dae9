"""Drive a command through a pseudo-terminal, as a technician at a real terminal would (stdlib only)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from collections.abc import Sequence

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """Terminal output as plain text: colour codes removed, '\\r\\x1b[K' progress rewrites kept as new lines."""
    return ANSI.sub("", text.replace("\r\x1b[K", "\n")).replace("\r", "")


class PtyProcess:
    """A child process whose stdin/stdout/stderr is a pseudo-terminal (its controlling terminal)."""

    def __init__(self, argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | None = None,
                 rows: int = 40, cols: int = 100) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # child: exec at once
            try:
                if cwd:
                    os.chdir(cwd)
                os.execvpe(argv[0], list(argv), env or dict(os.environ))
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.raw = ""  # everything the child wrote, ANSI included
        self.seen = 0  # offset in `text` up to which expect() has consumed
        self.status: int | None = None

    @property
    def text(self) -> str:
        return strip_ansi(self.raw)

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal (exited)
            return False
        if not chunk:
            return False
        self.raw += chunk.decode("utf-8", "replace")
        return True

    def expect(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        """Wait until `pattern` (regex) appears in the plain-text output after the last match."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            match = regex.search(self.text, self.seen)
            if match:
                self.seen = match.end()
                return match
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(min(remaining, 0.2)):
                match = regex.search(self.text, self.seen)
                if match:
                    self.seen = match.end()
                    return match
                raise AssertionError(f"timed out waiting for {pattern!r}; output so far:\n{self.text[-3000:]}")

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode("utf-8"))

    def sendline(self, text: str = "") -> None:
        self.send(text + "\r")  # what Enter (and a barcode scanner) sends

    def interrupt(self) -> None:
        """Ctrl-C: the terminal driver turns it into SIGINT for the foreground process group."""
        self.send("\x03")

    def wait(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"child did not exit; output:\n{self.text[-3000:]}")
            self._read(0.1)
        while self._read(0.05):  # drain what is left
            if not select.select([self.fd], [], [], 0)[0]:
                break
        return self.status

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass

    def close(self) -> None:
        if self.status is None:
            self.kill()
        try:
            os.close(self.fd)
        except OSError:
            pass
