"""End to end on the virtual bench: reference + IL + grading + store, checked against ground truth."""

from __future__ import annotations

import io
from pathlib import Path

import h5py
import numpy as np

from bench.sim_launch import run_demo
from bench.store import load_references, load_results, verify_store
from sim_instruments.physics import make_lot

# Measurement noise of the simulated meter is 0.003 dB (1 ms averaging) per
# reading; IL is a difference of two readings, σ ≈ 0.0042 dB. 6σ bounds any
# error over a few hundred fibers without letting a real bias through.
IL_TOLERANCE_DB = 0.025


def test_demo_lot_is_graded_from_physics_and_stored(tmp_path: Path) -> None:
    store_path = tmp_path / "lot.h5"
    failing = (1, 4)
    result = run_demo(cables=6, failing=failing, seed=7, store_path=store_path, stream=io.StringIO())

    results = load_results(store_path)
    assert len(results.cables) == 6
    assert len(results.fibers) == 6 * 12 * 2
    serials = [str(s) for s in results.cables["serial"]]
    outcomes = dict(zip(serials, (str(o) for o in results.cables["outcome"]), strict=True))
    assert {serial for serial, outcome in outcomes.items() if outcome == "FAIL"} == set(result.seeded_to_fail)
    assert all(outcome in ("PASS", "FAIL") for outcome in outcomes.values())

    truth = {cable.serial: cable for cable in make_lot(6, prefix="MTP12-", failing=failing, seed=7)}
    for row in results.fibers:
        cable = truth[str(row["serial"])]
        true_il_db = cable.true_il_db(float(row["wavelength_nm"]))[int(row["fiber_position"]) - 1]
        assert abs(row["insertion_loss_db"] - true_il_db) < IL_TOLERANCE_DB
        assert row["limit_db"] == 0.75
        assert str(row["verdict"]) == ("FAIL" if true_il_db > 0.75 else "PASS")

    references = load_references(store_path)
    assert len(references) == 1 and references[0].method == "1-cord"
    assert set(results.cables["reference_id"].astype(str)) == {references[0].reference_id}
    identities = results.instruments(int(results.cables["record_index"][0]))
    assert {identity["model"] for identity in identities} == {"8164B", "N7734A", "N7745A"}
    snapshot = results.recipe_snapshot(int(results.cables["record_index"][0]))
    assert snapshot["limits"]["max_il_db"] in ({"1310": 0.75, "1550": 0.75}, {1310.0: 0.75, 1550.0: 0.75})
    assert verify_store(store_path).ok

    with h5py.File(store_path, "r") as plain:  # readable with plain h5py
        assert plain.attrs["schema_version"] >= 1
        assert plain["fibers"].shape[0] >= 6 * 12 * 2


def test_polarity_recovered_and_il_is_reference_minus_dut(tmp_path: Path) -> None:
    result = run_demo(cables=1, failing=(), seed=3, store_path=tmp_path / "one.h5", stream=io.StringIO())
    outcome = result.outcomes[0]
    assert outcome.polarity is not None and outcome.polarity.polarity_found == "B"
    measurement = outcome.measurement
    assert measurement is not None
    np.testing.assert_allclose(measurement.insertion_loss_db,
                               measurement.reference_power_dbm - measurement.dut_power_dbm)
