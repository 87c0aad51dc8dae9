"""Test-cord wear: each cable tested is one mating of each cord; the count is in every record and
on the certificate; a cord at its retirement count stops the bench, named, until replaced."""

from __future__ import annotations

import tomllib

import pytest

from bench.config.station import parse_station
from bench.errors import ConfigError
from bench.report.certificate import CertificateData
from bench.run.cord_wear import CordRetired
from bench.run.station import open_station
from bench.sim_launch import example_path
from bench.store import ResultStore, load_results
from sim_instruments.physics import make_cable
from sim_instruments.virtual_bench import VirtualBench

from .conftest import referenced_session, trunk_recipe


def _station(warning: int, retire: int, cords: list[str]) -> object:
    data = tomllib.loads(example_path("station_72.toml").read_text(encoding="utf-8"))
    data["reference"].update(cord_warning_matings=warning, cord_retire_matings=retire, cord_ids=cords)
    return parse_station(data, "wear.toml")


def test_a_cord_reaching_its_retirement_count_stops_the_bench_naming_it(tmp_path) -> None:
    config = _station(2, 3, ["LCORD-W-1", "RCORD-W-1"])
    recipe = trunk_recipe(12, "B")
    store_path = tmp_path / "wear.h5"
    with VirtualBench(config, seed=31) as bench, open_station(config, addresses=bench.addresses) as station:
        with ResultStore(store_path, fsync=False) as store:
            session = referenced_session(station, recipe, store, bench, lot="WEAR")
            outcomes = []
            for number in (1, 2, 3):
                serial = f"T12-WEAR-{number}"
                bench.load_dut(make_cable(serial, fiber_count=12, polarity="B", seed=number))
                outcomes.append(session.test_cable(serial))
            assert [o.record.extra["cord_matings"] for o in outcomes] == [
                {"LCORD-W-1": n, "RCORD-W-1": n} for n in (1, 2, 3)]
            assert outcomes[0].record.extra["cord_wear_warnings"] == []
            assert "LCORD-W-1 has 2 matings" in outcomes[1].record.extra["cord_wear_warnings"][0]
            bench.load_dut(make_cable("T12-WEAR-4", fiber_count=12, polarity="B", seed=4))
            with pytest.raises(CordRetired, match="LCORD-W-1, RCORD-W-1 reached its retirement count of 3"):
                session.test_cable("T12-WEAR-4")
            with pytest.raises(CordRetired):
                session.take_reference()
        assert len(load_results(store_path).cables) == 3  # the refused cable left no record
        # Counts survive the session: a new session on the same store is refused as well.
        with ResultStore(store_path, fsync=False) as store:
            with pytest.raises(CordRetired):
                referenced_session(station, recipe, store, bench, lot="WEAR")
    # Replaced cords (new ids, re-referenced) start from zero.
    replaced = _station(2, 3, ["LCORD-W-2", "RCORD-W-2"])
    with VirtualBench(replaced, seed=31) as bench, open_station(replaced, addresses=bench.addresses) as station, \
            ResultStore(store_path, fsync=False) as store:
        session = referenced_session(station, recipe, store, bench, lot="WEAR")
        bench.load_dut(make_cable("T12-WEAR-5", fiber_count=12, polarity="B", seed=5))
        outcome = session.test_cable("T12-WEAR-5")
    assert outcome.outcome == "PASS" and outcome.record.extra["cord_matings"] == {"LCORD-W-2": 1, "RCORD-W-2": 1}
    certificate = CertificateData.from_record(outcome.record)
    assert dict(certificate.cord_matings) == {"LCORD-W-2": 1, "RCORD-W-2": 1}


def test_wear_limits_are_checked() -> None:
    with pytest.raises(ConfigError) as refused:
        _station(1000, 1000, ["C1"])
    assert refused.value.field == "reference.cord_warning_matings"
    default = parse_station(tomllib.loads(example_path("station_demo.toml").read_text(encoding="utf-8")), "d.toml")
    assert default.reference.cord_retire_matings == 1000
