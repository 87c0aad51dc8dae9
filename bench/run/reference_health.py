"""Is the current reference still good? Golden-cable drift checks and bad-reference suspicion.

`TestSession.reference_problem()` asks `ReferenceHealth.problem()` after its
own age and count checks, so a line script sees one reason why it may not
test. The golden check itself (`verify_golden`) measures the golden cable,
stores the check as a record of kind "golden_check" and raises `BenchDrifted`
when the bench has moved beyond the tolerance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bench.config.station import GoldenCableSettings
from bench.errors import BenchError
from bench.grading.cable import CableVerdict
from procedures.operator import CONNECT, Operator, Prompt
from procedures.polarity import expected_receive_positions, fiber_positions
from procedures.reference import GoldenCheck, check_golden
from procedures.results import utc_now

if TYPE_CHECKING:
    from bench.run.session import TestSession

GOLDEN_KIND = "golden_check"


class BenchDrifted(BenchError):
    """The golden cable no longer reads what it should: the bench drifted. Re-reference before testing."""


class ReferenceHealth:
    """Golden-check and bad-reference state of one session's current reference."""

    def __init__(self, golden: GoldenCableSettings | None) -> None:
        self.golden = golden
        self.new_reference()

    def new_reference(self) -> None:
        self.checked = False  # a golden check passed on this reference
        self.drift: str | None = None  # why the last golden check failed
        self.baseline_il_db: np.ndarray | None = None
        self.tests_since_check = 0
        self.bad_reference: str | None = None

    def problem(self) -> str | None:
        if self.bad_reference:
            return self.bad_reference
        if self.drift:
            return f"the bench drifted ({self.drift}); re-reference"
        if self.golden is None:
            return None
        if not self.checked:
            return f"the golden cable {self.golden.serial} has not been checked on this reference"
        every = self.golden.check_every_tests
        if every and self.tests_since_check >= every:
            return f"{self.tests_since_check} cables since the last golden-cable check (every {every})"
        return None

    def cable_tested(self, verdict: CableVerdict, readings_trustworthy: bool = True) -> None:
        """Count the cable; a loss below -U on any fiber means the reference was set wrong.

        Readings the measurement itself declared untrustworthy (never settled, over range)
        count as a test but do not judge the reference: an unstable meter can read any
        loss, a negative one included, and the cable is an ERROR for that already."""
        self.tests_since_check += 1
        if not readings_trustworthy:
            return
        bad = [f for f in verdict.fibers if verdict.rule.is_bad_reference(f.insertion_loss_db)]
        if bad:
            worst = min(bad, key=lambda f: f.insertion_loss_db)
            self.bad_reference = (f"bad reference: fiber {worst.fiber_position} at {worst.wavelength_nm:g} nm read "
                                  f"{worst.insertion_loss_db:.3f} dB (below -U = "
                                  f"{-verdict.rule.uncertainty_db:.3f} dB); set the reference again and retest")


def verify_golden(session: TestSession, operator: Operator | None = None) -> GoldenCheck:
    """Measure the station's golden cable on the current reference, store it, refuse on drift.

    The first check on a reference without certified values becomes the
    baseline. Raises `BenchDrifted` (after storing the record) when any fiber
    moved beyond the tolerance, and `ReferenceRequired` without a reference.
    """
    from bench.run.session import ReferenceRequired
    from bench.run.studies import build_record, fiber_rows

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
    started = utc_now()
    check = check_golden(session.station.instruments, session.reference, serial=golden.serial,
                         fiber_positions=positions, expected_receive_position=receive, expected_il_db=expected,
                         tolerance_db=golden.tolerance_db, wavelengths_nm=wavelengths, settings=session.settings)
    drifted = check.drifted
    reason = check.describe(positions.tolist())
    limit = check.expected_il_db + golden.tolerance_db
    delta = check.delta_db
    verdicts = np.where(np.isfinite(delta) & (np.abs(delta) <= golden.tolerance_db), "PASS", "FAIL")
    reasons = np.where(verdicts == "PASS", "", "golden cable: |ΔIL| beyond tolerance or no light")
    record = build_record(
        session, serial=golden.serial, kind=GOLDEN_KIND, started=started, outcome="FAIL" if drifted else "PASS",
        reason=reason, measurement=check.measurement,
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
