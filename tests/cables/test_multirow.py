"""48-, 60- and 72-fiber multi-row trunks of every polarity, end to end on the 72-position virtual bench.

Verdicts and polarity are held against the simulator's truth (its own wiring model, written
independently of procedures/polarity_maps.toml); wiring faults across rows are named.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.config.recipe import load_recipe
from bench.sim_launch import example_path
from bench.store import load_results
from sim_instruments.physics import make_cable, with_crossed_fibers, with_dark_fibers, with_rerouted_fiber

from .conftest import referenced_session, trunk_recipe

IL_TOLERANCE_DB = 0.025
POLARITIES = ("A", "B", "C", "B-row-keeping")


@pytest.mark.parametrize("polarity", POLARITIES)
@pytest.mark.parametrize("fiber_count", [48, 72])
def test_multirow_trunk_of_each_polarity_is_measured_and_classified(fiber_count, polarity, station72, store72,
                                                                    bench72_clean) -> None:
    recipe = trunk_recipe(fiber_count, polarity)
    session = referenced_session(station72, recipe, store72, bench72_clean)
    good = make_cable(f"T{fiber_count}-{polarity}-GOOD", fiber_count=fiber_count, polarity=polarity, seed=3)
    bad = make_cable(f"T{fiber_count}-{polarity}-BAD", fiber_count=fiber_count, polarity=polarity, seed=3,
                     fail=True)
    for cable in (good, bad):
        bench72_clean.load_dut(cable)
        outcome = session.test_cable(cable.serial)
        truth = np.array([cable.true_il_db(w) for w in recipe.wavelengths_nm])
        assert np.max(np.abs(outcome.measurement.insertion_loss_db - truth)) < IL_TOLERANCE_DB
        assert outcome.polarity.polarity_found == polarity and outcome.polarity.ok
        truly_failing = sorted(int(p) for p in cable.positions[(truth > recipe.max_il_db(1310.0)).any(axis=0)])
        assert outcome.failing_fibers == truly_failing
        assert outcome.outcome == ("FAIL" if cable.seeded_to_fail else "PASS"), outcome.record.reason
    stored = load_results(store72.path, serial=good.serial)
    assert len(stored.fibers) == fiber_count * 2
    assert sorted(set(stored.fibers["fiber_position"].tolist())) == list(range(1, fiber_count + 1))


def test_row_keeping_cable_under_a_row_reversing_recipe_is_named_not_just_failed(station72, store72,
                                                                                bench72_clean) -> None:
    recipe = trunk_recipe(48, "B")
    session = referenced_session(station72, recipe, store72, bench72_clean)
    bench72_clean.load_dut(make_cable("T48-RK-1", fiber_count=48, polarity="B-row-keeping", seed=4))
    outcome = session.test_cable("T48-RK-1")
    assert outcome.outcome == "FAIL" and outcome.polarity.polarity_found == "B-row-keeping"
    assert outcome.record.reason.startswith("polarity B-row-keeping found, recipe requires B")


@pytest.mark.parametrize("fiber_count", [48, 72])
def test_wiring_faults_across_rows_are_named(fiber_count, station72, store72, bench72_clean) -> None:
    recipe = trunk_recipe(fiber_count, "B")
    session = referenced_session(station72, recipe, store72, bench72_clean)
    base = make_cable(f"T{fiber_count}-FAULT", fiber_count=fiber_count, polarity="B", seed=6)
    last = fiber_count  # a fiber of the last row

    crossed = with_crossed_fibers(base, 12, 13)  # the two fibers either side of a row boundary
    bench72_clean.load_dut(crossed)
    outcome = session.test_cable(f"T{fiber_count}-X")
    assert outcome.outcome == "FAIL" and outcome.polarity.crossed_pairs == ((12, 13),)

    rerouted = with_rerouted_fiber(base, last, int(base.wiring[0]))  # lands where fiber 1 should
    bench72_clean.load_dut(rerouted)
    outcome = session.test_cable(f"T{fiber_count}-R")
    assert outcome.outcome == "FAIL" and outcome.polarity.misrouted == ((last, int(base.wiring[0])),)

    dark = with_dark_fibers(base, last - 1)
    bench72_clean.load_dut(dark)
    outcome = session.test_cable(f"T{fiber_count}-D")
    assert outcome.outcome == "FAIL" and outcome.polarity.dark_positions == (last - 1,)
    assert outcome.polarity.polarity_found == "B"


def test_example_recipes_load_on_the_72_station(station72_config) -> None:
    for name, count in (("recipe_trunk48_mtp_b.toml", 48), ("recipe_trunk72_mtp_a.toml", 72)):
        recipe = load_recipe(example_path(name), station_wavelengths_nm=station72_config.wavelengths_nm,
                             station_fiber_capacity=station72_config.fiber_capacity)
        assert recipe.fiber_count == count


def test_a_72_fiber_recipe_is_refused_on_the_32_station() -> None:
    from bench.config.station import load_station
    from bench.errors import ConfigError
    station = load_station(example_path("station_32.toml"))
    with pytest.raises(ConfigError, match="at most 32 fibers"):
        load_recipe(example_path("recipe_trunk72_mtp_a.toml"), station_wavelengths_nm=station.wavelengths_nm,
                    station_fiber_capacity=station.fiber_capacity)
