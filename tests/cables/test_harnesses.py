"""Harnesses end to end on the harness station: 1 x MPO-24 -> 2 x MPO-12, 2 x MPO-12 -> 3 x MPO-8
(Base-12 to Base-8) and MPO-24 -> 12 x LC duplex, each good, with a seeded loss failure and with
wiring faults; per-leg verdicts held against the simulator's truth.

The simulated harness is built from the drawings written out below (not from the recipes' maps)
and from the ports the session's connection plan told the operator to use.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from bench.config.recipe import Recipe, load_recipe
from bench.config.station import StationConfig, load_station
from bench.errors import ConfigError
from bench.report.certificate import CertificateData
from bench.run.session import TestSession
from bench.run.station import Station, open_station
from bench.sim_launch import example_path
from bench.store import ResultStore, load_results
from sim_instruments.physics import SimulatedCable, make_harness, with_crossed_fibers, with_dark_fibers
from sim_instruments.virtual_bench import VirtualBench

from .conftest import referenced_session

IL_TOLERANCE_DB = 0.025


# The drawings: end-A (connector, position) -> end-B (connector, position), written leg by leg.
def _drawing_24_to_2x12() -> dict[tuple[str, int], tuple[str, int]]:
    return {("P1", p): ("L1", p) if p <= 12 else ("L2", p - 12) for p in range(1, 25)}


def _drawing_2x12_to_3x8() -> dict[tuple[str, int], tuple[str, int]]:
    legs = {"B1": [("P1", p) for p in (1, 2, 3, 4, 9, 10, 11, 12)],
            "B2": [("P1", p) for p in (5, 6, 7, 8)] + [("P2", p) for p in (5, 6, 7, 8)],
            "B3": [("P2", p) for p in (1, 2, 3, 4, 9, 10, 11, 12)]}
    mpo8 = (1, 2, 3, 4, 9, 10, 11, 12)
    return {source: (leg, mpo8[i]) for leg, sources in legs.items() for i, source in enumerate(sources)}


def _drawing_24_to_12lc() -> dict[tuple[str, int], tuple[str, int]]:
    return {("P1", p): (f"D{(p + 1) // 2}", 2 - p % 2) for p in range(1, 25)}


HARNESSES = {
    "recipe_harness_mpo24_2x12.toml": (_drawing_24_to_2x12, (1310.0, 1550.0), "H2412-"),
    "recipe_harness_2x12_3x8.toml": (_drawing_2x12_to_3x8, (850.0, 1300.0), "H1208-"),
    "recipe_harness_mpo24_12lc.toml": (_drawing_24_to_12lc, (1310.0, 1550.0), "H24LC-"),
}


@pytest.fixture(scope="module")
def harness_config() -> StationConfig:
    return load_station(example_path("station_harness72.toml"))


@pytest.fixture(scope="module")
def harness_bench(harness_config: StationConfig) -> Iterator[VirtualBench]:
    with VirtualBench(harness_config, seed=724) as bench:
        yield bench


@pytest.fixture(scope="module")
def harness_station(harness_config: StationConfig, harness_bench: VirtualBench) -> Iterator[Station]:
    with open_station(harness_config, addresses=harness_bench.addresses) as opened:
        yield opened


def _recipe(name: str, config: StationConfig) -> Recipe:
    return load_recipe(example_path(name), station_wavelengths_nm=config.wavelengths_nm,
                       station_fiber_capacity=config.fiber_capacity)


def _plugged(session: TestSession, name: str, serial: str, *, fail: bool = False, seed: int = 0,
             ports: dict[str, str] | None = None) -> SimulatedCable:
    """The harness as the operator plugs it in: every connector into the port the plan names
    (or into `ports[label]` when the operator gets it wrong)."""
    drawing, wavelengths, _ = HARNESSES[name]
    port_first = {connector.label: port.first for connector, port in session.harness_plan.binding}
    by_label = {port.label: port.first for _, port in session.harness_plan.binding}
    for label, wrong_port in (ports or {}).items():
        port_first[label] = by_label[wrong_port]
    paths = [(port_first[a] + pa - 1, port_first[b] + pb - 1) for (a, pa), (b, pb) in sorted(drawing().items())]
    return make_harness(serial, paths, wavelengths_nm=wavelengths, seed=seed, fail=fail)


def _fiber_number(session: TestSession, cable: SimulatedCable, launch_position: int) -> int:
    return int(np.flatnonzero(session.fiber_positions == launch_position)[0]) + 1


@pytest.mark.parametrize("name", sorted(HARNESSES))
def test_each_harness_good_and_with_a_loss_failure_per_leg(name, harness_config, harness_station, harness_bench,
                                                          tmp_path) -> None:
    recipe = _recipe(name, harness_config)
    prefix = HARNESSES[name][2]
    with ResultStore(tmp_path / "h.h5", fsync=False) as store:
        session = referenced_session(harness_station, recipe, store, harness_bench, lot="H")
        instructions = session.harness_plan.instructions()
        assert len(instructions) == len(recipe.harness.end_a) + len(recipe.harness.end_b)
        for serial, fail in ((f"{prefix}000001", False), (f"{prefix}000002", True)):
            cable = _plugged(session, name, serial, fail=fail, seed=17)
            harness_bench.load_dut(cable)
            outcome = session.test_cable(serial)
            # Truth in harness fiber order (the session's launch positions follow the recipe's fibers).
            order = [int(np.flatnonzero(cable.positions == p)[0]) for p in session.fiber_positions]
            truth = np.array([cable.true_il_db(w)[order] for w in recipe.wavelengths_nm])
            assert np.max(np.abs(outcome.measurement.insertion_loss_db - truth)) < IL_TOLERANCE_DB
            assert outcome.polarity.polarity_found == "map" and outcome.polarity.ok
            truly_failing = sorted(int(i) + 1 for i in np.flatnonzero((truth > 0.75).any(axis=0)))
            assert outcome.failing_fibers == truly_failing
            assert outcome.outcome == ("FAIL" if fail else "PASS"), outcome.record.reason
            legs = outcome.record.extra["cable_setup"]["legs"]
            assert {leg["label"] for leg in legs} == {c.label for c in (*recipe.harness.end_a, *recipe.harness.end_b)}
            for leg in legs:
                bad = sorted(set(leg["fibers"]) & set(truly_failing))
                assert leg["failing_fibers"] == bad and leg["verdict"] == ("FAIL" if bad else "PASS"), leg
        stored = load_results(store.path, serial=f"{prefix}000002")
        record = stored.cable_record(int(stored.cables["record_index"][0]))
        rows = dict(CertificateData.from_record(record).test_setup)
        assert any(label.startswith("Leg") or label == "Legs" for label in rows)


def test_24_to_2x12_wiring_faults_are_named_per_leg(harness_config, harness_station, harness_bench, tmp_path) -> None:
    name = "recipe_harness_mpo24_2x12.toml"
    recipe = _recipe(name, harness_config)
    with ResultStore(tmp_path / "faults.h5", fsync=False) as store:
        session = referenced_session(harness_station, recipe, store, harness_bench, lot="HF")
        base = _plugged(session, name, "H2412-000010", seed=3)
        crossed = with_crossed_fibers(base, 12, 13)  # the last fiber of L1 and the first of L2 swapped
        harness_bench.load_dut(crossed)
        outcome = session.test_cable("H2412-000010")
        assert outcome.outcome == "FAIL" and outcome.polarity.crossed_pairs == ((12, 13),)
        legs = {leg["label"]: leg for leg in outcome.record.extra["cable_setup"]["legs"]}
        assert legs["L1"]["miswired_fibers"] == [12] and legs["L2"]["miswired_fibers"] == [13]
        assert legs["L1"]["verdict"] == legs["L2"]["verdict"] == "FAIL"

        dark = with_dark_fibers(_plugged(session, name, "H2412-000011", seed=4), 20)
        harness_bench.load_dut(dark)
        outcome = session.test_cable("H2412-000011")
        legs = {leg["label"]: leg for leg in outcome.record.extra["cable_setup"]["legs"]}
        assert outcome.outcome == "FAIL" and outcome.polarity.dark_positions == (20,)
        assert legs["L2"]["verdict"] == "FAIL" and legs["L1"]["verdict"] == "PASS"

        # The operator swaps the two legs' connectors: every fiber lands 12 positions off.
        swapped = _plugged(session, name, "H2412-000012", seed=5, ports={"L1": "B2", "L2": "B1"})
        harness_bench.load_dut(swapped)
        outcome = session.test_cable("H2412-000012")
        assert outcome.outcome == "FAIL" and outcome.polarity.polarity_found == "miswired"
        assert len(outcome.polarity.crossed_pairs) == 12 and (1, 13) in outcome.polarity.crossed_pairs


def test_3x8_and_lc_fanout_wiring_faults(harness_config, harness_station, harness_bench, tmp_path) -> None:
    with ResultStore(tmp_path / "faults2.h5", fsync=False) as store:
        name = "recipe_harness_2x12_3x8.toml"
        session = referenced_session(harness_station, _recipe(name, harness_config), store, harness_bench, lot="HF2")
        cable = _plugged(session, name, "H1208-000020", seed=6)
        p1_5 = session.harness_plan.port_of("P1").position(5)  # P1:5 feeds the middle leg B2
        crossed = with_crossed_fibers(cable, p1_5, p1_5 + 1)
        harness_bench.load_dut(crossed)
        outcome = session.test_cable("H1208-000020")
        number = _fiber_number(session, cable, p1_5)
        assert outcome.outcome == "FAIL" and outcome.polarity.crossed_pairs == ((number, number + 1),)
        legs = {leg["label"]: leg for leg in outcome.record.extra["cable_setup"]["legs"]}
        assert legs["B2"]["verdict"] == "FAIL" and legs["B1"]["verdict"] == legs["B3"]["verdict"] == "PASS"

        name = "recipe_harness_mpo24_12lc.toml"
        session = referenced_session(harness_station, _recipe(name, harness_config), store, harness_bench, lot="HF3")
        # Leg D3's duplex clip reversed: its two fibers swapped.
        cable = with_crossed_fibers(_plugged(session, name, "H24LC-000030", seed=7), 5, 6)
        harness_bench.load_dut(cable)
        outcome = session.test_cable("H24LC-000030")
        assert outcome.outcome == "FAIL" and outcome.polarity.crossed_pairs == ((5, 6),)
        legs = {leg["label"]: leg for leg in outcome.record.extra["cable_setup"]["legs"]}
        assert legs["D3"]["verdict"] == "FAIL"
        assert all(leg["verdict"] == "PASS" for label, leg in legs.items() if label not in ("D3", "P1"))
        stored = load_results(store.path, serial="H24LC-000030")
        rows = dict(CertificateData.from_record(stored.cable_record(int(stored.cables["record_index"][0]))).test_setup)
        assert "D3 FAIL [5, 6]" in rows["Legs"] and "P1 FAIL" in rows["Legs"]


def test_a_harness_on_a_station_without_ports_is_refused_before_opening() -> None:
    from bench.operator.line import load_station_and_recipe
    with pytest.raises(ConfigError, match="no free end-A MPO-24 port") as refused:
        load_station_and_recipe(example_path("station_72.toml"), example_path("recipe_harness_mpo24_2x12.toml"))
    assert refused.value.field == "fixture.ports"


@pytest.mark.parametrize(("edit", "field", "words"), [
    (lambda d: d["cable"]["fiber_map"]["map"].pop("P1:24"), "cable.fiber_map.map", "23 fibers mapped"),
    (lambda d: d["cable"]["fiber_map"]["map"].update({"P1:24": "L1:1"}), "cable.fiber_map.map.P1:24",
     "already receives"),
    (lambda d: d["cable"]["fiber_map"]["map"].update({"P1:24": "L3:1"}), "cable.fiber_map.map.P1:24",
     "not '<connector label>:<position>'"),
    (lambda d: d["cable"]["end_b"][0].update({"fibers": 10}), "cable.end_b[0].fibers", "10 fibers"),
    (lambda d: d["cable"].update({"polarity": "B"}), "cable.polarity", "per connector"),
])
def test_bad_harness_recipes_are_refused_naming_the_field(edit, field, words) -> None:
    import tomllib

    from bench.config.recipe import parse_recipe
    data = tomllib.loads(example_path("recipe_harness_mpo24_2x12.toml").read_text(encoding="utf-8"))
    edit(data)
    with pytest.raises(ConfigError, match=words) as refused:
        parse_recipe(data, "h.toml")
    assert refused.value.field == field


def test_the_technician_is_told_which_connector_goes_where(harness_config) -> None:
    from types import SimpleNamespace

    from bench.config.harness import plan_harness
    from bench.operator.technician import TechnicianFlow

    recipe = _recipe("recipe_harness_mpo24_2x12.toml", harness_config)
    plan = plan_harness(recipe.harness, harness_config.fixture_ports, "h")
    said: list[str] = []
    line_bench = SimpleNamespace(session=SimpleNamespace(harness_plan=plan), drift=SimpleNamespace(operator=None))
    flow = TechnicianFlow(line_bench,  # type: ignore[arg-type]
                          SimpleNamespace(say=said.append))  # type: ignore[arg-type]
    flow.say_connections()
    assert said == ["Connect end-A connector P1 (MTP-M, 24 fibers) to fixture port A1.",
                    "Connect end-B connector L1 (MTP-F, 12 fibers) to fixture port B1.",
                    "Connect end-B connector L2 (MTP-F, 12 fibers) to fixture port B2."]
