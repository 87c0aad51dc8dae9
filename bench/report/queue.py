"""Certificates written off the measurement path: a worker process draws and writes them.

The line hands each stored cable's `CertificateData` to `CertificateQueue.submit` and goes on
to the next cable at once. The file is reserved in the line's process (created empty with
O_EXCL, so its name is known and never taken twice) and filled by the worker, which writes
`<name>.part` and renames it over the reservation: a certificate file is either empty (still
queued) or complete, never half written.

Why a process, and why this one: drawing holds the interpreter lock, which in the line's
process also serves the instrument replies (and, on a virtual station, the simulated
instruments). The worker is `python -m bench.report.queue`, started in its own session, fed
one JSON job per line on its standard input: unlike a multiprocessing pool it does not re-run the
caller's main script (a production line script without a `__main__` guard keeps working),
and Ctrl-C at the technician's terminal, meant for the cable being measured, does not reach it.
It runs at a lower priority (nice 10), so on a busy machine the measurement gets the cores first.

`close()` (or leaving the `with` block) waits for every queued certificate and raises a
`BenchError` naming each one that could not be written (its empty reservation removed); the
cable results are in the store either way, and `bench certificate` can redo any of them.
The pipe holds a few dozen jobs; beyond that `submit` waits for the worker, so a worker that
cannot keep up slows the line instead of filling the memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from bench.errors import BenchError
from bench.report.certificate import CertificateData
from bench.report.certificate_pdf import open_certificate_file, render_certificate


def write_reserved_certificate(data: CertificateData, path: str) -> None:
    """Draw the certificate and put it in its reserved (empty) file by a rename."""
    part = f"{path}.part"
    with open(part, "wb") as handle:
        handle.write(render_certificate(data))
    os.replace(part, path)


def _worker_env() -> dict[str, str]:
    """The caller's environment, with the folder holding this `bench` package importable first."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


class CertificateQueue:
    """Certificates of one line session, written by a worker process (see the module doc)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.written: list[Path] = []
        self.failed: list[tuple[Path, str]] = []
        self._jobs: dict[int, tuple[Path, Future[None]]] = {}
        self._next_job = 0
        self._lock = threading.Lock()
        self._worker: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Certificates queued and not yet written (or failed)."""
        with self._lock:
            return sum(not future.done() for _, future in self._jobs.values())

    def _start(self) -> subprocess.Popen[bytes]:
        if self._worker is None:
            self._worker = subprocess.Popen([sys.executable, "-m", "bench.report.queue"], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, env=_worker_env(), start_new_session=True)
            self._reader = threading.Thread(target=self._read_replies, args=(self._worker.stdout,),
                                            name="certificate-replies", daemon=True)
            self._reader.start()
        return self._worker

    def submit(self, data: CertificateData) -> Path:
        """Reserve the certificate's file, queue its drawing, return the path (filled shortly after)."""
        if self._closed:
            raise BenchError("the certificate queue is closed; open a new line session to write certificates")
        target, handle = open_certificate_file(data, directory=self.directory)
        handle.close()
        worker = self._start()
        future: Future[None] = Future()
        with self._lock:
            job, self._next_job = self._next_job, self._next_job + 1
            self._jobs[job] = (target, future)
        try:
            assert worker.stdin is not None
            line = json.dumps({"job": job, "path": str(target), "data": data.as_dict()}, ensure_ascii=True)
            worker.stdin.write(line.encode("ascii") + b"\n")
            worker.stdin.flush()
        except (BrokenPipeError, OSError) as error:
            future.set_exception(BenchError(f"the certificate worker stopped ({error})"))
        return target

    def _read_replies(self, replies: BinaryIO) -> None:
        for line in replies:
            try:
                reply = json.loads(line)
                job, problem = int(reply["job"]), reply["problem"]
            except (ValueError, KeyError, TypeError):
                break
            with self._lock:
                _, future = self._jobs[job]
            if problem is None:
                future.set_result(None)
            else:
                future.set_exception(BenchError(problem))
        with self._lock:  # the worker is gone: whatever it did not answer is lost
            for _, future in self._jobs.values():
                if not future.done():
                    future.set_exception(BenchError("the certificate worker stopped before writing it"))

    def wait(self) -> list[Path]:
        """Block until every queued certificate is written (or failed); the paths written so far."""
        with self._lock:
            jobs = sorted(self._jobs.items())
            self._jobs = {}
        for _, (target, future) in jobs:
            try:
                future.result()
            except BenchError as error:
                self.failed.append((target, str(error)))
                for leftover in (target, Path(f"{target}.part")):
                    leftover.unlink(missing_ok=True)
            else:
                self.written.append(target)
        return list(self.written)

    def close(self) -> None:
        """Wait for the queue, stop the worker, raise BenchError if any certificate failed."""
        if self._closed:
            return
        self._closed = True
        worker = self._worker
        if worker is not None:
            assert worker.stdin is not None
            try:
                worker.stdin.close()  # end of jobs: the worker answers what it has, then exits
            except OSError:
                pass
            worker.wait()
            if self._reader is not None:
                self._reader.join()
            assert worker.stdout is not None
            worker.stdout.close()
        self.wait()
        if self.failed:
            lines = "; ".join(f"{path.name} ({why})" for path, why in self.failed)
            raise BenchError(f"{len(self.failed)} certificate(s) could not be written: {lines}. The results are "
                             "stored; write them again with bench certificate STORE SERIAL --dir FOLDER")

    def __enter__(self) -> CertificateQueue:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def serve(jobs: BinaryIO, replies: BinaryIO) -> None:
    """The worker's loop: {job, path, data} lines in, {job, problem (null: written)} lines out, to end of input."""
    for line in jobs:
        request = json.loads(line)
        try:
            write_reserved_certificate(CertificateData.from_dict(request["data"]), request["path"])
            problem = None
        except Exception as error:  # noqa: BLE001 - sent back to the line, which reports it by file
            problem = f"{type(error).__name__}: {error}"
        replies.write(json.dumps({"job": request["job"], "problem": problem}).encode("ascii") + b"\n")
        replies.flush()


if __name__ == "__main__":
    # Background work: when the station's cores are busy, the measurement gets them first.
    os.nice(10)
    serve(sys.stdin.buffer, sys.stdout.buffer)
