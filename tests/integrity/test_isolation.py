"""The isolation a fiber's light must keep from every other position comes from the recipe
(`[limits] min_isolation_db`, default 40 dB): a -25 dB leak into a neighbour fails at the default
with both positions named, and passes a recipe that asks for less."""

from __future__ import annotations

import tomllib

import pytest

from bench.config.recipe import parse_recipe
from bench.config.station import load_station
from bench.errors import ConfigError
from bench.records import CauseCode
from bench.run.session import TestSession
from bench.run.station import open_station
from bench.sim_launch import example_path
from bench.store import ResultStore, load_results
from sim_instruments.physics import make_cable, with_leak
from sim_instruments.virtual_bench import VirtualBench

RECIPE = example_path("recipe_demo.toml")


def _recipe(station, **limits):
    data = tomllib.loads(RECIPE.read_text(encoding="utf-8"))
    data["limits"].update(limits)
    return parse_recipe(data, str(RECIPE), station_wavelengths_nm=station.wavelengths_nm,
                        station_fiber_capacity=station.fiber_capacity)


@pytest.fixture(scope="module")
def line(tmp_path_factory):
    station = load_station(example_path("station_demo.toml"))
    store_path = tmp_path_factory.mktemp("isolation") / "i.h5"
    with VirtualBench(station, seed=5) as bench, open_station(station, addresses=bench.addresses) as opened, \
            ResultStore(store_path) as store:
        yield station, bench, opened, store, store_path


def _test_leaking_cable(line, recipe, serial):
    station, bench, opened, store, store_path = line
    session = TestSession(opened, recipe, store, operator="op", lot="ISO")
    bench.load_dut(None)
    session.take_reference()
    cable = make_cable(serial, seed=5, polarity=recipe.polarity)
    into = int(cable.wiring[10])  # fiber 11's end-B position, the neighbour's receiver
    bench.load_dut(with_leak(cable, 6, into, -25.0))
    outcome = session.test_cable(serial)
    return load_results(store_path).cable_record(outcome.record_index), into


def test_a_25_db_leak_fails_at_the_default_naming_both_positions(line) -> None:
    station = line[0]
    recipe = _recipe(station)
    assert recipe.limits.min_isolation_db == 40.0
    record, into = _test_leaking_cable(line, recipe, "MTP12-000101")
    assert record.outcome == "FAIL"
    leak = [c for c in record.causes if c.code == CauseCode.ROUTING_FAULT]
    assert len(leak) == 1 and f"leaking 6->{into} (25.0 dB below)" in leak[0].detail
    assert "40 dB minimum (limits.min_isolation_db)" in leak[0].detail
    polarity = record.extra["polarity"]
    assert polarity["isolation_threshold_db"] == 40.0
    assert [(a, b) for a, b, _ in polarity["leaks"]] == [(6, into)]
    assert polarity["low_isolation_positions"] == [6]
    assert record.recipe_snapshot["limits"]["min_isolation_db"] == 40.0


def test_the_same_leak_passes_a_recipe_asking_for_less_isolation(line) -> None:
    station = line[0]
    recipe = _recipe(station, min_isolation_db=20.0)
    record, _ = _test_leaking_cable(line, recipe, "MTP12-000102")
    assert record.outcome == "PASS", record.reason
    polarity = record.extra["polarity"]
    assert polarity["isolation_threshold_db"] == 20.0 and polarity["leaks"] == []
    assert 4.0 < polarity["isolation_margin_db"] < 6.0  # 25 dB of isolation against a 20 dB minimum


@pytest.mark.parametrize(("value", "problem"), [(5.0, "must be ≥ 10"), (90, "must be ≤ 80"),
                                                ("40", "write a number without quotes")])
def test_the_minimum_is_refused_outside_its_range_or_as_text(value, problem) -> None:
    station = load_station(example_path("station_demo.toml"))
    with pytest.raises(ConfigError, match="limits.min_isolation_db") as refused:
        _recipe(station, min_isolation_db=value)
    assert problem in str(refused.value)
