"""Production-line interface: a station opened for unattended testing.

Python API (what examples/line_script.py uses)::

    from bench.operator.line import exit_code_for, open_line_bench

    with open_line_bench("station.toml", "recipe.toml", operator="line-3", lot="LOT-42",
                         store="results/line3.h5", certificate_dir="certificates",
                         fixture=MyHandler()) as bench:
        bench.take_reference()                 # reference cords only, no cable in the fixture
        for serial in serials:
            result = bench.test(serial)        # load (fixture), measure, grade, store; certificate queued
            print(result.outcome, result.failing_fibers, result.certificate)
    exit_code = exit_code_for(r.verdict for r in bench.results)   # bench.exit_codes: 0 all PASS, 1 a FAIL, ...

With `certificate_dir` each tested cable's certificate is drawn by a worker process
(`bench.report.queue.CertificateQueue`): `result.certificate` names the file at once, and it
is complete when the `with` block ends (closing waits for the queue).

`LineBench.session` is the underlying `bench.run.session.TestSession` for
anything the wrapper does not cover. `LineBench.test` never prompts and never
raises for an instrument fault (that is an ERROR record); it raises
`ReferenceRequired` when the reference has expired, `ConfigError` for a serial
the recipe refuses, and KeyboardInterrupt after storing an ABORTED record.

The fixture (`bench.operator.fixture`): on a real station the cable is put in
the fixture by a person or a handler, and `Fixture.connect(serial)` is where a
line integrator drives the handler (the default `ManualFixture` does nothing).
A virtual station (simulated instruments, a simulated fixture) is opened by
`bench.sim_launch.open_virtual_line_bench`, which returns the same `LineBench`:
nothing here knows about the simulator.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.clock import utc_now
from bench.config.cable_fit import check_recipe_on_station
from bench.config.crosscheck import check_station_and_recipe
from bench.config.recipe import Recipe, load_recipe
from bench.config.station import StationConfig, load_station
from bench.errors import BenchError, ConfigError
from bench.exit_codes import ExitCode, exit_code_for
from bench.grading.uncertainty import with_budget
from bench.operator.fixture import Fixture, ManualFixture
from bench.operator.interrupt import DeferredInterrupt, Progress
from bench.records import FiberResult, Outcome, ReferenceRecord
from bench.report.certificate import CertificateData
from bench.report.certificate_pdf import write_certificate
from bench.report.issuer import CertificateIssuer, issuer_from_station
from bench.report.queue import CertificateQueue
from bench.run.drift import DriftWatch
from bench.run.labels import check_label
from bench.run.session import CableOutcome, ReferenceRequired, TestSession
from bench.run.station import Station, open_station
from bench.store import ResultStore
from procedures.operator import CONNECT, Prompt

EXIT_PASS, EXIT_FAIL, EXIT_ERROR, EXIT_INTERRUPTED = (ExitCode.PASS, ExitCode.FAIL, ExitCode.REFUSED,
                                                     ExitCode.INTERRUPTED)

__all__ = [
    "EXIT_ERROR",
    "EXIT_FAIL",
    "EXIT_INTERRUPTED",
    "EXIT_PASS",
    "DeferredInterrupt",
    "Fixture",
    "LineBench",
    "LineResult",
    "ManualFixture",
    "ReferenceRequired",
    "check_label",
    "exit_code_for",
    "open_line_bench",
]


@dataclass(frozen=True)
class LineResult:
    """One tested cable, as a line script or `bench line --json` sees it."""

    outcome: CableOutcome
    certificate: Path | None = None
    record_sha256: str | None = None  # the stored record's hash (`bench verify` checks it)

    @property
    def serial(self) -> str:
        return self.outcome.record.serial

    @property
    def verdict(self) -> Outcome:
        return self.outcome.outcome

    @property
    def failing_fibers(self) -> list[int]:
        return self.outcome.failing_fibers

    def as_dict(self) -> dict[str, Any]:
        """The cable as one JSON object (the `bench line --json` stream; fields in docs/operator.md)."""
        record = self.outcome.record
        il = [f.insertion_loss_db for f in record.fibers if math.isfinite(f.insertion_loss_db)]
        margins = [f.margin_db for f in record.fibers if math.isfinite(f.margin_db)]
        return {
            "type": "cable",
            "serial": record.serial,
            "attempt": record.attempt,
            "record_index": self.outcome.record_index,
            "record_sha256": self.record_sha256,
            "outcome": record.outcome,
            "reason": record.reason,
            "failing_fibers": self.failing_fibers,
            "fibers": _fibers(record.fibers),
            "polarity_found": record.polarity_found or None,
            "reference_id": record.reference_id or None,
            "max_il_db": max(il) if il else None,
            "worst_margin_db": min(margins) if margins else None,
            "started_utc": record.started_utc,
            "finished_utc": record.finished_utc,
            "certificate": str(self.certificate) if self.certificate else None,
        }


def _fibers(fibers: Iterable[FiberResult]) -> list[dict[str, Any]]:
    """Per fiber position: IL and verdict per wavelength (keys in nm, e.g. "1310"); IL null if not measured."""
    by_position: dict[int, dict[str, Any]] = {}
    for fiber in fibers:
        entry = by_position.setdefault(fiber.fiber_position, {"fiber": fiber.fiber_position, "il_db": {},
                                                              "verdict": {}})
        key = f"{fiber.wavelength_nm:g}"
        entry["il_db"][key] = fiber.insertion_loss_db if math.isfinite(fiber.insertion_loss_db) else None
        entry["verdict"][key] = fiber.verdict
    return [by_position[position] for position in sorted(by_position)]


class FixtureGoldenOperator:
    """Connects the golden cable for a check through the fixture (a handler, or the virtual fixture)."""

    def __init__(self, fixture: Fixture) -> None:
        self.fixture = fixture

    def prompt(self, prompt: Prompt) -> None:
        if prompt.action == CONNECT:
            self.fixture.connect(prompt.serial)


class LineBench:
    """A station opened for testing: instruments, store, `TestSession` and fixture. See the module doc."""

    def __init__(self, config: StationConfig, recipe: Recipe, station: Station, store: Any, session: TestSession,
                 fixture: Fixture, *, certificate_dir: Path | None = None,
                 addresses: Mapping[str, str] | None = None, certificates: CertificateQueue | None = None,
                 issuer: CertificateIssuer | None = None, accept_golden_baseline: bool = False) -> None:
        self.config = config
        self.recipe = recipe
        self.station = station
        self.store = store
        self.session = session
        self.fixture = fixture
        self.certificate_dir = certificate_dir
        self.certificates = certificates
        self.issuer = issuer or issuer_from_station(config)
        self._addresses = addresses
        self.last_reference: ReferenceRecord | None = None
        self.results: list[LineResult] = []
        # The golden check after each reference, at the station's cadence and at run end
        # (bench.run.drift); `drift.operator` is who connects the golden cable.
        self.drift = DriftWatch(session, FixtureGoldenOperator(fixture), accept_baseline=accept_golden_baseline)

    @property
    def unattended_reference(self) -> bool:
        """The fixture can hold the reference cords without a person (see `Fixture`)."""
        return bool(getattr(self.fixture, "unattended_reference", False))

    @property
    def store_path(self) -> Path:
        return Path(self.store.path)

    def reference_problem(self) -> str | None:
        """Why the current reference may not be used (None: it may)."""
        return self.session.reference_problem()

    def take_reference(self, progress: Progress | None = None) -> ReferenceRecord:
        """Store a new reference. The fixture must hold the reference cords only (the virtual one is emptied)."""
        self.drift.before_reference()
        self.fixture.disconnect()
        self.last_reference = self.session.take_reference(progress=progress)
        try:
            self.drift.after_reference()
        finally:
            self.fixture.disconnect()
        return self.last_reference

    def check_serial(self, serial: str) -> str:
        """The serial, stripped, if the recipe and the store accept it; else ConfigError/BenchError."""
        return check_serial(self.recipe, serial)

    def test(self, serial: str, progress: Progress | None = None) -> LineResult:
        """Connect, measure, grade and store one cable; write its certificate when a folder is set."""
        serial = self.check_serial(serial)
        if self.drift.enabled and self.session.health.check_due():
            try:
                self.drift.before_cable()
            finally:
                self.fixture.disconnect()
        problem = self.reference_problem()
        if problem:
            raise ReferenceRequired(f"{problem}; take a new reference before testing")
        self.fixture.connect(serial)
        try:
            outcome = self.session.test_cable(serial, progress=progress)
        except KeyboardInterrupt:
            aborted = self.session.last_stored
            if aborted is not None and aborted.record.serial == serial and aborted.outcome == Outcome.ABORTED:
                self.results.append(LineResult(aborted, None, self._last_sha256()))
            raise
        finally:
            self.fixture.disconnect()
        self.drift.cable_stored(outcome)
        sha256 = self._last_sha256()
        certificate = self._queue_certificate(outcome)
        result = LineResult(outcome, certificate, sha256)
        self.results.append(result)
        return result

    def _last_sha256(self) -> str | None:
        return getattr(self.store, "last_cable_sha256", None)

    def certificate_data(self, outcome: CableOutcome) -> CertificateData:
        """What the certificate of a stored outcome shows (its reference and the station's issuer)."""
        reference_id = outcome.record.reference_id
        reference = self.last_reference if self.last_reference and self.last_reference.reference_id == reference_id \
            else None
        lookup = getattr(self.store, "reference", None)
        if reference is None and callable(lookup) and reference_id:
            reference = lookup(reference_id)  # read back from the file: ~10 ms, so only when not at hand
        return CertificateData.from_record(outcome.record, reference, outcome.record_index, self.issuer)

    def _queue_certificate(self, outcome: CableOutcome) -> Path | None:
        """The certificate's path, its drawing queued off the measurement path (see bench.report.queue)."""
        if self.certificate_dir is None or not outcome.record.fibers:
            return None
        if self.certificates is None:
            return self.write_certificate(outcome)
        return self.certificates.submit(self.certificate_data(outcome))

    def write_certificate(self, outcome: CableOutcome, directory: Path | None = None) -> Path | None:
        """Certificate PDF of a stored outcome, written now (None when it has no per-fiber results, e.g. ABORTED)."""
        if not outcome.record.fibers:
            return None
        return write_certificate(self.certificate_data(outcome), directory=directory or self.certificate_dir)

    def finish(self) -> None:
        """End of a run: the golden check vouches for the cables since the last one (BenchDrifted if not)."""
        try:
            self.drift.finish()
        finally:
            self.fixture.disconnect()

    def safe_state(self) -> None:
        """Best effort after an abort: laser off, so nobody unplugs a lit cord."""
        try:
            self.station.instruments.source.set_output(False)
        except Exception:  # noqa: BLE001 - a dead link is reported by the next test, not here
            pass

    def reconnect(self) -> None:
        """Close and reopen every instrument (after a forced interrupt left a reply unread)."""
        self.station.close()
        self.station = _open(self.config, self._addresses)
        self.session.station = self.station

    def close(self) -> None:
        self.fixture.disconnect()
        self.station.close()


def _open(config: StationConfig, addresses: Mapping[str, str] | None) -> Station:
    try:
        return open_station(config, addresses=addresses)
    except BenchError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure to open is reported as one sentence
        raise BenchError(f"cannot open the station's instruments ({error}); check they are powered and "
                         f"connected and that the addresses in {config.source_path} are right") from error


def check_serial(recipe: Recipe, serial: str) -> str:
    """The serial, stripped, if the recipe and the store accept it (ConfigError otherwise)."""
    serial = serial.strip()
    recipe.check_serial(serial)
    return check_label("serial number", serial)


def check_labels(recipe: Recipe, operator: str, lot: str, serials: Iterable[str] = ()) -> tuple[str, str]:
    """Operator and lot as the store accepts them, after every serial about to be tested is checked."""
    for serial in serials:
        check_serial(recipe, serial)
    return check_label("operator name", operator), check_label("lot", lot)


def load_station_and_recipe(station: str | Path | StationConfig,
                            recipe: str | Path | Recipe) -> tuple[StationConfig, Recipe]:
    """Load and cross-check a station and a recipe (paths or loaded objects)."""
    config = station if isinstance(station, StationConfig) else load_station(station)
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, station_wavelengths_nm=config.wavelengths_nm or None,
                             station_fiber_capacity=config.fiber_capacity)
    check_recipe_on_station(recipe, config)  # launch conditioner, polish: before any instrument is opened
    check_station_and_recipe(config, recipe, utc_now().date())  # method vs connections, calibration
    return config, with_budget(config, recipe)  # U from the station's and the recipe's uncertainty budget


