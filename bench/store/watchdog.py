"""Running verify so that it cannot hang, whatever HDF5 does with a damaged file.

A SWMR reader retries metadata that fails its checksum, assuming a writer is
half-way through updating it, with a back-off that grows to minutes. The
superblock is checked before HDF5 opens the file, but other metadata (object
headers, chunk indexes) can be damaged too. So `bench verify` runs the check in
a child process that reports progress after every batch of records; if it
reports nothing for `stall_s` seconds it is stopped and the file is reported
DAMAGED, never left running.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass

from bench.errors import BenchError
from bench.store.damage import StoreDamagedError
from bench.store.verify import VerifyExit, VerifyReport, verify_store

STALL_S = 20.0


@dataclass(frozen=True)
class Refusal:
    """Why no report could be made: REFUSED (not a store, no file) or DAMAGED (nothing readable)."""

    status: VerifyExit
    message: str


def _child(path: str, conn) -> None:  # noqa: ANN001 - a multiprocessing Connection
    try:
        report = verify_store(path, progress=lambda: conn.send(("progress",)))
        conn.send(("report", report))
    except StoreDamagedError as exc:
        conn.send(("refused", VerifyExit.DAMAGED, str(exc)))
    except BenchError as exc:
        conn.send(("refused", VerifyExit.REFUSED, str(exc)))
    except Exception as exc:  # noqa: BLE001 - reported as a finding, never as a traceback
        conn.send(("refused", VerifyExit.DAMAGED, f"{path}: reading the file failed ({type(exc).__name__}: {exc})"))
    finally:
        conn.close()


def verify_without_hanging(path: str | os.PathLike[str], stall_s: float = STALL_S
                           ) -> tuple[VerifyReport | None, Refusal | None]:
    """(report, None), or (None, refusal) when the file could not be checked or HDF5 stalled."""
    path = os.fspath(path)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(path, child), daemon=True)
    proc.start()
    child.close()
    try:
        while True:
            if not parent.poll(stall_s):
                return None, Refusal(VerifyExit.DAMAGED, (
                    f"{path}: HDF5 made no progress for {stall_s:.0f} s while reading the file (it keeps retrying "
                    "metadata that fails its checksum): the file's metadata is damaged; the check was stopped"))
            try:
                message = parent.recv()
            except EOFError:
                return None, Refusal(VerifyExit.DAMAGED, f"{path}: the check ended without a report "
                                                         f"(exit code {proc.exitcode}); the file may be damaged")
            if message[0] == "report":
                return message[1], None
            if message[0] == "refused":
                return None, Refusal(message[1], message[2])
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(timeout=5)
        parent.close()
