"""The golden-cable check: measure a cable of known IL on the current reference, store it, refuse on drift."""

from __future__ import annotations

import numpy as np

from bench.errors import BenchError
from bench.records import Cause, CauseCode, Outcome
from bench.run.reference_health import BenchDrifted
from bench.run.session import ReferenceRequired, TestSession
from bench.run.session_records import build_record, fiber_rows
from procedures.operator import CONNECT, Operator, Prompt
from procedures.polarity import expected_receive_positions, fiber_positions
from procedures.reference import GoldenCheck, check_golden

GOLDEN_KIND = "golden_check"


def verify_golden(session: TestSession, operator: Operator | None = None) -> GoldenCheck:
    """Measure the station's golden cable on the current reference, store it, refuse on drift.

    The first check on a reference without certified values becomes the
    baseline. Raises `BenchDrifted` (after storing the record) when any fiber
    moved beyond the tolerance, and `ReferenceRequired` without a reference.
    """
    golden = session.station.config.reference.golden
    if golden is None:
        raise BenchError(f"{session.station.config.source_path}: no [reference.golden] cable is configured")
    if session.reference is None:
        raise ReferenceRequired("no reference has been taken on this station yet; take one before the golden check")
    health = session.health
    wavelengths = tuple(session.recipe.wavelengths_nm)
    expected = health.baseline_il_db
    if golden.expected_il_db:
        missing = [w for w in wavelengths if w not in golden.expected_il_db]
        if missing:
            raise BenchError(f"golden cable {golden.serial} has no expected IL at {missing[0]:g} nm; add it to "
                             "[reference.golden.expected_il_db]")
        expected = np.array([golden.expected_il_db[w] for w in wavelengths])
    if operator is not None:
        operator.prompt(Prompt(CONNECT, f"Connect the golden cable {golden.serial}", serial=golden.serial))
    positions = fiber_positions(golden.fiber_count)
    receive = expected_receive_positions(golden.fiber_count, golden.polarity)
    started = session.clock()
    check = check_golden(session.station.instruments, session.reference, serial=golden.serial,
                         fiber_positions=positions, expected_receive_position=receive, expected_il_db=expected,
                         tolerance_db=golden.tolerance_db, wavelengths_nm=wavelengths, settings=session.settings)
    drifted = check.drifted
    reason = check.describe(positions.tolist())
    limit = check.expected_il_db + golden.tolerance_db
    delta = check.delta_db
    verdicts = np.where(np.isfinite(delta) & (np.abs(delta) <= golden.tolerance_db), Outcome.PASS, Outcome.FAIL)
    reasons = np.where(verdicts == Outcome.PASS, "", "golden cable: |ΔIL| beyond tolerance or no light")
    record = build_record(
        session, serial=golden.serial, kind=GOLDEN_KIND, started=started,
        outcome=Outcome.FAIL if drifted else Outcome.PASS, reason=reason, measurement=check.measurement,
        causes=(Cause(CauseCode.GOLDEN_DRIFT, reason),) if drifted else (),
        fibers=fiber_rows(session, check.measurement, positions, receive, limit, verdicts, reasons),
        extra={"baseline": check.baseline, "tolerance_db": golden.tolerance_db,
               "expected_il_db": check.expected_il_db.tolist(), "delta_il_db": delta.tolist(),
               "worst_delta_db": check.worst_delta_db, "fiber_count": golden.fiber_count,
               "polarity": golden.polarity, "certified": bool(golden.expected_il_db)},
        recipe_snapshot={"name": f"golden:{golden.serial}", "fiber_count": golden.fiber_count,
                         "polarity": golden.polarity})
    session.store.append_cable(record)
    health.tests_since_check = 0
    if drifted:
        health.drift = reason
        raise BenchDrifted(f"{reason}: the bench drifted since the reference was taken; testing is refused. "
                           "Check the source and the launch cord, take a new reference, then check the golden "
                           "cable again")
    if check.baseline:
        health.baseline_il_db = check.measurement.insertion_loss_db.copy()
    health.checked = True
    return check
