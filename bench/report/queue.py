"""Certificates written off the measurement path: a worker process draws and writes them.

The line hands each stored cable's `CertificateData` to `CertificateQueue.submit` and goes on
to the next cable at once. The file is reserved in the line's process (created empty with
O_EXCL, so its name is known and never taken twice) and filled by the worker, which writes
`<name>.part` and renames it over the reservation: a certificate file is either empty (still
queued) or complete, never half written. A process, not a thread: drawing holds the
interpreter lock, and on the line's process that lock also serves the instrument replies
(and, on a virtual station, the simulated instruments themselves).

`close()` (or leaving the `with` block) waits for every queued certificate and raises a
`BenchError` naming each one that could not be written (its empty reservation removed); the
cable results are in the store either way, and `bench certificate` can redo any of them.
A backlog of more than `max_backlog` certificates makes `submit` wait for the oldest, so a
worker that cannot keep up slows the line instead of filling the memory.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from types import TracebackType

from bench.errors import BenchError
from bench.report.certificate import CertificateData
from bench.report.certificate_pdf import open_certificate_file, render_certificate

DEFAULT_BACKLOG = 200


def _ignore_interrupts() -> None:
    """Worker start-up: Ctrl-C at the terminal reaches the whole process group, but it is meant for
    the cable being measured; the worker finishes its queue and stops when the line closes it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def write_reserved_certificate(data: CertificateData, path: str) -> str:
    """Worker side: draw the certificate and put it in its reserved (empty) file by a rename."""
    part = f"{path}.part"
    with open(part, "wb") as handle:
        handle.write(render_certificate(data))
    os.replace(part, path)
    return path


class CertificateQueue:
    """Certificates of one line session, written by a worker process (see the module doc)."""

    def __init__(self, directory: str | Path, *, max_backlog: int = DEFAULT_BACKLOG) -> None:
        self.directory = Path(directory)
        self.max_backlog = max_backlog
        self.written: list[Path] = []
        self.failed: list[tuple[Path, str]] = []
        self._pending: deque[tuple[Path, Future[str]]] = deque()
        # spawn: the line's process runs threads (instrument I/O, a virtual bench's event loop),
        # which a forked child would inherit mid-flight.
        self._executor: ProcessPoolExecutor | None = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_interrupts)

    @property
    def pending(self) -> int:
        """Certificates queued and not yet known to be written."""
        self._collect(block=False)
        return len(self._pending)

    def submit(self, data: CertificateData) -> Path:
        """Reserve the certificate's file, queue its drawing, return the path (filled shortly after)."""
        if self._executor is None:
            raise BenchError("the certificate queue is closed; open a new line session to write certificates")
        target, handle = open_certificate_file(data, directory=self.directory)
        handle.close()
        self._pending.append((target, self._executor.submit(write_reserved_certificate, data, str(target))))
        while len(self._pending) > self.max_backlog:
            self._settle(*self._pending.popleft())
        return target

    def _settle(self, target: Path, future: Future[str]) -> None:
        try:
            future.result()
        except Exception as error:  # noqa: BLE001 - reported by close(), one line per certificate
            self.failed.append((target, f"{type(error).__name__}: {error}"))
            for leftover in (target, Path(f"{target}.part")):
                leftover.unlink(missing_ok=True)
        else:
            self.written.append(target)

    def _collect(self, *, block: bool) -> None:
        while self._pending and (block or self._pending[0][1].done()):
            self._settle(*self._pending.popleft())

    def wait(self) -> list[Path]:
        """Block until every queued certificate is written (or failed); the paths written so far."""
        self._collect(block=True)
        return list(self.written)

    def close(self) -> None:
        """Wait for the queue, stop the worker, raise BenchError if any certificate failed."""
        if self._executor is None:
            return
        try:
            self.wait()
        finally:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self.failed:
            lines = "; ".join(f"{path.name} ({why})" for path, why in self.failed)
            raise BenchError(f"{len(self.failed)} certificate(s) could not be written: {lines}. The results are "
                             "stored; write them again with bench certificate STORE SERIAL --dir FOLDER")

    def __enter__(self) -> CertificateQueue:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
