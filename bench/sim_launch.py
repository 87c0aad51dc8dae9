"""The virtual station and `bench demo`: the one production module that imports `sim_instruments`.

* `open_virtual_line_bench` starts the simulated instruments in-process (SCPI on 127.0.0.1)
  and returns the production `LineBench`, with a `VirtualFixture` that connects a simulated
  cable built from each serial; `open_bench` picks it or the real `open_line_bench` from the
  station's backend, for `bench line` and `bench run`.
* `run_demo` tests a whole simulated lot end to end: it plays the operator (swapping cables
  through the simulator's hook) and runs the same `TestSession` a line uses.

Keeping every use of the simulator here means the rooms below never depend on it, and an
import-linter contract (pyproject.toml) holds that.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from bench.clock import utc_now
from bench.config.cable_fit import check_recipe_on_station
from bench.config.recipe import Recipe, load_recipe
from bench.config.station import GoldenCableSettings, StationConfig, load_station
from bench.errors import ConfigError
from bench.operator.fixture import Fixture
from bench.operator.line import LineBench, check_labels, load_station_and_recipe, open_line_bench
from bench.records import Outcome
from bench.run.session import CableOutcome, TestSession
from bench.run.station import Station, open_station
from bench.store import ResultStore
from sim_instruments.faults import Fault
from sim_instruments.physics import (
    SimulatedCable,
    make_cable,
    make_golden_cable,
    make_lot,
    with_crossed_fibers,
    with_dark_fibers,
)
from sim_instruments.scpi_server import Latency
from sim_instruments.virtual_bench import LatencyModel, VirtualBench

DEFAULT_FAILING = (3, 11, 17)  # 0-based indices of the cables seeded to fail


def example_path(name: str) -> Path:
    return Path(str(resources.files("bench").joinpath("examples", name)))


# -- the virtual station ----------------------------------------------------------------------


class VirtualFixture:
    """The virtual bench's fixture: connects a simulated cable built from the serial.

    Each serial always gives the same simulated cable for a given seed. Serials
    in `fail_serials` are built with one or two fibers at 1.1-1.8 dB (far above
    any realistic limit), so demos and tests decide which cables fail. It empties
    itself for a reference, so a run may re-reference without a person. The station's golden
    cable's serial gives the simulated golden cable (low, stable IL).
    """

    unattended_reference = True

    def __init__(self, virtual_bench: VirtualBench, recipe: Recipe, *, seed: int = 0,
                 fail_serials: Iterable[str] = (), laser_off_serials: Iterable[str] = (),
                 source_name: str = "source", golden: GoldenCableSettings | None = None) -> None:
        self.virtual_bench = virtual_bench
        self.recipe = recipe
        self.seed = seed
        self.fail_serials = set(fail_serials)
        self.laser_off_serials = set(laser_off_serials)
        self.source_name = source_name
        self.golden = golden
        self.connected: str | None = None

    def connect(self, serial: str) -> None:
        if serial in self.laser_off_serials:  # as an interlock would, at this cable's wavelength change
            self.virtual_bench.inject(self.source_name, Fault("laser_off", phase="configure"))
        if self.golden is not None and serial == self.golden.serial:
            cable = make_golden_cable(serial, fiber_count=self.golden.fiber_count, polarity=self.golden.polarity,
                                      wavelengths_nm=self.recipe.wavelengths_nm, seed=self.seed)
        else:
            cable = make_cable(serial, fiber_count=self.recipe.fiber_count, polarity=self.recipe.polarity,
                               wavelengths_nm=self.recipe.wavelengths_nm, seed=self.seed,
                               fail=serial in self.fail_serials)
        self.virtual_bench.load_dut(cable)
        self.connected = serial

    def disconnect(self) -> None:
        self.virtual_bench.load_dut(None)
        if self.connected in self.laser_off_serials:
            self.virtual_bench.clear_faults(self.source_name)
        self.connected = None


def simulated_cable(serial: str, recipe: Recipe, *, seed: int = 0, fail: bool = False,
                    polarity: str | None = None, crossed: tuple[int, int] | None = None,
                    dark: tuple[int, ...] = ()) -> SimulatedCable:
    """A simulated cable of the recipe's product (for `bench.testing`): good, or `fail` (one or two
    fibers at 1.1-1.8 dB), built with another `polarity`, with two fibers `crossed` or `dark` (broken) ones."""
    cable = make_cable(serial, fiber_count=recipe.fiber_count, polarity=polarity or recipe.polarity,
                       wavelengths_nm=recipe.wavelengths_nm, seed=seed, fail=fail)
    if crossed:
        cable = with_crossed_fibers(cable, *crossed)
    return with_dark_fibers(cable, *dark) if dark else cable


def start_virtual_bench(config: StationConfig, *, seed: int = 0) -> VirtualBench:
    """The station's simulated instruments, started on 127.0.0.1 (stop it, or use it as a context manager)."""
    return VirtualBench(config, seed=seed).start()


