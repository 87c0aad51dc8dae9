"""`bench sync`: send a station's committed records the fleet database has not acknowledged.

The server's acknowledgement is what it holds: fleet.acknowledged() gives the station's highest
record, reference and annotation numbers, and the forwarder sends what follows, in batches.
Each batch is one transaction (staging COPY + fleet.accept_batch + COMMIT), so a forwarder
killed mid-batch leaves nothing of it and the next run sends it again; a repeat is harmless
(same number and hash: counted as a duplicate); a changed hash, a broken hash chain or a gap is
reported by the server as an incident and never merged. The station never waits on the server:
a station that cannot reach it keeps testing into its HDF5 store, and the next sync catches up.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from bench.fleet.binary_copy import binary_copy
from bench.fleet.errors import FleetError
from bench.fleet.settings import FleetSettings
from bench.fleet.source import (
    ANNOTATION_STAGE_COLUMNS,
    CABLE_STAGE_COLUMNS,
    FIBER_STAGE_COLUMNS,
    FIBER_STAGE_KINDS,
    INSTRUMENT_STAGE_COLUMNS,
    REFERENCE_STAGE_COLUMNS,
    Backlog,
    annotation_backlog,
    cable_backlog,
    reference_backlog,
)

log = logging.getLogger(__name__)


def _software_version() -> str:
    try:
        return metadata.version("mpo-bench")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass
class SyncReport:
    """What one `sync_store` run sent and what the server said."""

    station_name: str
    batches: int = 0
    cables_sent: int = 0
    cables_new: int = 0
    duplicates: int = 0
    references_new: int = 0
    annotations_new: int = 0
    incidents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.incidents

    def as_dict(self) -> dict[str, Any]:
        return {"station_name": self.station_name, "ok": self.ok, "batches": self.batches,
                "cables_sent": self.cables_sent, "cables_new": self.cables_new, "duplicates": self.duplicates,
                "references_new": self.references_new, "annotations_new": self.annotations_new,
                "incidents": self.incidents}


def connect(settings: FleetSettings, application_name: str = "bench-sync") -> Any:
    """A psycopg connection to the fleet database (password from PGPASSWORD or a pgpass file)."""
    try:
        import psycopg
    except ImportError:
        raise FleetError("the fleet needs psycopg 3: pip install 'mpo-bench[fleet]'") from None
    try:
        return psycopg.connect(**settings.conninfo(application_name))
    except psycopg.OperationalError as exc:
        raise FleetError(f"cannot reach the fleet database {settings.user}@{settings.host}:{settings.port}/"
                         f"{settings.dbname}: {str(exc).strip()}") from None


def acknowledged(conn: Any, station_name: str) -> tuple[int, int, int]:
    """(last record, reference, annotation number) the server holds for the station (-1: none)."""
    row = conn.execute("SELECT * FROM fleet.acknowledged(%s)", (station_name,)).fetchone()
    conn.commit()
    return int(row[0]), int(row[1]), int(row[2])


def _copy(cur: Any, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    if not rows:
        return
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def send_batch(conn: Any, station_name: str, backlog: Backlog,
               references: Sequence[tuple[Any, ...]] = (),
               annotations: Sequence[tuple[Any, ...]] = ()) -> dict[str, Any]:
    """One transaction: stage the rows, let fleet.accept_batch merge them, commit. Returns its JSON."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT fleet.open_staging()")
        _copy(cur, "stage_cables", CABLE_STAGE_COLUMNS, backlog.cables)
        if backlog.fibers is not None and len(backlog.fibers):
            with cur.copy(f"COPY stage_fibers ({', '.join(FIBER_STAGE_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(binary_copy(backlog.fibers, FIBER_STAGE_KINDS))
        _copy(cur, "stage_instruments", INSTRUMENT_STAGE_COLUMNS, backlog.instruments)
        _copy(cur, "stage_references", REFERENCE_STAGE_COLUMNS, references)
        _copy(cur, "stage_annotations", ANNOTATION_STAGE_COLUMNS, annotations)
        _copy(cur, "stage_lost", ("record_index",), [(i,) for i in backlog.lost])
        cur.execute("SELECT fleet.accept_batch(%s, %s)", (station_name, _software_version()))
        result = cur.fetchone()[0]
    return result if isinstance(result, dict) else json.loads(result)


def sync_store(conn: Any, store_path: str | os.PathLike[str], station_name: str, *, batch_cables: int = 200,
               resend_from: int | None = None) -> SyncReport:
    """Send everything past the server's acknowledgement, `batch_cables` records per transaction.

    `resend_from` sends again from that record number (a check that the server still holds the
    same hashes: repeats count as duplicates, a differing hash comes back as an incident). The
    next batch is read from the store while the server merges the current one.
    """
    report = SyncReport(station_name)
    last_cable, last_reference, last_note = acknowledged(conn, station_name)
    after = last_cable if resend_from is None else resend_from - 1
    references = reference_backlog(store_path, last_reference)
    annotations = annotation_backlog(store_path, last_note)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-sync-read") as reader:
        backlog = cable_backlog(store_path, after, batch_cables)
        while backlog.cables or references or annotations or backlog.lost:
            upcoming = None
            if backlog.cables and backlog.more:
                upcoming = reader.submit(cable_backlog, store_path, backlog.record_indexes[-1], batch_cables)
            # Annotations go with the first batch, and so arrive with (or after) their records: the
            # staged cables and the records already held are all the server needs to join them.
            result = send_batch(conn, station_name, backlog, references, annotations)
            references, annotations = [], []
            _count(report, backlog, result)
            if upcoming is None:
                break
            backlog = upcoming.result()
    return report


def _count(report: SyncReport, backlog: Backlog, result: dict[str, Any]) -> None:
    report.batches += 1
    report.cables_sent += len(backlog.cables)
    report.cables_new += int(result["cables"])
    report.duplicates += int(result["duplicates"])
    report.references_new += int(result["references"])
    report.annotations_new += int(result["annotations"])
    report.incidents.extend(result["incidents"])


class BackgroundForwarder:
    """Runs sync rounds beside a test session (`bench run/line --sync`) until stopped.

    A server that is down or refuses is logged and tried again next round: testing never waits
    on it. `stop()` runs one last round so a finished lot is on the server when the command ends.
    """

    def __init__(self, settings: FleetSettings, store_path: str | os.PathLike[str], station_name: str,
                 connect_fn: Callable[[], Any] | None = None) -> None:
        self.settings = settings
        self.store_path = os.fspath(store_path)
        self.station_name = station_name
        self._connect = connect_fn or (lambda: connect(settings))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_report: SyncReport | None = None
        self.last_error: str | None = None
        self.rounds = 0

    def __enter__(self) -> BackgroundForwarder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="bench-sync", daemon=True)
        self._thread.start()

    def run_round(self) -> SyncReport | None:
        """One sync round; None (and last_error set) when the server could not be used."""
        import psycopg

        if not os.path.exists(self.store_path):
            return None
        try:
            with self._connect() as conn:
                report = sync_store(conn, self.store_path, self.station_name,
                                    batch_cables=self.settings.batch_cables)
        except (FleetError, psycopg.Error) as exc:
            self.last_error = str(exc).strip()
            log.warning("bench sync: %s (the station keeps testing; next try in %.0f s)", self.last_error,
                        self.settings.interval_s)
            return None
        self.rounds += 1
        self.last_report, self.last_error = report, None
        for incident in report.incidents:
            log.error("bench sync: the fleet database reports %s: %s", incident["kind"], incident["detail"])
        return report

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_round()
            self._stop.wait(self.settings.interval_s)

    def stop(self) -> SyncReport | None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        return self.run_round()
