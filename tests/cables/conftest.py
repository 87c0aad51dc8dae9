"""Fixtures for the cable-catalogue tests: a 72-position virtual bench (nine N7745A), recipes, a store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.config.recipe import Recipe, parse_recipe
from bench.config.station import StationConfig, load_station
from bench.run.session import TestSession
from bench.run.station import Station, open_station
from bench.sim_launch import example_path
from bench.store import ResultStore
from sim_instruments.virtual_bench import VirtualBench

SEED = 2072


def trunk_recipe(fiber_count: int, polarity: str, *, fiber_type: str = "SM",
                 wavelengths_nm: tuple[float, ...] = (1310.0, 1550.0), capacity: int = 72,
                 **cable: Any) -> Recipe:
    """A trunk recipe as a product engineer would write it, checked against the station's capacity."""
    data = {"recipe": {"name": f"T{fiber_count}-{polarity}-{fiber_type}", "product": "multi-row trunk"},
            "cable": {"fiber_count": fiber_count, "polarity": polarity, "fiber_type": fiber_type,
                      "connector_a": "MTP-F", "connector_b": "MTP-F", "cable_type": "trunk",
                      "length_m": 10.0, "serial_pattern": "^T[0-9]+-.+$", **cable},
            "test": {"wavelengths_nm": list(wavelengths_nm)},
            "limits": {"max_il_db": 0.75},
            "decision_rule": {"kind": "simple", "coverage_factor": 2.0}}  # U: station_72's [uncertainty]
    station = load_station(example_path("station_72.toml"))
    return parse_recipe(data, "<cables>", station_wavelengths_nm=station.wavelengths_nm,
                        station_fiber_capacity=capacity)


@pytest.fixture(scope="session")
def station72_config() -> StationConfig:
    return load_station(example_path("station_72.toml"))


@pytest.fixture(scope="session")
def bench72(station72_config: StationConfig) -> Iterator[VirtualBench]:
    with VirtualBench(station72_config, seed=SEED) as bench:
        yield bench


@pytest.fixture(scope="session")
def station72(station72_config: StationConfig, bench72: VirtualBench) -> Iterator[Station]:
    with open_station(station72_config, addresses=bench72.addresses) as opened:
        yield opened


@pytest.fixture(scope="session")
def store72(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ResultStore]:
    path: Path = tmp_path_factory.mktemp("cables") / "cables.h5"
    with ResultStore(path, fsync=False) as store:
        yield store


@pytest.fixture
def bench72_clean(bench72: VirtualBench) -> Iterator[VirtualBench]:
    """The shared 72-position bench with nothing in the fixture, before and after each test."""
    bench72.load_dut(None)
    yield bench72
    bench72.load_dut(None)


def referenced_session(station: Station, recipe: Recipe, store: ResultStore, bench: VirtualBench,
                       lot: str = "CABLES") -> TestSession:
    """A session whose 1-cord reference was just taken (reference cords only in the fixture)."""
    session = TestSession(station, recipe, store, operator="cables", lot=lot)
    bench.load_dut(None)
    session.take_reference()
    return session


@pytest.fixture(scope="session")
def station_mm24_config() -> StationConfig:
    return load_station(example_path("station_mm24.toml"))


@pytest.fixture(scope="session")
def bench_mm24(station_mm24_config: StationConfig) -> Iterator[VirtualBench]:
    with VirtualBench(station_mm24_config, seed=SEED + 1) as bench:
        yield bench


@pytest.fixture(scope="session")
def station_mm24(station_mm24_config: StationConfig, bench_mm24: VirtualBench) -> Iterator[Station]:
    with open_station(station_mm24_config, addresses=bench_mm24.addresses) as opened:
        yield opened


@pytest.fixture
def bench_mm24_clean(bench_mm24: VirtualBench) -> Iterator[VirtualBench]:
    bench_mm24.load_dut(None)
    yield bench_mm24
    bench_mm24.load_dut(None)
