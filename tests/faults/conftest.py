"""A production line on the virtual bench for fault injection: short timeouts, one store per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from bench.config.recipe import Recipe, load_recipe
from bench.config.station import StationConfig, parse_station
from bench.config.tomlio import read_toml
from bench.run.session import CableOutcome, TestSession
from bench.run.station import Station, open_station
from bench.sim_launch import example_path
from bench.store import ResultStore, load_results, verify_store
from sim_instruments.physics import SimulatedCable, make_cable
from sim_instruments.virtual_bench import VirtualBench

SEED = 9090
TIMEOUT_S = 0.3  # per instrument: a persistent timeout costs (1 + recoveries) of these
SETTLE_TIMEOUT_S = 0.25


def fault_station_config(*, timeout_s: float = TIMEOUT_S, settle_timeout_s: float = SETTLE_TIMEOUT_S,
                         store_path: str = "results/bench.h5") -> StationConfig:
    """The demo station (8164B, N7734A, 2 × N7745A, 12 fibers) with short timeouts."""
    data = read_toml(example_path("station_demo.toml"))
    for entry in data["instruments"]:
        entry["timeout_s"] = timeout_s
    data["timing"]["settle_timeout_s"] = settle_timeout_s
    data["station"]["store_path"] = store_path
    # The soak runs 2,000 cables through one pair of cords to find leaks, not worn cords.
    data["reference"]["cord_warning_matings"], data["reference"]["cord_retire_matings"] = 10**6, 10**6 + 1
    return parse_station(data, "<faults>")


def demo_recipe(config: StationConfig) -> Recipe:
    return load_recipe(example_path("recipe_demo.toml"), station_wavelengths_nm=config.wavelengths_nm,
                       station_fiber_capacity=config.fiber_capacity)


@dataclass
class Line:
    """A session on the virtual bench that remembers every outcome it returned, to check the store later."""

    bench: VirtualBench
    station: Station
    store: ResultStore
    session: TestSession
    path: Path
    returned: list[CableOutcome] = field(default_factory=list)
    cables: dict[str, SimulatedCable] = field(default_factory=dict)
    next_number: int = 1

    def reference(self) -> object:
        self.bench.load_dut(None)
        return self.session.take_reference()

    def test(self, cable: SimulatedCable | None = None) -> CableOutcome:
        if cable is None:
            cable = make_cable(f"MTP12-{self.next_number:06d}", seed=SEED)
            self.next_number += 1
        self.cables[cable.serial] = cable
        self.bench.load_dut(cable)
        outcome = self.session.test_cable(cable.serial)
        self.returned.append(outcome)
        return outcome

    def assert_true_il(self, outcome: CableOutcome, atol_db: float = 0.05) -> None:
        assert outcome.measurement is not None
        cable = self.cables[outcome.record.serial]
        truth = np.array([cable.insertion_loss_db[w] for w in outcome.measurement.wavelengths_nm])
        np.testing.assert_allclose(outcome.measurement.insertion_loss_db, truth, atol=atol_db)

    def assert_store_intact(self) -> None:
        """Every record returned so far is in the store, unchanged, and every hash verifies."""
        report = verify_store(self.path)
        assert report.ok, report.as_dict()
        results = load_results(self.path)
        assert len(results) == len(self.returned)
        for outcome in self.returned:
            stored = results.cable_record(outcome.record_index)
            assert stored.serial == outcome.record.serial
            assert stored.outcome == outcome.record.outcome
            assert stored.reason == outcome.record.reason
            assert stored.attempt == outcome.record.attempt
            np.testing.assert_allclose([f.insertion_loss_db for f in stored.fibers],
                                       [f.insertion_loss_db for f in outcome.record.fibers], atol=1e-5)


@pytest.fixture(scope="module")
def fault_config() -> StationConfig:
    return fault_station_config()


@pytest.fixture(scope="module")
def fault_bench(fault_config: StationConfig) -> Iterator[VirtualBench]:
    with VirtualBench(fault_config, seed=SEED) as bench:
        yield bench


@pytest.fixture(scope="module")
def fault_station(fault_config: StationConfig, fault_bench: VirtualBench) -> Iterator[Station]:
    with open_station(fault_config, addresses=fault_bench.addresses) as station:
        yield station


def make_line(bench: VirtualBench, station: Station, path: Path) -> Line:
    store = ResultStore(path, fsync=False)
    session = TestSession(station, demo_recipe(station.config), store, operator="faults", lot="FAULTS")
    return Line(bench, station, store, session, path)


@pytest.fixture
def line(fault_bench: VirtualBench, fault_station: Station, tmp_path: Path) -> Iterator[Line]:
    fault_bench.clear_faults()
    fault_bench.load_dut(None)
    made = make_line(fault_bench, fault_station, tmp_path / "faults.h5")
    try:
        yield made
    finally:
        fault_bench.clear_faults()
        made.store.close()
