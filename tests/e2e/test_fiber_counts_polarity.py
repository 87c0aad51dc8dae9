"""Every fiber count and polarity type, and every wiring fault, end to end on the 32-position virtual bench."""

from __future__ import annotations

import numpy as np
import pytest

from bench.store import load_results
from sim_instruments.physics import (
    make_cable,
    with_crossed_fibers,
    with_dark_fibers,
    with_dirt,
    with_leak,
    with_rerouted_fiber,
)

from .conftest import MM, SM, make_recipe, new_session

IL_TOLERANCE_DB = 0.025

CASES = [(8, p) for p in "ABC"] + [(12, p) for p in "ABC"] + [(16, p) for p in "ABC"] + \
        [(24, p) for p in ("A", "B", "C", "B-row-keeping")] + [(32, p) for p in ("A", "B", "C", "B-row-keeping")]


@pytest.mark.parametrize(("fiber_count", "polarity"), CASES)
def test_each_fiber_count_and_polarity_passes_and_is_classified(fiber_count, polarity, station32, store32,
                                                                bench32_clean) -> None:
    fiber_type = "MM" if fiber_count in (16, 24) else "SM"
    recipe = make_recipe(fiber_count, polarity, fiber_type=fiber_type)
    session = new_session(station32, recipe, store32, bench32_clean)
    serial = f"E2E-{fiber_count}{polarity}-0001"
    cable = make_cable(serial, fiber_count=fiber_count, polarity=polarity, wavelengths_nm=recipe.wavelengths_nm,
                       seed=11)
    bench32_clean.load_dut(cable)
    meters = [bench32_clean.instruments[f"meter{number}"] for number in range(1, 5)]
    commands_before = [meter.commands_seen for meter in meters]
    outcome = session.test_cable(serial)

    assert outcome.outcome == "PASS", outcome.record.reason
    assert outcome.polarity is not None and outcome.polarity.polarity_found == polarity
    # Only the N7745A mainframes (8 positions each) that carry the cable's positions are read;
    # the others see the error-queue check after the cable and nothing else, and read NaN.
    carrying = (max(recipe.fiber_positions) - 1) // 8 + 1
    commands = [meter.commands_seen - before for meter, before in zip(meters, commands_before, strict=True)]
    assert all(count >= 4 * fiber_count for count in commands[:carrying]), commands
    assert all(count == 1 for count in commands[carrying:]), commands
    assert np.isnan(outcome.measurement.matrix.power_w[..., carrying * 8:]).all()
    assert outcome.polarity.isolation_margin_db > 20
    truth = np.array([cable.true_il_db(w) for w in recipe.wavelengths_nm])
    assert np.max(np.abs(outcome.measurement.insertion_loss_db - truth)) < IL_TOLERANCE_DB
    stored = load_results(store32.path, serial=serial)
    assert list(stored.cables["outcome"]) == ["PASS"] and list(stored.cables["polarity_found"]) == [polarity]
    assert len(stored.fibers) == fiber_count * 2
    assert sorted(set(stored.fibers["fiber_position"].tolist())) == list(recipe.fiber_positions)
    assert stored.wavelengths_nm(int(stored.cables["record_index"][0])) == list(SM if fiber_type == "SM" else MM)


def _faulty(kind: str, cable):  # noqa: ANN001, ANN202
    if kind == "crossed":
        return with_crossed_fibers(cable, 3, 4)
    if kind == "rerouted":
        return with_rerouted_fiber(cable, 7, int(cable.wiring[8]))  # lands where fiber 9 should
    if kind == "dark":
        return with_dark_fibers(cable, 5)
    if kind == "leaking":
        return with_leak(cable, 6, int(cable.wiring[10]), -12.0)  # into fiber 11's receive position
    if kind == "dirty":
        return with_dirt(cable, [2], extra_db=0.9, sigma_db=0.05)
    raise AssertionError(kind)


@pytest.mark.parametrize("fiber_count", [12, 24])
@pytest.mark.parametrize("fault", ["crossed", "rerouted", "dark", "leaking", "dirty"])
def test_wiring_faults_are_named_and_fail(fault, fiber_count, station32, store32, bench32_clean) -> None:
    recipe = make_recipe(fiber_count, "B")
    session = new_session(station32, recipe, store32, bench32_clean)
    serial = f"E2E-FAULT-{fault}-{fiber_count}"
    cable = _faulty(fault, make_cable(serial, fiber_count=fiber_count, polarity="B", seed=5))
    bench32_clean.load_dut(cable)
    outcome = session.test_cable(serial)
    polarity = outcome.polarity
    assert outcome.outcome == "FAIL"
    assert polarity is not None
    if fault == "crossed":
        assert polarity.polarity_found == "miswired" and polarity.crossed_pairs == ((3, 4),)
        assert polarity.misrouted == () and polarity.dark_positions == ()
    elif fault == "rerouted":
        assert polarity.polarity_found == "miswired"
        assert polarity.misrouted == ((7, int(cable.wiring[8])),) and polarity.crossed_pairs == ()
    elif fault == "dark":
        assert polarity.polarity_found == "B" and polarity.dark_positions == (5,)
        assert "no light" in outcome.record.reason
    elif fault == "leaking":
        assert polarity.polarity_found == "B" and not polarity.ok
        assert [(a, b) for a, b, _ in polarity.leaks] == [(6, int(cable.wiring[10]))]
        assert abs(polarity.leaks[0][2] - 12.0) < 0.5 and polarity.isolation_margin_db < 0
        assert "leaking 6->" in outcome.record.reason
    else:  # dirty: wiring fine, loss too high on fiber 2 only
        assert polarity.ok and polarity.polarity_found == "B"
        assert outcome.failing_fibers == [2]
    stored = load_results(store32.path, serial=serial)
    assert list(stored.cables["outcome"]) == ["FAIL"]
    extra = stored.extra(int(stored.cables["record_index"][0]))
    assert extra["polarity"]["crossed_pairs"] == [list(p) for p in polarity.crossed_pairs]
    assert extra["polarity"]["dark_positions"] == list(polarity.dark_positions)


def test_wrong_polarity_type_is_classified_not_just_failed(station32, store32, bench32_clean) -> None:
    recipe = make_recipe(12, "B")
    session = new_session(station32, recipe, store32, bench32_clean)
    bench32_clean.load_dut(make_cable("E2E-TYPEC-1", fiber_count=12, polarity="C", seed=2))
    outcome = session.test_cable("E2E-TYPEC-1")
    assert outcome.outcome == "FAIL" and outcome.polarity.polarity_found == "C"
    assert outcome.record.reason.startswith("polarity C found, recipe requires B")


def test_fanout_leg_map_and_swapped_legs(station32, store32, bench32_clean) -> None:
    legs = {"L1": 1, "L2": 2, "L3": 3, "L4": 4, "L5": 9, "L6": 10, "L7": 11, "L8": 12}
    recipe = make_recipe(8, "A", cable_type="fanout", leg_map=legs, max_il_db=1.0)
    session = new_session(station32, recipe, store32, bench32_clean)
    good = make_cable("E2E-FO8-1", fiber_count=8, polarity="A", seed=8)
    bench32_clean.load_dut(good)
    assert session.test_cable("E2E-FO8-1").outcome == "PASS"
    swapped = with_crossed_fibers(make_cable("E2E-FO8-2", fiber_count=8, polarity="A", seed=9), 10, 11)
    bench32_clean.load_dut(swapped)
    outcome = session.test_cable("E2E-FO8-2")
    assert outcome.outcome == "FAIL" and outcome.polarity.crossed_pairs == ((10, 11),)
