"""Production-line interface: a station opened for unattended testing, and the `bench line` command.

Python API (what examples/line_script.py uses)::

    from bench.operator.line import open_line_bench

    with open_line_bench("station.toml", "recipe.toml", operator="line-3", lot="LOT-42",
                         store="results/line3.h5", certificate_dir="certificates") as bench:
        bench.take_reference()                 # reference cords only, no cable in the fixture
        for serial in serials:
            result = bench.test(serial)        # load (fixture), measure, grade, store, certificate
            print(result.outcome, result.failing_fibers, result.certificate)
    exit_code = exit_code_for(results)         # 0 all PASS, 1 any not PASS, 2 any ERROR

`LineBench.session` is the underlying `bench.run.session.TestSession` for
anything the wrapper does not cover. `LineBench.test` never prompts and never
raises for an instrument fault (that is an ERROR record); it raises
`ReferenceRequired` when the reference has expired, `ConfigError` for a serial
the recipe refuses, and KeyboardInterrupt after storing an ABORTED record.

The fixture: on a real station the cable is put in the fixture by a person or
a handler, and `Fixture.connect(serial)` is where a line integrator drives the
handler (the default `ManualFixture` does nothing). With `backend = "virtual"`
the bench starts the simulated instruments in-process and `VirtualFixture`
connects a simulated cable made from the serial (`make_cable(serial, ...)`,
deterministic per serial and seed); the serials given as `sim_fail` get one or
two fibers far above the limit. This module is a "sim launch" in the sense of
DESIGN.md: it imports `sim_instruments` only for the virtual backend.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from bench.config.recipe import Recipe, load_recipe
from bench.config.station import StationConfig, load_station
from bench.errors import BenchError, ConfigError
from bench.records import ReferenceRecord
from bench.run.session import CableOutcome, ReferenceRequired, TestSession
from bench.run.station import Station, open_station

EXIT_PASS, EXIT_FAIL, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130

# Width of the store's string fields (schema v1); checked before any measurement.
MAX_FIELD_BYTES = 64

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
    "VirtualFixture",
    "check_label",
    "exit_code_for",
    "open_line_bench",
]


def check_label(what: str, value: str) -> str:
    """Validate an operator name, lot or serial before testing: non-empty, printable, fits the store."""
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        raise BenchError(f"the {what} is empty; type the {what}")
    if not value.isprintable():
        raise BenchError(f"the {what} {value!r} contains control characters; retype it")
    if len(value.encode("utf-8")) > MAX_FIELD_BYTES:
        raise BenchError(f"the {what} is longer than {MAX_FIELD_BYTES} bytes; shorten it")
    return value


class Fixture(Protocol):
    """What puts a cable into the test fixture and takes it out again."""

    def connect(self, serial: str) -> None: ...

    def disconnect(self) -> None: ...


class ManualFixture:
    """A real station: a person (or a handler outside the toolkit) connects the cable."""

    def connect(self, serial: str) -> None:
        return None

    def disconnect(self) -> None:
        return None


class VirtualFixture:
    """The virtual bench's fixture: connects a simulated cable built from the serial.

    Each serial always gives the same simulated cable for a given seed. Serials
    in `fail_serials` are built with one or two fibers at 1.1-1.8 dB (far above
    any realistic limit), so demos and tests decide which cables fail.
    """

    def __init__(self, virtual_bench: Any, recipe: Recipe, *, seed: int = 0,
                 fail_serials: Iterable[str] = ()) -> None:
        self.virtual_bench = virtual_bench
        self.recipe = recipe
        self.seed = seed
        self.fail_serials = set(fail_serials)
        self.connected: str | None = None

    def connect(self, serial: str) -> None:
        from sim_instruments.physics import make_cable

        cable = make_cable(serial, fiber_count=self.recipe.fiber_count, polarity=self.recipe.polarity,
                           wavelengths_nm=self.recipe.wavelengths_nm, seed=self.seed,
                           fail=serial in self.fail_serials)
        self.virtual_bench.load_dut(cable)
        self.connected = serial

    def disconnect(self) -> None:
        self.virtual_bench.load_dut(None)
        self.connected = None


@dataclass(frozen=True)
class LineResult:
    """One tested cable, as a line script or `bench line --json` sees it."""

    outcome: CableOutcome
    certificate: Path | None = None

    @property
    def serial(self) -> str:
        return self.outcome.record.serial

    @property
    def verdict(self) -> str:
        return self.outcome.outcome

    @property
    def failing_fibers(self) -> list[int]:
        return self.outcome.failing_fibers

    def as_dict(self) -> dict[str, Any]:
        record = self.outcome.record
        il = [f.insertion_loss_db for f in record.fibers if f.insertion_loss_db == f.insertion_loss_db]
        margins = [f.margin_db for f in record.fibers if f.margin_db == f.margin_db]
        return {
            "serial": record.serial,
            "outcome": record.outcome,
            "reason": record.reason,
            "failing_fibers": self.failing_fibers,
            "polarity_found": record.polarity_found,
            "attempt": record.attempt,
            "record_index": self.outcome.record_index,
            "max_il_db": max(il) if il else None,
            "worst_margin_db": min(margins) if margins else None,
            "started_utc": record.started_utc,
            "certificate": str(self.certificate) if self.certificate else None,
        }


def exit_code_for(verdicts: Iterable[str]) -> int:
    """0 when every cable passed, 2 when any was an ERROR, else 1 (FAIL, CONDITIONAL or ABORTED)."""
    verdicts = list(verdicts)
    if any(v == "ERROR" for v in verdicts):
        return EXIT_ERROR
    if any(v != "PASS" for v in verdicts):
        return EXIT_FAIL
    return EXIT_PASS


class DeferredInterrupt:
    """Ctrl-C during a measurement stops it at the next safe point, never mid-transaction.

    A SIGINT that lands while PyVISA waits for a reply would leave that reply
    unread, and the next query would read it instead of its own. So while this
    guard is active, SIGINT only sets a flag; `wrap(progress)` returns a progress
    callback that raises KeyboardInterrupt once the current reading is complete
    (progress is called between readings). If the first Ctrl-C has been pending
    longer than `force_after_s` (an instrument hanging until its timeout), a
    second Ctrl-C interrupts at once and sets `forced`: the caller must then
    reconnect the instruments (`LineBench.reconnect()`) before the next query.

    Use it only from the main thread (Python delivers signals there).
    """

    def __init__(self, *, force_after_s: float = 3.0, on_request: Callable[[], None] | None = None) -> None:
        self.force_after_s = force_after_s
        self.on_request = on_request
        self.requested_at: float | None = None
        self.forced = False
        self._previous: Any = None

    @property
    def requested(self) -> bool:
        return self.requested_at is not None

    def _handler(self, _signum: int, _frame: FrameType | None) -> None:
        now = time.monotonic()
        if self.requested_at is None:
            self.requested_at = now
            if self.on_request is not None:
                self.on_request()
            return
        if now - self.requested_at >= self.force_after_s:
            self.forced = True
            raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was pressed (call at a safe point only)."""
        if self.requested_at is not None:
            raise KeyboardInterrupt

    def wrap(self, progress: Callable[[int, int, int, int], None] | None = None
             ) -> Callable[[int, int, int, int], None]:
        def guarded(wavelength_index: int, launch_index: int, n_wavelengths: int, n_launch: int) -> None:
            self.check()
            if progress is not None:
                progress(wavelength_index, launch_index, n_wavelengths, n_launch)
        return guarded

    def __enter__(self) -> DeferredInterrupt:
        self.requested_at, self.forced = None, False
        self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *_exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous if self._previous is not None else signal.default_int_handler)


