"""`bench demo`: a whole lot tested end to end on the virtual bench, no hardware.

This is the demo/sim launch the architecture allows to import `sim_instruments`:
it starts the virtual bench in-process, plays the operator (swapping cables
through the simulator's hook) and runs the same `TestSession` a line uses.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TextIO

import numpy as np

from bench.config.recipe import Recipe, load_recipe
from bench.config.station import StationConfig, load_station
from bench.run.session import CableOutcome, TestSession
from bench.run.station import open_station
from bench.store import ResultStore

DEFAULT_FAILING = (3, 11, 17)  # 0-based indices of the cables seeded to fail


def example_path(name: str) -> Path:
    return Path(str(resources.files("bench").joinpath("examples", name)))


@dataclass
class DemoResult:
    store_path: Path
    outcomes: list[CableOutcome] = field(default_factory=list)
    seeded_to_fail: list[str] = field(default_factory=list)
    max_error_vs_truth_db: float = float("nan")
    reference_id: str = ""


def _default_store_path() -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
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
             operator: str = "demo") -> DemoResult:
    from sim_instruments.physics import make_lot
    from sim_instruments.virtual_bench import VirtualBench

    station = station or load_station(example_path("station_demo.toml"))
    recipe = recipe or load_recipe(example_path("recipe_demo.toml"), station_wavelengths_nm=station.wavelengths_nm,
                                   station_fiber_capacity=station.fiber_capacity)
    store_path = Path(store_path or _default_store_path())
    store_path.parent.mkdir(parents=True, exist_ok=True)
    prefix = (recipe.serial_pattern or "^DEMO-").lstrip("^").split("[")[0]
    lot_cables = make_lot(cables, prefix=prefix, failing=failing, fiber_count=recipe.fiber_count,
                          polarity=recipe.polarity, wavelengths_nm=recipe.wavelengths_nm, seed=seed)
    result = DemoResult(store_path, seeded_to_fail=[c.serial for c in lot_cables if c.seeded_to_fail])
    progress_line = ProgressLine(stream)
    errors_db: list[float] = []
    with VirtualBench(station, seed=seed) as virtual_bench, \
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
    passed = sum(outcome.outcome == "PASS" for outcome in result.outcomes)
    stream.write(f"\n{passed}/{cables} PASS, {cables - passed} not PASS; seeded to fail: "
                 f"{', '.join(result.seeded_to_fail) or 'none'}\n")
    stream.write(f"largest |measured IL - simulator truth| over the lot: {result.max_error_vs_truth_db:.4f} dB\n")
    stream.write(f"results: {store_path.resolve()}\n")
    return result
