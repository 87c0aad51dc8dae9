"""The golden-cable check: measure a cable of known IL on the current reference, store it, refuse on drift.

What the golden cable should read comes from its certificate (`[reference.golden]
expected_il_db`) or, for an uncertified cable, from a baseline the operator accepted
explicitly (`accept_baseline=True`, `--accept-golden-baseline`). The accepted baseline is kept
in the store (the golden-check record with `extra["baseline_accepted"]`), so later references
and later runs are checked against it; it is never taken silently from the first reading after
a reference, which would make a bad reference or early drift the yardstick.
"""

from __future__ import annotations

import numpy as np

from bench.config.station import GoldenCableSettings
from bench.errors import BenchError
from bench.records import Cause, CauseCode, Outcome
from bench.run.reference_health import BenchDrifted
from bench.run.session import ReferenceRequired, TestSession
from bench.run.session_records import build_record, fiber_rows
from bench.store import load_results
from bench.store.trusted import GOLDEN_CHECK_KIND
from procedures.operator import CONNECT, Operator, Prompt
from procedures.polarity import expected_receive_positions, fiber_positions
from procedures.reference import GoldenCheck, check_golden

GOLDEN_KIND = GOLDEN_CHECK_KIND  # the store's query for trusted references looks for this kind


class GoldenBaselineRequired(BenchError):
    """An uncertified golden cable has no accepted baseline at the recipe's wavelengths."""


def _stored_baseline(session: TestSession, golden: GoldenCableSettings,
                     wavelengths: tuple[float, ...]) -> np.ndarray | None:
    """The latest accepted baseline of this golden cable on this station covering `wavelengths`."""
    path = getattr(session.store, "path", None)
    if path is None:
        return None
    stored = load_results(path, serial=golden.serial)
    rows = stored.cables[(stored.cables["kind"] == GOLDEN_KIND) & (stored.cables["station_name"]
                                                                  == session.station.config.name)]
    for index in reversed(rows["record_index"].tolist()):
        extra = stored.extra(int(index))
        if not extra.get("baseline_accepted"):
            continue
        have = [float(w) for w in stored.wavelengths_nm(int(index))]
        if all(w in have for w in wavelengths):
            il = np.asarray(extra["measured_il_db"], dtype=np.float64)
            return il[[have.index(w) for w in wavelengths]]
    return None


def expected_golden_il(session: TestSession, golden: GoldenCableSettings, accept_baseline: bool) -> np.ndarray | None:
    """What the golden cable should read [wavelength, fiber]; None: this reading becomes the baseline."""
    wavelengths = tuple(session.recipe.wavelengths_nm)
    if golden.certified:
        missing = [w for w in wavelengths if w not in golden.expected_il_db]
        if missing:
            raise BenchError(f"golden cable {golden.serial} has no expected IL at {missing[0]:g} nm; add it to "
                             "[reference.golden.expected_il_db]")
        return np.array([golden.expected_il_db[w] for w in wavelengths])
    if accept_baseline:
        return None
    health = session.health
    if health.baseline_il_db is not None and health.baseline_wavelengths_nm == wavelengths:
        return health.baseline_il_db
    baseline = _stored_baseline(session, golden, wavelengths)
    if baseline is None:
        raise GoldenBaselineRequired(
            f"golden cable {golden.serial} is uncertified and has no accepted baseline at "
            f"{', '.join(f'{w:g}' for w in wavelengths)} nm on station {session.station.config.name}: add its "
            "certified values ([reference.golden] expected_il_db, from its certificate), or take a reference you "
            "trust and accept the golden cable's reading as the baseline (--accept-golden-baseline)")
    health.baseline_il_db, health.baseline_wavelengths_nm = baseline, wavelengths
    return baseline


def verify_golden(session: TestSession, operator: Operator | None = None, *,
                  accept_baseline: bool = False) -> GoldenCheck:
    """Measure the station's golden cable on the current reference, store it, refuse on drift.

    Compared with the certified values, else with the accepted baseline; `accept_baseline`
    makes this reading the baseline (the operator vouches for the reference). Raises
    `BenchDrifted` (after storing the record) when any fiber moved beyond the tolerance,
    `GoldenBaselineRequired` for an uncertified cable without a baseline, and
    `ReferenceRequired` without a reference.
    """
    golden = session.station.config.reference.golden
    if golden is None:
        raise BenchError(f"{session.station.config.source_path}: no [reference.golden] cable is configured")
    if session.reference is None:
        raise ReferenceRequired("no reference has been taken on this station yet; take one before the golden check")
    health = session.health
    wavelengths = tuple(session.recipe.wavelengths_nm)
    expected = expected_golden_il(session, golden, accept_baseline)
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
               "polarity": golden.polarity, "certified": golden.certified, "certificate": golden.certificate,
               "baseline_accepted": check.baseline, "measured_il_db": check.measurement.insertion_loss_db.tolist()},
        recipe_snapshot={"name": f"golden:{golden.serial}", "fiber_count": golden.fiber_count,
                         "polarity": golden.polarity})
    index = session.store.append_cable(record)
    health.tests_since_check = 0
    health.last_check_utc = session.clock()
    health.last_check_record_index = index
    if drifted:
        health.drift = reason
        raise BenchDrifted(f"{reason}: the bench drifted; testing is stopped. Check the source and the launch "
                           "cord, take a new reference, check the golden cable again, then retest the cables "
                           "marked SUSPECT", check_record_index=index)
    if check.baseline:
        health.baseline_il_db = check.measurement.insertion_loss_db.copy()
        health.baseline_wavelengths_nm = wavelengths
    health.checked = True
    session.trusted_reference = session.reference_record  # the yardstick for the next reference's plausibility
    return check