class LineBench:
    """A station opened for testing: instruments, store, `TestSession` and fixture. See the module doc."""

    def __init__(self, config: StationConfig, recipe: Recipe, station: Station, store: Any, session: TestSession,
                 fixture: Fixture, *, certificate_dir: Path | None = None, virtual_bench: Any = None,
                 addresses: dict[str, str] | None = None) -> None:
        self.config = config
        self.recipe = recipe
        self.station = station
        self.store = store
        self.session = session
        self.fixture = fixture
        self.certificate_dir = certificate_dir
        self.virtual_bench = virtual_bench
        self._addresses = addresses
        self.last_reference: ReferenceRecord | None = None
        self.results: list[LineResult] = []

    @property
    def is_virtual(self) -> bool:
        return self.virtual_bench is not None

    @property
    def store_path(self) -> Path:
        return Path(self.store.path)

    def reference_problem(self) -> str | None:
        """Why the current reference may not be used (None: it may)."""
        return self.session.reference_problem()

    def take_reference(self, progress: Callable[[int, int, int, int], None] | None = None) -> ReferenceRecord:
        """Store a new reference. The fixture must hold the reference cords only (the virtual one is emptied)."""
        self.fixture.disconnect()
        self.last_reference = self.session.take_reference(progress=progress)
        return self.last_reference

    def check_serial(self, serial: str) -> str:
        """The serial, stripped, if the recipe and the store accept it; else ConfigError/BenchError."""
        serial = serial.strip()
        self.recipe.check_serial(serial)
        return check_label("serial number", serial)

    def test(self, serial: str, progress: Callable[[int, int, int, int], None] | None = None) -> LineResult:
        """Connect, measure, grade and store one cable; write its certificate when a folder is set."""
        serial = self.check_serial(serial)
        problem = self.reference_problem()
        if problem:
            raise ReferenceRequired(f"{problem}; take a new reference before testing")
        self.fixture.connect(serial)
        try:
            outcome = self.session.test_cable(serial, progress=progress)
        finally:
            self.fixture.disconnect()
        certificate = self.write_certificate(outcome) if self.certificate_dir is not None else None
        result = LineResult(outcome, certificate)
        self.results.append(result)
        return result

    def write_certificate(self, outcome: CableOutcome, directory: Path | None = None) -> Path | None:
        """Certificate PDF of a stored outcome (None when it has no per-fiber results, e.g. ABORTED)."""
        from bench.report.certificate import CertificateData, write_certificate

        if not outcome.record.fibers:
            return None
        reference = None
        lookup = getattr(self.store, "reference", None)
        if callable(lookup) and outcome.record.reference_id:
            reference = lookup(outcome.record.reference_id)
        data = CertificateData.from_record(outcome.record, reference, outcome.record_index)
        return write_certificate(data, directory=directory or self.certificate_dir)

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


