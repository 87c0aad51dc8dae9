"""pytest plugin: test your own recipes, stations and line scripts against the virtual bench.

Installed with mpo-bench (entry point `pytest11`: `mpo_bench = "bench.testing.plugin"`), so any
project whose tests run where mpo-bench is installed has these fixtures, with no conftest:

* `bench_station_config` - your station file (`--bench-station` or the ini key `bench_station`,
  relative to the rootdir; default: mpo-bench's demo station), validated; session scope.
* `bench_recipe` - your recipe (`--bench-recipe` / `bench_recipe`; default: the demo recipe),
  checked against the station; session scope.
* `virtual_bench` - the station's simulated instruments, serving SCPI on 127.0.0.1 (seed from
  `--bench-seed` / `bench_seed`, default 0); one per test.
* `simulated_cables` - builds cables of the recipe's product and puts them where the line's fixture
  will find them: `.good(serial)`, `.failing(serial)`, `.wrong_polarity(serial)`,
  `.crossed(serial, a, b)`, `.dark(serial, *positions)`. A serial never built is a good cable.
* `bench_store` - the path of a fresh results file in the test's temporary folder.
* `line_bench` - a `bench.operator.line.LineBench` opened on `virtual_bench` with the store at
  `bench_store`, reference taken: `line_bench.test(serial)` connects that serial's simulated cable,
  measures, grades and stores it, exactly as on the line.

Nothing of mpo-bench beyond this module (and pytest) is imported until a fixture is used, so the
plugin costs a project that does not use it nothing. docs/testing-your-own.md has an example.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from bench.config.recipe import Recipe
    from bench.config.station import StationConfig
    from bench.operator.line import LineBench


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mpo-bench", "mpo-bench virtual bench")
    for name, help_text in (("station", "station file (TOML) the virtual bench is built from"),
                            ("recipe", "recipe file (TOML) the simulated cables are graded against"),
                            ("seed", "simulator seed (same seed, same simulated readings)")):
        group.addoption(f"--bench-{name}", dest=f"bench_{name}", default=None, help=help_text)
        parser.addini(f"bench_{name}", f"{help_text} (relative to the rootdir)", default="")


def _setting(config: pytest.Config, name: str) -> str:
    value = config.getoption(f"bench_{name}") or config.getini(f"bench_{name}")
    return str(value or "")


def _file(config: pytest.Config, name: str, default: str) -> Path:
    from bench.sim_launch import example_path

    given = _setting(config, name)
    if not given:
        return example_path(default)
    path = Path(given)
    return path if path.is_absolute() else Path(str(config.rootpath)) / path


@pytest.fixture(scope="session")
def bench_station_config(pytestconfig: pytest.Config) -> StationConfig:
    """Your station file, validated (a wrong field fails the test with the file, the field and the fix)."""
    from bench.config.station import load_station

    config = load_station(_file(pytestconfig, "station", "station_demo.toml"))
    if config.backend != "virtual":
        pytest.fail(f"{config.source_path}: the plugin simulates a station with backend = \"virtual\"; this one is "
                    f"{config.backend!r}. Give the plugin a copy with backend = \"virtual\" (--bench-station)",
                    pytrace=False)
    return config


@pytest.fixture(scope="session")
def bench_recipe(pytestconfig: pytest.Config, bench_station_config: StationConfig) -> Recipe:
    """Your recipe, checked against the station (wavelengths, fiber capacity)."""
    from bench.operator.line import load_station_and_recipe

    return load_station_and_recipe(bench_station_config, _file(pytestconfig, "recipe", "recipe_demo.toml"))[1]


@pytest.fixture
def virtual_bench(pytestconfig: pytest.Config, bench_station_config: StationConfig) -> Iterator[Any]:
    """The station's simulated instruments on 127.0.0.1 (a `sim_instruments.virtual_bench.VirtualBench`)."""
    from bench.sim_launch import start_virtual_bench

    bench = start_virtual_bench(bench_station_config, seed=int(_setting(pytestconfig, "seed") or 0))
    try:
        yield bench
    finally:
        bench.stop()


class SimulatedCables:
    """Simulated cables by serial, built for the recipe's product; the line's fixture loads them."""

    def __init__(self, recipe: Recipe, seed: int) -> None:
        self.recipe = recipe
        self.seed = seed
        self.by_serial: dict[str, Any] = {}

    def _add(self, serial: str, **kind: Any) -> Any:
        from bench.sim_launch import simulated_cable

        cable = simulated_cable(serial, self.recipe, seed=self.seed, **kind)
        self.by_serial[serial] = cable
        return cable

    def good(self, serial: str) -> Any:
        """Every fiber well within a 0.75 dB limit."""
        return self._add(serial)

    def failing(self, serial: str) -> Any:
        """One or two fibers at 1.1-1.8 dB."""
        return self._add(serial, fail=True)

    def wrong_polarity(self, serial: str, polarity: str | None = None) -> Any:
        """Built with another polarity (default: A for a B recipe, B otherwise)."""
        other = polarity or ("A" if self.recipe.polarity != "A" else "B")
        return self._add(serial, polarity=other)

    def crossed(self, serial: str, position_a: int, position_b: int) -> Any:
        """Two fibers swapped between end A and end B."""
        return self._add(serial, crossed=(position_a, position_b))

    def dark(self, serial: str, *positions: int) -> Any:
        """Broken fibers: no light arrives."""
        return self._add(serial, dark=tuple(positions))

    def cable_for(self, serial: str) -> Any:
        return self.by_serial.get(serial) or self.good(serial)


class _SimulatedFixture:
    """The line's fixture on the virtual bench: connecting a serial loads its simulated cable."""

    unattended_reference = True

    def __init__(self, bench: Any, cables: SimulatedCables) -> None:
        self.bench = bench
        self.cables = cables

    def connect(self, serial: str) -> None:
        self.bench.load_dut(self.cables.cable_for(serial))

    def disconnect(self) -> None:
        self.bench.load_dut(None)


@pytest.fixture
def simulated_cables(pytestconfig: pytest.Config, bench_recipe: Recipe) -> SimulatedCables:
    """Build good and faulty cables by serial before testing them with `line_bench`."""
    return SimulatedCables(bench_recipe, int(_setting(pytestconfig, "seed") or 0))


@pytest.fixture
def bench_store(tmp_path: Path) -> Path:
    """A fresh results file's path (created by the first write); read it with `bench.store.load_results`."""
    return tmp_path / "bench-results.h5"


@pytest.fixture
def line_bench(bench_station_config: StationConfig, bench_recipe: Recipe, virtual_bench: Any,
               simulated_cables: SimulatedCables, bench_store: Path) -> Iterator[LineBench]:
    """A LineBench on the virtual bench, store at `bench_store`, reference taken (operator 'ci', lot 'CI')."""
    from bench.operator.line import open_line_bench

    with open_line_bench(bench_station_config, bench_recipe, operator="ci", lot="CI", store=bench_store,
                         fixture=_SimulatedFixture(virtual_bench, simulated_cables),
                         addresses=virtual_bench.addresses) as bench:
        bench.take_reference()
        yield bench
