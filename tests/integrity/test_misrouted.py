"""A fiber whose light arrives at another end-B position is recorded as misrouted, with where the
light went, on the virtual bench; a fiber with no light anywhere stays an open fiber."""

from __future__ import annotations

import pytest

from bench.config.recipe import load_recipe
from bench.config.station import load_station
from bench.records import CauseCode
from bench.run.session import TestSession
from bench.run.station import open_station
from bench.sim_launch import example_path
from bench.store import ResultStore, load_results
from sim_instruments.physics import make_cable, with_crossed_fibers, with_dark_fibers
from sim_instruments.virtual_bench import VirtualBench


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    station = load_station(example_path("station_demo.toml"))
    recipe = load_recipe(example_path("recipe_demo.toml"), station_wavelengths_nm=station.wavelengths_nm,
                         station_fiber_capacity=station.fiber_capacity)
    store_path = tmp_path_factory.mktemp("misrouted") / "m.h5"
    with VirtualBench(station, seed=3) as bench, open_station(station, addresses=bench.addresses) as opened, \
            ResultStore(store_path) as store:
        session = TestSession(opened, recipe, store, operator="op", lot="MIS")
        bench.load_dut(None)
        session.take_reference()
        yield session, bench, recipe, store_path


def test_crossed_fibers_are_misrouted_with_where_their_light_went(session) -> None:
    test_session, bench, recipe, store_path = session
    cable = with_crossed_fibers(make_cable("MTP12-000001", seed=3, polarity=recipe.polarity), 3, 4)
    expected_b = {3: int(cable.wiring[3]), 4: int(cable.wiring[2])}  # where each should have gone (type B)
    bench.load_dut(cable)
    outcome = test_session.test_cable(cable.serial)
    record = load_results(store_path).cable_record(outcome.record_index)
    assert record.outcome == "FAIL"
    misrouted = [c for c in record.causes if c.code == CauseCode.FIBER_MISROUTED]
    assert len(misrouted) == 2 * len(recipe.wavelengths_nm)
    for fiber in (3, 4):
        went = int(cable.wiring[fiber - 1])
        assert any(f"fiber {fiber} at" in c.detail and f"end-B position {went} instead of {expected_b[fiber]}"
                   in c.detail for c in misrouted)
    assert "open fiber" not in record.reason
    assert not any(c.code == CauseCode.NO_LIGHT for c in record.causes)
    reasons = {f.fiber_position: f.reason for f in record.fibers if f.verdict != "PASS"}
    assert set(reasons) == {3, 4} and all("misrouted" in r for r in reasons.values())


def test_a_dark_fiber_is_still_an_open_fiber(session) -> None:
    test_session, bench, recipe, store_path = session
    cable = with_dark_fibers(make_cable("MTP12-000002", seed=3, polarity=recipe.polarity), 6)
    bench.load_dut(cable)
    outcome = test_session.test_cable(cable.serial)
    record = load_results(store_path).cable_record(outcome.record_index)
    assert {c.code for c in record.causes} >= {CauseCode.NO_LIGHT}
    assert not any(c.code == CauseCode.FIBER_MISROUTED for c in record.causes)
    assert "fiber 6 at 1310 nm: no light (open fiber)" in record.reason
