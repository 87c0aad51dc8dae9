"""Shared fixtures: the virtual bench (seeded, loopback only) and a station opened on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.config.recipe import Recipe, load_recipe
from bench.config.station import StationConfig, load_station
from bench.run.station import Station, open_station
from bench.sim_launch import example_path
from sim_instruments.virtual_bench import VirtualBench

SEED = 1234


def pytest_addoption(parser: pytest.Parser) -> None:
    # Only here, at the tests' root, does pytest read options before collecting (tests/dashboard uses it).
    parser.addoption("--docs-img", metavar="DIR", default=None,
                     help="write the dashboard tests' screenshots into DIR (docs/img regenerates the "
                          "documentation's images) instead of a temporary directory")


@pytest.fixture
def demo_station_config() -> StationConfig:
    return load_station(example_path("station_demo.toml"))


@pytest.fixture
def demo_recipe(demo_station_config: StationConfig) -> Recipe:
    return load_recipe(example_path("recipe_demo.toml"),
                       station_wavelengths_nm=demo_station_config.wavelengths_nm,
                       station_fiber_capacity=demo_station_config.fiber_capacity)


@pytest.fixture
def virtual_bench(demo_station_config: StationConfig) -> Iterator[VirtualBench]:
    with VirtualBench(demo_station_config, seed=SEED) as bench:
        yield bench


@pytest.fixture
def station(demo_station_config: StationConfig, virtual_bench: VirtualBench) -> Iterator[Station]:
    with open_station(demo_station_config, addresses=virtual_bench.addresses) as opened:
        yield opened


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "results.h5"
