"""Reference management (golden-cable drift, bad reference, expiry), re-tests, settling,
repeatability and durability studies, end to end on the virtual bench; all results in the HDF5 store."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.grading.retest import final_verdict
from bench.run.golden import verify_golden
from bench.run.reference_health import BenchDrifted
from bench.run.session import ReferenceRequired, TestSession
from bench.run.studies import durability_study, repeatability_study
from bench.store import ResultStore, load_references, load_results, verify_store
from procedures.durability import DurabilityPlan
from procedures.repeatability import RepeatabilitySettings
from sim_instruments.physics import make_cable, with_dirt, with_mating_behaviour

from .conftest import GOLDEN, SimOperator, make_recipe, new_session, reference_and_golden


def test_drifted_bench_is_refused_until_rereferenced(station32, store32, bench32_clean) -> None:
    recipe = make_recipe(12, "B")
    session = TestSession(station32, recipe, store32, operator="e2e", lot="DRIFT")
    bench32_clean.load_dut(None)
    session.take_reference()
    assert "golden cable GOLD-0001 has not been checked" in session.reference_problem()
    with pytest.raises(ReferenceRequired):
        session.test_cable("E2E-DRIFT-1")
    operator = SimOperator(bench32_clean, {GOLDEN.serial: GOLDEN})
    baseline = verify_golden(session, operator, accept_baseline=True)
    assert baseline.baseline and session.reference_problem() is None
    bench32_clean.load_dut(make_cable("E2E-DRIFT-1", seed=1))
    assert session.test_cable("E2E-DRIFT-1").outcome == "PASS"

    bench32_clean.set_source_drift(-0.25)  # the source lost 0.25 dB since the reference
    with pytest.raises(BenchDrifted, match="re-reference|take a new reference"):
        verify_golden(session, operator)
    assert "drifted" in session.reference_problem()
    bench32_clean.load_dut(make_cable("E2E-DRIFT-2", seed=2))
    with pytest.raises(ReferenceRequired, match="drifted"):
        session.test_cable("E2E-DRIFT-2")

    reference_and_golden(session, bench32_clean)  # re-reference at any time absorbs the drift
    bench32_clean.load_dut(make_cable("E2E-DRIFT-2", seed=2))
    assert session.test_cable("E2E-DRIFT-2").outcome == "PASS"

    checks = load_results(store32.path, serial=GOLDEN.serial)
    checks = checks.cables[checks.cables["kind"] == "golden_check"]
    drift_rows = checks[checks["outcome"] == "FAIL"]
    assert len(drift_rows) >= 1 and "exceeds the tolerance" in str(drift_rows["reason"][-1])


def test_certified_golden_cable_catches_a_dirty_reference(station32_config, bench32_clean, station32,
                                                          tmp_path) -> None:
    certified = {w: tuple(float(v) for v in GOLDEN.true_il_db(w)) for w in (1310.0, 1550.0)}
    golden = dataclasses.replace(station32_config.reference.golden, expected_il_db=certified)
    config = dataclasses.replace(station32_config,
                                 reference=dataclasses.replace(station32_config.reference, golden=golden))
    station = dataclasses.replace(station32, config=config)
    with ResultStore(tmp_path / "certified.h5", fsync=False) as store:
        session = TestSession(station, make_recipe(12, "B"), store, operator="e2e", lot="CERT")
        bench32_clean.model.reference_connection_loss_db[4] = 0.3  # dirty adapter while referencing
        session.take_reference()
        with pytest.raises(BenchDrifted, match="fiber 4 at"):  # IL of fiber 4 uses launch 4's reference
            verify_golden(session, SimOperator(bench32_clean, {GOLDEN.serial: GOLDEN}))
        bench32_clean.model.reference_connection_loss_db.clear()
        reference_and_golden(session, bench32_clean)
        assert session.reference_problem() is None


def test_negative_il_beyond_uncertainty_flags_bad_reference(station32, bench32_clean, tmp_path) -> None:
    recipe = make_recipe(12, "A")
    # A fresh store: no earlier reference of these cords for the plausibility check to compare with.
    store32 = ResultStore(tmp_path / "badref.h5", fsync=False)
    session = TestSession(station32, recipe, store32, operator="e2e", lot="BADREF")
    # A dirty adapter during the reference; the golden cable's baseline is accepted on it.
    bench32_clean.model.reference_connection_loss_db[3] = 0.6
    reference_and_golden(session, bench32_clean)
    bench32_clean.model.reference_connection_loss_db.clear()  # ... then the adapter is cleaned
    cable = make_cable("E2E-BADREF-1", fiber_count=12, polarity="A", seed=3)
    bench32_clean.load_dut(cable)
    outcome = session.test_cable("E2E-BADREF-1")
    assert outcome.outcome == "ERROR" and "bad reference" in outcome.record.reason
    assert "bad reference" in session.reference_problem()
    with pytest.raises(ReferenceRequired, match="bad reference"):
        session.test_cable("E2E-BADREF-1")
    reference_and_golden(session, bench32_clean)
    bench32_clean.load_dut(cable)
    assert session.test_cable("E2E-BADREF-1").outcome == "PASS"
    assert [str(o) for o in load_results(store32.path, serial="E2E-BADREF-1").cables["outcome"]] == ["ERROR", "PASS"]
    store32.close()


@pytest.mark.parametrize(("policy", "expected"), [("last", "PASS"), ("best", "PASS"), ("all_must_pass", "FAIL")])
def test_retest_attempts_kept_and_final_verdict_policy(policy, expected, station32, store32, bench32_clean) -> None:
    recipe = make_recipe(12, "B", prefix=f"E2E-RT{policy}-")
    session = new_session(station32, recipe, store32, bench32_clean)
    serial = f"E2E-RT{policy}-1"
    dirty = with_dirt(make_cable(serial, seed=4), [7], extra_db=1.0, sigma_db=0.01)
    bench32_clean.load_dut(dirty)
    assert session.test_cable(serial).outcome == "FAIL"
    dirty.clean()
    dirty.unmate()
    dirty.mate()
    assert session.test_cable(serial).outcome == "PASS"
    final = final_verdict(store32.path, serial, policy)
    assert final.verdict == expected
    assert [o for _, o in final.attempts] == ["FAIL", "PASS"]


def test_settling_is_measured_not_slept(station32, store32, bench32_clean) -> None:
    bench = bench32_clean
    bench.model.switch_transient_s = 0.01  # the mirror needs 10 ms after each move
    try:
        session = new_session(station32, make_recipe(12, "B"), store32, bench)
        cable = make_cable("E2E-SETTLE-1", seed=6)
        bench.load_dut(cable)
        outcome = session.test_cable("E2E-SETTLE-1")
    finally:
        bench.model.switch_transient_s = 0.0
    settle = outcome.measurement.matrix.settle_time_s
    assert outcome.outcome == "PASS" and outcome.measurement.matrix.settled.all()
    # Waited for the mirror after every move, no longer. The serpentine order starts each
    # wavelength's sweep where the switch already is: one position per wavelength has no move.
    assert (settle > 0.005).sum() >= settle.size - settle.shape[0] and settle.max() < 0.5
    truth = np.array([cable.true_il_db(w) for w in (1310.0, 1550.0)])
    assert np.max(np.abs(outcome.measurement.insertion_loss_db - truth)) < 0.03
    assert load_results(store32.path).extra(outcome.record_index)["settle_time_s_max"] == pytest.approx(
        float(settle.max()))


def test_repeatability_study_is_stored(station32, store32, bench32_clean) -> None:
    recipe = make_recipe(12, "B")
    session = new_session(station32, recipe, store32, bench32_clean)
    cable = with_mating_behaviour(make_cable("E2E-GAUGE-1", seed=12), sigma_db=0.04, seed=1)
    operator = SimOperator(bench32_clean, {cable.serial: cable})
    study = repeatability_study(session, cable.serial, operator, RepeatabilitySettings(matings=6, max_range_db=0.5))
    assert study.outcome == "PASS" and study.result.matings == 6
    assert [p.action for p in operator.prompts] == ["connect"] + ["remate"] * 5
    sigma = study.result.sigma_db
    assert 0.003 < float(np.median(sigma)) < 0.06
    truth = np.array([cable.insertion_loss_db[w] for w in (1310.0, 1550.0)])
    assert np.all(study.result.mean_db >= truth - 0.01)  # a mating never beats a perfect fit
    stored = load_results(store32.path, serial=cable.serial)
    kinds = [str(k) for k in stored.cables["kind"]]
    assert kinds == ["repeatability"] * 6 + ["repeatability_summary"]
    summary = stored.extra(int(stored.cables["record_index"][-1]))
    assert summary["study_id"] == study.study_id and summary["mating_records"] == list(study.mating_records)
    assert np.allclose(summary["sigma_db"], sigma)
    assert final_verdict(store32.path, cable.serial).verdict == "NOT TESTED"  # studies are not IL attempts


def test_durability_shortened_run_resumes_after_interruption(station32, store32, bench32_clean) -> None:
    recipe = make_recipe(12, "B")
    plan = DurabilityPlan(cycles=40, log_every=10, max_delta_il_db=0.3)
    cable = with_mating_behaviour(make_cable("E2E-DUR-1", seed=13), sigma_db=0.0, wear_db_per_mating=0.004)
    session = new_session(station32, recipe, store32, bench32_clean)
    with pytest.raises(KeyboardInterrupt):
        durability_study(session, cable.serial, SimOperator(bench32_clean, {cable.serial: cable}, abort_at_cycle=25),
                         plan)
    partial = load_results(store32.path, serial=cable.serial)
    assert [partial.extra(int(i))["cycle"] for i in partial.cables["record_index"]] == [0, 10, 20]

    # A new session (program restarted, new reference) continues the same study from cycle 21.
    session = new_session(station32, recipe, store32, bench32_clean)
    bench32_clean.load_dut(cable)
    study = durability_study(session, cable.serial, SimOperator(bench32_clean, {cable.serial: cable}))
    assert study.resumed_from_cycle == 20 and study.result.completed
    assert study.result.verdict == "PASS"
    assert [c.cycle for c in study.result.checkpoints] == [0, 10, 20, 30, 40]
    assert 0.10 < study.result.max_abs_delta_db < 0.25  # 40 matings × 0.004 dB wear
    stored = load_results(store32.path, serial=cable.serial)
    kinds = [str(k) for k in stored.cables["kind"]]
    assert kinds == ["durability"] * 5 + ["durability_summary"]
    assert len({stored.extra(int(i))["study_id"] for i in stored.cables["record_index"]}) == 1
    assert str(stored.cables["outcome"][-1]) == "PASS"
    assert verify_store(store32.path).ok


def test_durability_wear_beyond_limit_fails(station32, store32, bench32_clean) -> None:
    recipe = make_recipe(12, "B")
    cable = with_mating_behaviour(make_cable("E2E-DUR-2", seed=14), sigma_db=0.0, wear_db_per_mating=0.012)
    session = new_session(station32, recipe, store32, bench32_clean)
    study = durability_study(session, cable.serial, SimOperator(bench32_clean, {cable.serial: cable}),
                             DurabilityPlan(cycles=30, log_every=15, max_delta_il_db=0.3))
    assert study.result.verdict == "FAIL" and study.result.failing_positions() == list(range(1, 13))
    stored = load_results(store32.path, serial=cable.serial)
    assert [str(o) for o in stored.cables["outcome"]] == ["PASS", "PASS", "FAIL", "FAIL"]
    assert len(load_references(store32.path)) >= 1
