"""Fixtures for the procedure end-to-end tests: a 32-position virtual bench, recipes, a scripted operator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.config.recipe import Recipe, parse_recipe
from bench.config.station import StationConfig, load_station
from bench.run.golden import verify_golden
from bench.run.session import TestSession
from bench.run.station import Station, open_station
from bench.sim_launch import example_path
from bench.store import ResultStore
from procedures.operator import CLEAN, CONNECT, MATE_CYCLES, REMATE, Prompt
from sim_instruments.physics import SimulatedCable, make_golden_cable
from sim_instruments.virtual_bench import VirtualBench

SEED = 4321
SM, MM = (1310.0, 1550.0), (850.0, 1300.0)
GOLDEN = make_golden_cable("GOLD-0001", fiber_count=12, polarity="B", wavelengths_nm=(*MM, *SM))


def make_recipe(fiber_count: int, polarity: str, *, fiber_type: str = "SM", cable_type: str = "trunk",
                leg_map: dict[str, int] | None = None, max_il_db: float = 0.75, prefix: str = "E2E-",
                uncertainty_db: float | None = None) -> Recipe:
    """A recipe for station_32; its U comes from the station's [uncertainty] unless `uncertainty_db`
    is typed (then only on a station without budget data)."""
    wavelengths = SM if fiber_type == "SM" else MM
    cable: dict[str, Any] = {
        "fiber_count": fiber_count, "polarity": polarity, "fiber_type": fiber_type,
        "connector_a": "MTP-F" if cable_type == "trunk" else "MPO-M",
        "connector_b": "MTP-F" if cable_type == "trunk" else "LC-UPC",
        "cable_type": cable_type, "length_m": 5.0, "serial_pattern": f"^{prefix}.+$"}
    if leg_map is not None:
        cable["leg_map"] = leg_map
    data = {"recipe": {"name": f"E2E-{fiber_count}-{polarity}-{fiber_type}-{cable_type}", "product": "e2e"},
            "cable": cable, "test": {"wavelengths_nm": list(wavelengths)},
            "limits": {"max_il_db": max_il_db},
            "decision_rule": {"kind": "simple", "coverage_factor": 2.0,
                              **({} if uncertainty_db is None else {"uncertainty_db": uncertainty_db})}}
    return parse_recipe(data, "<e2e>", station_fiber_capacity=32)


class SimOperator:
    """Plays the technician on the virtual bench: connects, re-mates and cycles the cables it is told about."""

    def __init__(self, bench: VirtualBench, cables: dict[str, SimulatedCable] | None = None,
                 abort_at_cycle: int | None = None) -> None:
        self.bench = bench
        self.cables = dict(cables or {})
        self.prompts: list[Prompt] = []
        self.abort_at_cycle = abort_at_cycle
        self.cycles_done = 0

    def prompt(self, prompt: Prompt) -> None:
        self.prompts.append(prompt)
        cable = self.cables.get(prompt.serial)
        if prompt.action == CONNECT:
            self.bench.load_dut(cable)
        elif prompt.action == REMATE and cable is not None:
            cable.unmate()
            cable.mate()
        elif prompt.action == MATE_CYCLES and cable is not None:
            if self.abort_at_cycle is not None and self.cycles_done + prompt.count > self.abort_at_cycle:
                raise KeyboardInterrupt  # the operator stops the study half-way
            for _ in range(prompt.count):
                cable.unmate()
                cable.mate()
            self.cycles_done += prompt.count
        elif prompt.action == CLEAN and cable is not None:
            cable.clean()


@pytest.fixture(scope="session")
def station32_config() -> StationConfig:
    return load_station(example_path("station_32.toml"))


@pytest.fixture(scope="session")
def bench32(station32_config: StationConfig) -> Iterator[VirtualBench]:
    with VirtualBench(station32_config, seed=SEED) as bench:
        yield bench


@pytest.fixture(scope="session")
def station32(station32_config: StationConfig, bench32: VirtualBench) -> Iterator[Station]:
    with open_station(station32_config, addresses=bench32.addresses) as opened:
        yield opened


@pytest.fixture(scope="session")
def e2e_store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e") / "procedures.h5"


@pytest.fixture(scope="session")
def store32(e2e_store_path: Path) -> Iterator[ResultStore]:
    with ResultStore(e2e_store_path, fsync=False) as store:
        yield store


@pytest.fixture
def bench32_clean(bench32: VirtualBench) -> Iterator[VirtualBench]:
    """The shared virtual bench, reset to a clean state before and after each test."""
    def reset() -> None:
        bench32.load_dut(None)
        bench32.set_source_drift(0.0)
        bench32.model.reference_connection_loss_db.clear()
    reset()
    yield bench32
    reset()


def new_session(station: Station, recipe: Recipe, store: ResultStore, bench: VirtualBench,
                *, lot: str = "E2E-LOT", reference: bool = True) -> TestSession:
    session = TestSession(station, recipe, store, operator="e2e", lot=lot)
    if reference:
        reference_and_golden(session, bench)
    return session


def reference_and_golden(session: TestSession, bench: VirtualBench) -> None:
    """What the technician does at the start of a shift: reference, then the golden-cable check."""
    bench.load_dut(None)
    session.take_reference()
    verify_golden(session, SimOperator(bench, {GOLDEN.serial: GOLDEN}), accept_baseline=True)
    bench.load_dut(None)