def _open(config: StationConfig, addresses: dict[str, str] | None) -> Station:
    try:
        return open_station(config, addresses=addresses)
    except BenchError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure to open is reported as one sentence
        raise BenchError(f"cannot open the station's instruments ({error}); check they are powered and "
                         f"connected and that the addresses in {config.source_path} are right") from error


def load_station_and_recipe(station: str | Path | StationConfig,
                            recipe: str | Path | Recipe) -> tuple[StationConfig, Recipe]:
    """Load and cross-check a station and a recipe (paths or loaded objects)."""
    config = station if isinstance(station, StationConfig) else load_station(station)
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, station_wavelengths_nm=config.wavelengths_nm or None,
                             station_fiber_capacity=config.fiber_capacity)
    return config, recipe


@contextmanager
def open_line_bench(station: str | Path | StationConfig, recipe: str | Path | Recipe, *, operator: str, lot: str,
                    store: str | Path | None = None, certificate_dir: str | Path | None = None,
                    fixture: Fixture | None = None, sim_fail: Sequence[str] = (), sim_seed: int = 0,
                    sim_latency_s: float = 0.0) -> Iterator[LineBench]:
    """Open instruments, store and session for unattended testing; close everything on exit.

    `store` defaults to the station's `store_path`. With `backend = "virtual"`
    the simulated instruments start here; `sim_fail` (serials seeded to fail),
    `sim_seed` and `sim_latency_s` (extra seconds per meter query, to make a
    simulated cable take as long as a real one) apply to it only.
    """
    from bench.store import ResultStore

    config, recipe = load_station_and_recipe(station, recipe)
    operator = check_label("operator name", operator)
    lot = check_label("lot", lot)
    virtual = config.backend == "virtual"
    if not virtual and (sim_fail or sim_latency_s):
        raise ConfigError(config.source_path, "station.backend", "the simulation options (--sim-fail, "
                          "--sim-latency) only apply to a virtual station",
                          'remove them, or use a station with backend = "virtual"')
    store_path = Path(store if store is not None else config.store_path)
    store_path.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        virtual_bench, addresses = None, None
        if virtual:
            from sim_instruments.scpi_server import Latency
            from sim_instruments.virtual_bench import LatencyModel, VirtualBench

            latency = (LatencyModel(meter=Latency(query_round_trip_s=sim_latency_s), source=Latency(),
                                    switch=Latency()) if sim_latency_s else None)
            virtual_bench = stack.enter_context(VirtualBench(config, seed=sim_seed, latency=latency))
            addresses = virtual_bench.addresses
            fixture = VirtualFixture(virtual_bench, recipe, seed=sim_seed, fail_serials=sim_fail)
        opened = stack.enter_context(_open(config, addresses))
        result_store = stack.enter_context(ResultStore(store_path))
        session = TestSession(opened, recipe, result_store, operator=operator, lot=lot)
        bench = LineBench(config, recipe, opened, result_store, session, fixture or ManualFixture(),
                          certificate_dir=Path(certificate_dir) if certificate_dir is not None else None,
                          virtual_bench=virtual_bench, addresses=addresses)
        stack.callback(bench.close)
        yield bench


