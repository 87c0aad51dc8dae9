"""Across sessions a new reference is compared with the latest stored reference of the same station
and cords on which a golden check passed, never with one the golden cable refused.

One store, three sessions on the 32-position virtual bench with a certified golden cable:
1. the first reference goes through a dirty cord (position 3, 0.15 dB); the golden check refuses it;
2. the next session's clean reference is accepted (compared with the refused one it would be a
   0.15 dB step and refused); its golden check passes; then a slightly dirty reference (0.065 dB,
   inside the step limit) is stored and refused by the golden check;
3. the next session's dirtier reference (0.13 dB) is refused against the clean reference of session
   2 (against the refused 0.065 dB one it would be a 0.065 dB step, inside the limit, and accepted),
   and a clean one is accepted and tests a cable.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.config.recipe import load_recipe
from bench.config.station import load_station
from bench.run.reference_health import BenchDrifted
from bench.sim_launch import SimOptions, example_path, open_virtual_line_bench
from bench.store import latest_trusted_reference, load_references, load_results
from procedures.reference import ReferenceProblem
from sim_instruments.physics import make_golden_cable

SEED = 17
DIRTY_POSITION = 3


@pytest.fixture(scope="module")
def line():
    config = load_station(example_path("station_32.toml"))
    recipe = load_recipe(example_path("recipe_demo.toml"), station_wavelengths_nm=config.wavelengths_nm,
                         station_fiber_capacity=config.fiber_capacity)
    golden = config.reference.golden
    cable = make_golden_cable(golden.serial, fiber_count=golden.fiber_count, polarity=golden.polarity,
                              wavelengths_nm=recipe.wavelengths_nm, seed=SEED)
    certified = {w: tuple(float(v) for v in cable.true_il_db(w)) for w in recipe.wavelengths_nm}
    # A certified golden cable checked to 0.05 dB, and a step limit of 0.08 dB between references.
    golden = dataclasses.replace(golden, expected_il_db=certified, tolerance_db=0.05, certificate="GC-TEST-1")
    config = dataclasses.replace(config, reference=dataclasses.replace(config.reference, golden=golden,
                                                                       max_step_db=0.08))
    return config, recipe


def _session(line, store):
    config, recipe = line
    return open_virtual_line_bench(config, recipe, operator="op", lot="TRUST", store=store, sim=SimOptions(seed=SEED))


def _dirty(bench, loss_db: float) -> None:
    losses = bench.fixture.virtual_bench.model.reference_connection_loss_db
    losses.clear()
    if loss_db:
        losses[DIRTY_POSITION] = loss_db


def _trusted_id(line, store) -> str | None:
    config, _ = line
    trusted = latest_trusted_reference(store, config.name, config.reference.cord_ids,
                                       golden_serial=config.reference.golden.serial)
    return None if trusted is None else trusted.reference_id


def test_the_yardstick_is_the_last_reference_a_golden_check_passed(line, tmp_path) -> None:
    store = tmp_path / "trust.h5"
    with _session(line, store) as bench:  # session 1: nothing stored yet, so nothing to compare with
        _dirty(bench, 0.15)
        with pytest.raises(BenchDrifted, match="golden"):
            bench.take_reference()
    refused_first = load_references(store)[0].reference_id
    assert _trusted_id(line, store) is None  # the only stored reference was refused by the golden cable

    with _session(line, store) as bench:  # session 2
        _dirty(bench, 0.0)
        clean = bench.take_reference()  # not compared with the refused one (a 0.15 dB step at position 3)
        assert bench.reference_problem() is None
        assert _trusted_id(line, store) == clean.reference_id
        _dirty(bench, 0.065)  # inside the 0.08 dB step limit, beyond the golden tolerance
        with pytest.raises(BenchDrifted):
            bench.take_reference()
    slightly_dirty = load_references(store)[-1].reference_id
    assert _trusted_id(line, store) == clean.reference_id  # the latest stored one is not trusted

    checks = load_results(store, serial=line[0].reference.golden.serial).cables
    assert [(str(r), str(o)) for r, o in zip(checks["reference_id"], checks["outcome"], strict=True)] == [
        (refused_first, "FAIL"), (clean.reference_id, "PASS"), (slightly_dirty, "FAIL")]

    with _session(line, store) as bench:  # session 3
        _dirty(bench, 0.13)
        with pytest.raises(ReferenceProblem, match=f"launch position {DIRTY_POSITION} reads -0.1"):
            bench.take_reference()  # against the clean reference of session 2, not the 0.065 dB one
        _dirty(bench, 0.0)
        accepted = bench.take_reference()
        assert bench.test("MTP12-000001").verdict == "PASS"
    assert _trusted_id(line, store) == accepted.reference_id
    step = np.asarray(accepted.reference_power_dbm) - np.asarray(clean.reference_power_dbm)
    assert np.max(np.abs(step - np.median(step))) < 0.02  # the same clean cords as session 2


def test_without_a_golden_cable_the_latest_reference_of_the_same_cords(line, tmp_path) -> None:
    config, recipe = line
    store = tmp_path / "plain.h5"
    plain = dataclasses.replace(config, reference=dataclasses.replace(config.reference, golden=None))
    with open_virtual_line_bench(plain, recipe, operator="op", lot="P", store=store, sim=SimOptions(seed=SEED)) \
            as bench:
        first = bench.take_reference()
        second = bench.take_reference()
    assert latest_trusted_reference(store, plain.name, plain.reference.cord_ids).reference_id == second.reference_id
    assert first.reference_id != second.reference_id
    assert latest_trusted_reference(store, plain.name, ("OTHER-CORD",)) is None
    assert latest_trusted_reference(store, "another station", plain.reference.cord_ids) is None


def test_a_reference_a_cable_found_bad_is_no_yardstick_in_a_later_session(line, tmp_path) -> None:
    store = tmp_path / "disowned.h5"
    with _session(line, store) as bench:
        vouched = bench.take_reference()  # its golden check passes
        assert _trusted_id(line, store) == vouched.reference_id
        bench.fixture.virtual_bench.set_source_drift(0.5)  # every IL reads 0.5 dB low: below -U
        cable = bench.test("MTP12-000001")
        assert cable.verdict == "ERROR" and "bad reference" in cable.outcome.record.reason
    stored = load_results(store, serial="MTP12-000001")
    causes = stored.causes(int(stored.cables["record_index"][0]))
    assert "bad_reference" in {str(cause.code) for cause in causes}
    assert _trusted_id(line, store) is None  # the golden check vouched for it, the cable disowned it