@contextmanager
def open_line_bench(station: str | Path | StationConfig, recipe: str | Path | Recipe, *, operator: str, lot: str,
                    store: str | Path | None = None, certificate_dir: str | Path | None = None,
                    fixture: Fixture | None = None, addresses: Mapping[str, str] | None = None,
                    serials: Iterable[str] = (), accept_golden_baseline: bool = False) -> Iterator[LineBench]:
    """Open instruments, store and session for unattended testing; close everything on exit.

    `store` defaults to the station's `store_path`; `addresses` overrides the station file's
    instrument addresses (how the virtual bench hands over its loopback ports). Labels, and the
    `serials` to be tested, are checked, and the store's folder made, before any instrument is
    opened or the store file created. On a normal exit the closing golden check runs
    (`LineBench.finish`); `accept_golden_baseline` makes the uncertified golden cable's first
    check of this run its baseline.
    """
    config, recipe = load_station_and_recipe(station, recipe)
    operator, lot = check_labels(recipe, operator, lot, serials)
    issuer = issuer_from_station(config)
    if config.backend == "virtual" and addresses is None:
        raise ConfigError(config.source_path, "station.backend", "a virtual station has no instruments of its own",
                          "open it with bench.sim_launch.open_virtual_line_bench (bench line and bench run do)")
    store_path = Path(store if store is not None else config.store_path)
    store_path.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        # Entered first, so it is closed last: the queued certificates finish after the instruments close.
        queue = (stack.enter_context(CertificateQueue(certificate_dir)) if certificate_dir is not None
                 else None)
        opened = stack.enter_context(_open(config, addresses))
        result_store = stack.enter_context(ResultStore(store_path))
        session = TestSession(opened, recipe, result_store, operator=operator, lot=lot)
        bench = LineBench(config, recipe, opened, result_store, session, fixture or ManualFixture(),
                          certificate_dir=Path(certificate_dir) if certificate_dir is not None else None,
                          addresses=addresses, certificates=queue, issuer=issuer,
                          accept_golden_baseline=accept_golden_baseline)
        stack.callback(bench.close)
        yield bench
        bench.finish()