# --------------------------------------------------------------------------- `bench line`


def read_serials(serials: Sequence[str], serials_file: str | None, stdin: Any) -> list[str]:
    """Serials from the command line and/or a file ('-' is standard input), one per line; '#' comments."""
    found = list(serials)
    if serials_file:
        if serials_file == "-":
            text = stdin.read()
        else:
            try:
                text = Path(serials_file).read_text(encoding="utf-8")
            except OSError as error:
                raise BenchError(f"cannot read the serials file {serials_file} ({error.strerror}); "
                                 "check the path") from None
        found += [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not found:
        raise BenchError("no serial numbers given; list them after the options or give --serials-file FILE")
    return found


def run_line_command(args: Any, stdout: Any, stderr: Any, stdin: Any) -> int:
    """`bench line`: test the given serials unattended; no prompts. Returns the exit code."""
    import json

    report: dict[str, Any] = {"station": args.station, "recipe": args.recipe, "operator": args.operator,
                              "lot": args.lot, "store": None, "references": [], "cables": [],
                              "interrupted": False, "error": None}
    human = not args.json

    def say(text: str) -> None:
        if human:
            stdout.write(text + "\n")
            stdout.flush()

    code = EXIT_PASS
    try:
        serials = read_serials(args.serials, args.serials_file, stdin)
        with open_line_bench(args.station, args.recipe, operator=args.operator, lot=args.lot, store=args.store,
                             certificate_dir=args.certificates, sim_fail=args.sim_fail or (),
                             sim_seed=args.sim_seed, sim_latency_s=args.sim_latency) as bench:
            report["store"] = str(bench.store_path.resolve())
            report["recipe_name"] = bench.recipe.name
            report["station_name"] = bench.config.name
            for serial in serials:
                bench.check_serial(serial)  # refuse a bad list before measuring anything
            say(f"station {bench.config.name} ({bench.config.backend}), recipe {bench.recipe.name}, "
                f"{len(serials)} cable(s), results in {report['store']}")
            for number, serial in enumerate(serials, start=1):
                problem = bench.reference_problem()
                if problem:
                    if report["references"] and not bench.is_virtual:
                        raise ReferenceRequired(
                            f"{problem} after {number - 1} cable(s); connect the reference cords and run "
                            f"bench line again for the remaining {len(serials) - number + 1} serial(s)")
                    say(f"taking a reference ({problem})")
                    with DeferredInterrupt() as guard:
                        record = bench.take_reference(progress=guard.wrap())
                    report["references"].append({"reference_id": record.reference_id, "taken_utc": record.taken_utc,
                                                 "method": record.method, "before_cable": number})
                with DeferredInterrupt() as guard:
                    try:
                        result = bench.test(serial, progress=guard.wrap())
                    except KeyboardInterrupt:
                        report["interrupted"] = True
                        report["cables"].append({"serial": serial, "outcome": "ABORTED",
                                                 "reason": "interrupted (Ctrl-C); the run stopped"})
                        bench.safe_state()
                        if guard.forced:
                            bench.reconnect()
                        say(f"{number:>4}  {serial:<24} ABORTED  (interrupted; the run stops here)")
                        break
                report["cables"].append(result.as_dict())
                failing = ", ".join(map(str, result.failing_fibers)) or "-"
                say(f"{number:>4}  {serial:<24} {result.verdict:<11} failing fibers: {failing}"
                    + (f"  certificate: {result.certificate}" if result.certificate else ""))
                if guard.requested:
                    report["interrupted"] = True
                    break
        code = exit_code_for(c["outcome"] for c in report["cables"])
        if report["interrupted"]:
            code = EXIT_INTERRUPTED
    except BenchError as error:
        report["error"] = str(error)
        print(f"error: {error}", file=stderr)
        code = EXIT_ERROR
    except KeyboardInterrupt:
        report["interrupted"] = True
        print("interrupted", file=stderr)
        code = EXIT_INTERRUPTED
    counts: dict[str, int] = {}
    for cable in report["cables"]:
        counts[cable["outcome"]] = counts.get(cable["outcome"], 0) + 1
    report["summary"] = {"tested": len(report["cables"]), **counts}
    report["exit_code"] = code
    if args.json:
        stdout.write(json.dumps(report, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    elif report["cables"]:
        say(f"{len(report['cables'])} tested: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            + f"; exit code {code}")
    stdout.flush()
    return code