@dataclass(frozen=True)
class SimOptions:
    """How the simulated station behaves: serials seeded to fail, seed, extra seconds per meter reading.

    `meter_latency_s` makes a simulated cable take as long as on a real bench.
    """

    fail_serials: tuple[str, ...] = ()
    seed: int = 0
    meter_latency_s: float = 0.0
    laser_off_serials: tuple[str, ...] = ()  # the source's laser goes off while these are measured (an ERROR)

    @classmethod
    def from_args(cls, args: Any) -> SimOptions:
        """From the CLI's --sim-fail / --sim-seed / --sim-latency / --sim-laser-off."""
        return cls(tuple(args.sim_fail or ()), args.sim_seed, args.sim_latency,
                   tuple(getattr(args, "sim_laser_off", None) or ()))

    @property
    def asks_for_simulation(self) -> bool:
        return bool(self.fail_serials or self.meter_latency_s or self.laser_off_serials)


@contextmanager
def open_virtual_line_bench(station: str | Path | StationConfig, recipe: str | Path | Recipe, *, operator: str,
                            lot: str, store: str | Path | None = None, certificate_dir: str | Path | None = None,
                            sim: SimOptions = SimOptions(), serials: Iterable[str] = (),
                            accept_golden_baseline: bool = False) -> Iterator[LineBench]:
    """The production `LineBench` on a virtual station: simulated instruments started here, stopped on exit."""
    config, recipe = load_station_and_recipe(station, recipe)
    check_labels(recipe, operator, lot, serials)  # before the simulator starts, as before a real instrument opens
    if config.backend != "virtual":
        raise ConfigError(config.source_path, "station.backend", f"the station's backend is {config.backend!r}",
                          'use a station with backend = "virtual" for the simulated bench')
    latency = (LatencyModel(meter=Latency(query_round_trip_s=sim.meter_latency_s), source=Latency(),
                            switch=Latency()) if sim.meter_latency_s else None)
    with ExitStack() as stack:
        virtual_bench = stack.enter_context(VirtualBench(config, seed=sim.seed, latency=latency))
        fixture = VirtualFixture(virtual_bench, recipe, seed=sim.seed, fail_serials=sim.fail_serials,
                                 laser_off_serials=sim.laser_off_serials,
                                 source_name=config.instrument("source")[0].name, golden=config.reference.golden)
        yield stack.enter_context(open_line_bench(
            config, recipe, operator=operator, lot=lot, store=store, certificate_dir=certificate_dir,
            fixture=fixture, addresses=virtual_bench.addresses, serials=serials,
            accept_golden_baseline=accept_golden_baseline))


@contextmanager
def open_virtual_station(station: str | Path | StationConfig, *, seed: int = 0) -> Iterator[Station]:
    """A virtual station's `Station` (instruments only): the virtual bench started here on 127.0.0.1,
    stopped on exit. `bench.run.open_station` refuses a virtual station without it."""
    config = station if isinstance(station, StationConfig) else load_station(station)
    if config.backend != "virtual":
        raise ConfigError(config.source_path, "station.backend", f"the station's backend is {config.backend!r}",
                          "use bench.run.open_station for a real station")
    with VirtualBench(config, seed=seed) as virtual_bench, open_station(config, addresses=virtual_bench.addresses
                                                                          ) as opened:
        yield opened


@contextmanager
def open_bench(station: str | Path | StationConfig, recipe: str | Path | Recipe, *, operator: str, lot: str,
               store: str | Path | None = None, certificate_dir: str | Path | None = None,
               fixture: Fixture | None = None, sim: SimOptions = SimOptions(),
               serials: Iterable[str] = (), accept_golden_baseline: bool = False) -> Iterator[LineBench]:
    """`open_virtual_line_bench` for a virtual station, else `open_line_bench` (simulation options refused).

    `serials` (the ones about to be tested) are checked against the recipe before anything is opened."""
    config, recipe = load_station_and_recipe(station, recipe)
    if config.backend == "virtual":
        with open_virtual_line_bench(config, recipe, operator=operator, lot=lot, store=store,
                                     certificate_dir=certificate_dir, sim=sim, serials=serials,
                                     accept_golden_baseline=accept_golden_baseline) as bench:
            yield bench
        return
    if sim.asks_for_simulation:
        raise ConfigError(config.source_path, "station.backend", "the simulation options (--sim-fail, "
                          "--sim-latency) only apply to a virtual station",
                          'remove them, or use a station with backend = "virtual"')
    with open_line_bench(config, recipe, operator=operator, lot=lot, store=store, certificate_dir=certificate_dir,
                         fixture=fixture, serials=serials, accept_golden_baseline=accept_golden_baseline) as bench:
        yield bench


