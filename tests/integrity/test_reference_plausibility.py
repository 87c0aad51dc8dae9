"""Reference plausibility before any cable: a dirty cord at one position is refused with the position
named, the spread and the source-power window are checked, and over range is not called no light."""

from __future__ import annotations

import dataclasses

import pytest

from bench.config.station import load_station
from bench.sim_launch import SimOptions, example_path, open_virtual_line_bench
from bench.store import load_references
from procedures.reference import ReferenceProblem
from sim_instruments.faults import Fault

STATION = example_path("station_demo.toml")
RECIPE = example_path("recipe_demo.toml")


def _open(tmp_path, config=None):
    return open_virtual_line_bench(config or STATION, RECIPE, operator="op", lot="L", store=tmp_path / "r.h5",
                                   sim=SimOptions(seed=9))


@pytest.mark.parametrize("dirt_db", [0.08, 0.15])
def test_dirty_reference_cord_at_one_position_is_refused_naming_it(dirt_db, tmp_path) -> None:
    with _open(tmp_path) as bench:
        bench.take_reference()  # clean: the yardstick
        bench.fixture.virtual_bench.model.reference_connection_loss_db[7] = dirt_db
        with pytest.raises(ReferenceProblem, match="launch position 7") as refused:
            bench.take_reference()
        assert "clean or replace the reference cord at launch position 7" in str(refused.value)
        assert "implausible reference" in bench.reference_problem()  # no testing on the earlier one either
        bench.fixture.virtual_bench.model.reference_connection_loss_db.clear()
        bench.take_reference()  # cleaned: accepted
        assert bench.test("MTP12-000001").verdict == "PASS"
    assert len(load_references(tmp_path / "r.h5")) == 2  # the refused reference was not stored


def test_a_common_step_is_the_source_not_a_cord(tmp_path) -> None:
    with _open(tmp_path) as bench:
        bench.take_reference()
        bench.fixture.virtual_bench.set_source_drift(-0.4)  # the source changed between references
        bench.take_reference()
        assert bench.reference_problem() is None


def test_spread_across_positions_names_the_weakest(tmp_path) -> None:
    with _open(tmp_path) as bench:  # no earlier reference: the spread alone decides
        bench.fixture.virtual_bench.model.reference_connection_loss_db[4] = 2.5
        with pytest.raises(ReferenceProblem, match="position 4 is the weakest"):
            bench.take_reference()


def test_expected_source_power_and_cord_loss_window(tmp_path) -> None:
    config = load_station(STATION)
    config = dataclasses.replace(config, reference=dataclasses.replace(
        config.reference, expected_power_dbm={1310.0: -2.0, 1550.0: -2.5}, cord_loss_window_db=(0.0, 0.6)))
    with _open(tmp_path, config) as bench:
        bench.take_reference()  # the simulated launch path loses 0.1-0.3 dB: inside the window
        bench.fixture.virtual_bench.model.reference_connection_loss_db[9] = 0.8
        with pytest.raises(ReferenceProblem, match="launch position 9 read .* outside 0-0.6 dB"):
            bench.take_reference()


def test_over_range_during_the_reference_is_not_reported_as_no_light(tmp_path) -> None:
    with _open(tmp_path) as bench:
        bench.fixture.virtual_bench.inject("meter1", Fault("overrange", phase="reference", times=None, channel=1))
        with pytest.raises(ReferenceProblem, match="over range on launch position 1") as refused:
            bench.take_reference()
        assert "no light" not in str(refused.value)