# -- bench demo ------------------------------------------------------------------------------


@dataclass
class DemoResult:
    store_path: Path
    outcomes: list[CableOutcome] = field(default_factory=list)
    seeded_to_fail: list[str] = field(default_factory=list)
    max_error_vs_truth_db: float = float("nan")
    reference_id: str = ""


def _default_store_path() -> Path:
    stamp = utc_now().strftime("%Y%m%dT%H%M%S%fZ")
    return Path("results") / f"demo-{stamp}.h5"


class ProgressLine:
    """One self-overwriting status line on a terminal; silent when not a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()

    def show(self, text: str) -> None:
        if self.live:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()

    def clear(self) -> None:
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()


def run_demo(*, cables: int = 20, seed: int = 2026, failing: tuple[int, ...] = DEFAULT_FAILING,
             station: StationConfig | None = None, recipe: Recipe | None = None,
             store_path: Path | None = None, stream: TextIO = sys.stdout, lot: str = "DEMO-LOT-1",
             operator: str = "demo", bench_seed: int | None = None) -> DemoResult:
    # `bench_seed` is the virtual bench's own (its cords, its instruments' noise); by default the
    # lot's seed. Several lots on one store with one bench_seed are one station with the same cords,
    # which is what its reference step check expects.
    station = station or load_station(example_path("station_demo.toml"))
    recipe = recipe or load_recipe(example_path("recipe_demo.toml"), station_wavelengths_nm=station.wavelengths_nm,
                                   station_fiber_capacity=station.fiber_capacity)
    check_recipe_on_station(recipe, station)
    store_path = Path(store_path or _default_store_path())
    store_path.parent.mkdir(parents=True, exist_ok=True)
    prefix = (recipe.serial_pattern or "^DEMO-").lstrip("^").split("[")[0]
    lot_cables = make_lot(cables, prefix=prefix, failing=failing, fiber_count=recipe.fiber_count,
                          polarity=recipe.polarity, wavelengths_nm=recipe.wavelengths_nm, seed=seed)
    result = DemoResult(store_path, seeded_to_fail=[c.serial for c in lot_cables if c.seeded_to_fail])
    progress_line = ProgressLine(stream)
    errors_db: list[float] = []
    with VirtualBench(station, seed=seed if bench_seed is None else bench_seed) as virtual_bench, \
            open_station(station, addresses=virtual_bench.addresses) as opened, \
            ResultStore(store_path) as store:
        session = TestSession(opened, recipe, store, operator=operator, lot=lot)
        virtual_bench.load_dut(None)
        stream.write(f"Referencing {station.fiber_capacity} launch positions at "
                     f"{', '.join(f'{w:g}' for w in recipe.wavelengths_nm)} nm ({station.reference.method})...\n")
        result.reference_id = session.take_reference().reference_id
        stream.write(f"Testing {cables} cables of {recipe.product}\n")
        stream.write(f"{'#':>3}  {'serial':<14} {'verdict':<11} {'max IL dB':>9}  failing fibers\n")
        for number, cable in enumerate(lot_cables, start=1):
            virtual_bench.load_dut(cable)

            def progress(wavelength_index: int, launch_index: int, n_wavelengths: int, n_launch: int,
                         number: int = number, serial: str = cable.serial) -> None:
                progress_line.show(f"cable {number}/{cables} {serial}  "
                                   f"{recipe.wavelengths_nm[wavelength_index]:g} nm  "
                                   f"fiber {launch_index + 1}/{n_launch}")

            outcome = session.test_cable(cable.serial, progress=progress)
            progress_line.clear()
            result.outcomes.append(outcome)
            max_il = max((f.insertion_loss_db for f in outcome.record.fibers), default=float("nan"))
            failing_text = ", ".join(map(str, outcome.failing_fibers)) or "-"
            stream.write(f"{number:>3}  {cable.serial:<14} {outcome.outcome:<11} {max_il:>9.3f}  {failing_text}\n")
            if outcome.measurement is not None:
                truth = np.array([cable.true_il_db(w) for w in recipe.wavelengths_nm])
                errors_db.append(float(np.nanmax(np.abs(outcome.measurement.insertion_loss_db - truth))))
        virtual_bench.load_dut(None)
    result.max_error_vs_truth_db = max(errors_db, default=float("nan"))
    passed = sum(outcome.outcome == Outcome.PASS for outcome in result.outcomes)
    stream.write(f"\n{passed}/{cables} PASS, {cables - passed} not PASS; seeded to fail: "
                 f"{', '.join(result.seeded_to_fail) or 'none'}\n")
    stream.write(f"largest |measured IL - simulator truth| over the lot: {result.max_error_vs_truth_db:.4f} dB\n")
    stream.write(f"results: {store_path.resolve()}\n")
    return result
