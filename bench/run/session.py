"""Orchestration of one test session: reference, then cable after cable into the store.

This is the production API: a line script builds a `TestSession` and calls
`take_reference()` and `test_cable(serial)`; the CLI and the demo are thin
layers over it. Every attempt, including errors and aborts, becomes a record.

Just over 400 lines: `TestSession` is the one place where reference, drift watch, cord wear,
harness plan and grading meet for a cable; its helpers already live in bench/run/*.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from dataclasses import dataclass
from importlib import metadata

import numpy as np

from bench.clock import Clock, iso_utc, utc_now
from bench.config.cable_fit import cable_setup, check_recipe_on_station
from bench.config.crosscheck import check_station_and_recipe
from bench.config.harness import plan_harness
from bench.config.recipe import Recipe
from bench.errors import BenchError
from bench.grading.cable import CableVerdict, grade_cable
from bench.grading.uncertainty import rule_budget, with_budget
from bench.records import CableRecord, Cause, CauseCode, FiberResult, Outcome, ReferenceRecord, reason_text
from bench.run.cord_wear import CordLedger
from bench.run.harness_legs import leg_results
from bench.run.labels import check_label
from bench.run.reference_health import ReferenceHealth, implausible_reference
from bench.run.station import Station
from bench.store import latest_trusted_reference
from drivers.errors import InstrumentError, InstrumentTimeout, OverRangeError, ScpiError, WrongInstrumentError
from drivers.scpi import InstrumentReplacedError, RetryBudget
from procedures.acquisition import Progress
from procedures.insertion_loss import measure_cable
from procedures.polarity import (
    PolarityResult,
    classify_polarity,
    classify_wiring,
    expected_receive_positions,
    fiber_positions,
)
from procedures.reference import ReferenceProblem, measure_reference
from procedures.results import CableMeasurement, ReferenceMeasurement
from procedures.sanity import (
    BenchFault,
    ErrorQueueQueries,
    brightest_channels,
    check_light,
    check_switch,
    drain_error_queues,
)


def cycle_timing(measurement: CableMeasurement, cycle_time_s: float) -> dict[str, object]:
    """`bound_s`, `bound_ratio` (cycle time / bound), `order`, acquisition time and readings, for `extra`."""
    timing = getattr(measurement.matrix, "timing", None)
    if timing is None:
        return {}
    return {**timing.as_dict(), "bound_ratio": cycle_time_s / timing.bound_s if timing.bound_s > 0 else None}


@functools.cache  # read from the installed metadata (~1 ms); it cannot change under a running process
def software_version() -> str:
    try:
        return metadata.version("mpo-bench")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class ReferenceRequired(BenchError):
    """No valid reference: take (or retake) one before testing."""


# Recoveries (reconnect + repeat of an operation, see drivers.scpi) allowed to all
# instruments together during one cable; more means the link is not fit to measure.
RECOVERIES_PER_CABLE = 3


# An instrument fault's cause code and what the operator should do about it (docs/reliability.md),
# most specific type first (InstrumentReplacedError is a WrongInstrumentError).
_FAULTS: tuple[tuple[type[Exception], CauseCode, str], ...] = (
    (InstrumentReplacedError, CauseCode.INSTRUMENT_REPLACED,
     "close and reopen the station (bench restart), check the station config, then take a new reference"),
    (WrongInstrumentError, CauseCode.WRONG_INSTRUMENT,
     "the address answers as another model: fix the station config or the cabling, then restart"),
    (ScpiError, CauseCode.INSTRUMENT_ERROR,
     "retest the cable; if the error repeats, check the station config for this instrument "
     "(wavelength, range, slots) and the instrument's front panel"),
    (OverRangeError, CauseCode.INSTRUMENT_OVER_RANGE,
     "a detector is out of range: check the meter's range setting and the source power, then retest"),
    (InstrumentTimeout, CauseCode.INSTRUMENT_TIMEOUT,
     "retest the cable; if it repeats, check that the instrument is on, not in local/menu mode, "
     "and its LAN/serial cable, then restart the station"),
    (ReferenceProblem, CauseCode.REFERENCE_UNUSABLE, "take a new reference, then retest the cable"),
)
_OTHER_FAULT = (CauseCode.INSTRUMENT_FAULT,
                "retest the cable; if it repeats, check the instrument's power and LAN/serial cable, "
                "then restart the station")
UNTRUSTWORTHY_ACTION = ("Operator: the readings are not trustworthy (unstable source or meter, or a detector out "
                        "of range): check the source warm-up, the meter range and the connections, then retest")


def _fault(error: Exception) -> tuple[CauseCode, str]:
    return next(((code, action) for kind, code, action in _FAULTS if isinstance(error, kind)), _OTHER_FAULT)


def operator_action(error: Exception) -> str:
    """What the operator should do about an instrument fault (docs/reliability.md)."""
    return _fault(error)[1]


def fault_cause(error: Exception) -> Cause:
    """The cause an instrument fault gives a cable's ERROR record."""
    code, action = _fault(error)
    return Cause(code, f"instrument fault: {error}. Operator: {action}")


@dataclass(frozen=True)
class CableOutcome:
    """What happened to one cable: the stored record plus the objects it was built from."""

    record: CableRecord
    record_index: int
    verdict: CableVerdict | None
    measurement: CableMeasurement | None
    polarity: PolarityResult | None

    @property
    def outcome(self) -> str:
        return self.record.outcome

    @property
    def failing_fibers(self) -> list[int]:
        return self.verdict.failing_fibers if self.verdict else []


class TestSession:
    """One operator, one recipe, one station, one store."""

    __test__ = False  # not a pytest class, despite the name

    def __init__(self, station: Station, recipe: Recipe, store: object, *, operator: str, lot: str,
                 recoveries_per_cable: int | None = RECOVERIES_PER_CABLE, clock: Clock = utc_now) -> None:
        check_recipe_on_station(recipe, station.config)  # callers that load files check it before opening
        self.station = station
        self.last_stored: CableOutcome | None = None
        self.clock = clock  # every stamp and the reference's age; a test passes a fake one
        # Reference method vs the recipe's connections, calibration dates (ConfigError before any
        # measurement); instruments the station accepts overdue are named in every record.
        self.calibration_overdue = check_station_and_recipe(station.config, recipe, clock().date())
        self.recipe = with_budget(station.config, recipe)  # U from the station's and recipe's budget
        self.store = store
        self.operator = operator
        self.lot = lot
        self.settings = station.config.timing
        self.reference: ReferenceMeasurement | None = None
        self.reference_id = ""
        self.reference_record: ReferenceRecord | None = None
        self.trusted_reference: ReferenceRecord | None = None  # set by a passing golden check
        self._looked_for_trusted = False
        self._trusted_before: ReferenceRecord | None = None
        self.tests_on_reference = 0
        self.health = ReferenceHealth(station.config.reference.golden, clock)  # golden check, bad-reference flag
        # A harness's fibers sit where its connectors plug in (bench.config.harness); a trunk's
        # at its ferrule positions.
        self.harness_plan = None if recipe.harness is None else plan_harness(
            recipe.harness, station.config.fixture_ports, station.config.source_path)
        if self.harness_plan is not None:
            self.fiber_positions = np.asarray(self.harness_plan.launch_positions, dtype=np.int64)
            self.expected_receive_position = np.asarray(self.harness_plan.receive_positions, dtype=np.int64)
        else:
            self.fiber_positions = fiber_positions(recipe.fiber_count)
            self.expected_receive_position = expected_receive_positions(recipe.fiber_count, recipe.polarity)
        policy = station.config.reference
        self.cord_ledger = CordLedger.beside(getattr(store, "path", None), warning_matings=policy.cord_warning_matings,
                                             retire_matings=policy.cord_retire_matings)
        self.cord_matings: dict[str, int] = {}  # counts after the mating of the cable being tested
        # One recovery budget for all instruments, reset for every cable and reference.
        self.retry_budget = RetryBudget(recoveries_per_cable)
        for instrument in station.opened:
            instrument.retry_budget = self.retry_budget

    def _after_fault(self) -> None:
        """After an ERROR the instruments' state is unknown: every setting is sent again next time."""
        for instrument in self.station.opened:
            instrument.invalidate_state()
            if instrument.link_suspect and instrument.replaced_by is None:
                try:  # a fresh link now, so that the next cable does not inherit this one's fault
                    instrument.reconnect()
                except InstrumentError:
                    pass  # still down: the next cable's first command reports it
        state = getattr(self.station.instruments, "state", None)
        if state is not None:
            self.station.instruments.state = type(state)()  # what the procedures last commanded

    def _bench_fault(self, measurement: CableMeasurement, error_queries: ErrorQueueQueries,
                     brightest: np.ndarray) -> BenchFault | None:
        """Faults of the bench hidden in a completed measurement (procedures.sanity)."""
        faults = error_queries.collect()
        if faults:
            return faults[0]
        return (check_light(measurement.matrix, self.station.instruments.source, brightest)
                or check_switch(self.station.instruments, measurement.matrix, self.settings, brightest))

    # -- reference ------------------------------------------------------------
    def take_reference(self, progress: Progress | None = None) -> ReferenceRecord:
        """Measure and store a reference over every fixture position at the recipe's wavelengths."""
        config = self.station.config
        self.cord_ledger.check(self.test_cords)  # a retired cord is not referenced again
        self.retry_budget.reset()
        try:
            measurement = measure_reference(
                self.station.instruments, wavelengths_nm=self.recipe.wavelengths_nm,
                launch_ports=config.launch_ports, method=config.reference.method,
                cord_ids=config.reference.cord_ids, settings=self.settings, progress=progress)
            faults = drain_error_queues(self.station.opened)
        except (InstrumentError, ReferenceProblem):
            self._after_fault()
            raise
        if faults or not measurement.matrix.settled.all():
            self._after_fault()
            raise ReferenceProblem(faults[0].describe() if faults else
                                   "a reference reading never settled (unstable source or meter); check the "
                                   "source's warm-up and the reference cords' connections, then re-reference")
        implausible = implausible_reference(
            measurement.reference_power_dbm, measurement.matrix.wavelengths_nm, tuple(config.launch_ports),
            config.reference, self._trusted_reference())
        if implausible:
            # The cords were handled: the earlier reference no longer describes them either.
            self.health.bad_reference = f"implausible reference: {implausible}"
            raise ReferenceProblem(self.health.bad_reference)
        record = ReferenceRecord(
            reference_id=uuid.uuid4().hex, method=measurement.method, taken_utc=iso_utc(measurement.taken_utc),
            station_name=config.name, operator=self.operator, cord_ids=measurement.cord_ids,
            wavelengths_nm=measurement.matrix.wavelengths_nm, launch_positions=tuple(config.launch_ports),
            receive_channels=tuple(range(1, measurement.matrix.power_w.shape[2] + 1)),
            reference_power_dbm=measurement.reference_power_dbm, power_matrix_dbm=measurement.matrix.power_dbm,
            instruments=tuple(self.station.identities()))
        self.store.add_reference(record)
        self.reference, self.reference_id, self.tests_on_reference = measurement, record.reference_id, 0
        self.reference_record = record
        self._trusted_before = self._trusted_reference()
        if config.reference.golden is None:
            self.trusted_reference = record  # nothing more will vouch for it
        self.health.new_reference()
        return record

    def _trusted_reference(self) -> ReferenceRecord | None:
        """What a new reference is compared with: the last one a golden check passed on (this
        session), else the store's latest such reference of this station and cords
        (`bench.store.latest_trusted_reference`; without a golden cable, its latest one of these
        cords). A reference the golden cable refused is never the yardstick, in this session or an
        earlier one, so the clean reference after a dirty one is not refused for differing."""
        if self.trusted_reference is None and not self._looked_for_trusted:
            self._looked_for_trusted = True
            path = getattr(self.store, "path", None)
            policy = self.station.config.reference
            self.trusted_reference = None if path is None else latest_trusted_reference(
                path, self.station.config.name, policy.cord_ids,
                golden_serial=None if policy.golden is None else policy.golden.serial)
        return self.trusted_reference

    @property
    def test_cords(self) -> tuple[str, ...]:
        """The reference cords and the harness fixture ports every cable tested here mates with."""
        ports = () if self.harness_plan is None else tuple(
            f"{self.station.config.name}:port-{port.label}" for _, port in self.harness_plan.binding)
        return (*self.station.config.reference.cord_ids, *ports)

    def reference_problem(self) -> str | None:
        """Why the current reference may not be used, or None if it may."""
        replaced = [instrument for instrument in self.station.opened if instrument.replaced_by is not None]
        if replaced:
            return f"{replaced[0].name}: {replaced[0].replacement_text()}"
        if self.reference is None:
            return "no reference has been taken on this station yet"
        policy = self.station.config.reference
        age_h = (self.clock() - self.reference.taken_utc).total_seconds() / 3600
        if age_h > policy.max_age_h:
            return f"the reference is {age_h:.1f} h old (limit {policy.max_age_h:g} h)"
        if self.tests_on_reference >= policy.max_tests:
            return f"{self.tests_on_reference} cables were tested on this reference (limit {policy.max_tests})"
        return self.health.problem()

    # -- cables ---------------------------------------------------------------
    def test_cable(self, serial: str, progress: Progress | None = None) -> CableOutcome:
        """Test one connected cable and store the attempt; never raises for an instrument fault."""
        serial = check_label("serial number", serial)
        self.recipe.check_serial(serial)
        problem = self.reference_problem()
        if problem:
            raise ReferenceRequired(f"{problem}; take a new reference before testing")
        assert self.reference is not None
        self.cord_ledger.check(self.test_cords)
        self.cord_matings = self.cord_ledger.mate(self.test_cords)  # the cable is connected: one mating each
        started = self.clock()
        self.retry_budget.reset()
        measurement: CableMeasurement | None = None
        verdict: CableVerdict | None = None
        polarity: PolarityResult | None = None
        try:
            measurement = measure_cable(self.station.instruments, self.reference, self.fiber_positions,
                                        self.expected_receive_position, wavelengths_nm=self.recipe.wavelengths_nm,
                                        settings=self.settings, progress=progress)
            # The error queries travel while the cable is classified and graded (no instrument
            # needed); both are thrown away if a bench fault turns up.
            error_queries = ErrorQueueQueries(self.station.opened)
            try:
                brightest = brightest_channels(measurement.matrix.power_dbm)
                polarity = self._polarity(measurement)
                verdict = grade_cable(self.recipe, measurement.insertion_loss_db, self.recipe.wavelengths_nm,
                                      light_went_to=polarity.light_went_to)
            except BaseException:
                error_queries.abandon()
                raise
            bench_fault = self._bench_fault(measurement, error_queries, brightest)
        except (InstrumentError, ReferenceProblem) as error:
            self._after_fault()
            return self._store(serial, started, Outcome.ERROR, (fault_cause(error),), None, None, None)
        except KeyboardInterrupt:
            self._store(serial, started, Outcome.ABORTED,
                        (Cause(CauseCode.OPERATOR_ABORT, "aborted by the operator (Ctrl-C) during measurement"),),
                        None, None, None)
            raise
        if bench_fault is not None:
            self._after_fault()
            return self._store(serial, started, Outcome.ERROR,
                               (Cause(CauseCode.BENCH_FAULT, f"bench fault: {bench_fault.describe()}"),),
                               measurement, None, None)
        assert polarity is not None and verdict is not None
        self.tests_on_reference += 1
        self.health.cable_tested(verdict, readings_trustworthy=not measurement.problems)
        if self.health.bad_reference and self.trusted_reference is self.reference_record:
            self.trusted_reference = self._trusted_before  # a negative IL disowns it as a yardstick
        outcome, causes = self._judged(verdict, measurement, polarity)
        details = [c.detail for c in causes] + ([verdict.summary] if verdict.summary else [])
        if measurement.problems:
            # The advice follows the problems; it is no cause.
            details.insert(len(measurement.problems), UNTRUSTWORTHY_ACTION)
            self._after_fault()
        return self._store(serial, started, outcome, tuple(causes), measurement, verdict, polarity, "; ".join(details))

    def _judged(self, verdict: CableVerdict, measurement: CableMeasurement,
                polarity: PolarityResult) -> tuple[Outcome, list[Cause]]:
        """The cable's outcome and causes: untrustworthy readings make it an ERROR, a wrong or
        unresolved polarity a FAIL, otherwise the grade stands."""
        outcome, causes = verdict.verdict, list(verdict.causes)
        if measurement.problems:
            return Outcome.ERROR, [*(Cause(CauseCode.READINGS_UNTRUSTWORTHY, p) for p in measurement.problems),
                                   *causes]
        if outcome == Outcome.ERROR:
            return outcome, causes
        if polarity.polarity_found != self.recipe.polarity:
            misrouted = list(polarity.mismatched_positions)
            detail = (f"polarity {polarity.polarity_found} found, recipe requires {self.recipe.polarity}"
                      + (f" (positions {misrouted} misrouted)" if misrouted else ""))
            return Outcome.FAIL, [Cause(CauseCode.POLARITY_MISMATCH, detail), *causes]
        if not polarity.ok:
            return Outcome.FAIL, [Cause(CauseCode.ROUTING_FAULT, polarity.describe()), *causes]
        return outcome, causes

    def _polarity(self, measurement: CableMeasurement) -> PolarityResult:
        assert self.reference is not None
        receive_position_of_channel = np.zeros(measurement.matrix.power_w.shape[2], dtype=np.int64)
        receive_position_of_channel[self.reference.reference_channel] = np.arange(
            1, self.reference.reference_channel.size + 1)
        if self.harness_plan is not None:
            return classify_wiring(measurement.matrix.power_dbm[0], receive_position_of_channel,
                                   positions=self.recipe.fiber_positions, expected=self.recipe.polarity,
                                   templates={self.recipe.polarity: self.harness_plan.receive_positions},
                                   isolation_threshold_db=self.recipe.limits.min_isolation_db)
        return classify_polarity(measurement.matrix.power_dbm[0], receive_position_of_channel,
                                 fiber_count=self.recipe.fiber_count, expected=self.recipe.polarity,
                                 isolation_threshold_db=self.recipe.limits.min_isolation_db)

    def _fiber_results(self, measurement: CableMeasurement, verdict: CableVerdict) -> tuple[FiberResult, ...]:
        assert self.reference is not None
        wavelengths = list(measurement.wavelengths_nm)
        index_of_position = {int(p): i for i, p in enumerate(self.recipe.fiber_positions)}
        rows = []
        for fiber in verdict.fibers:
            w, i = wavelengths.index(fiber.wavelength_nm), index_of_position[fiber.fiber_position]
            receive_channel = int(self.reference.reference_channel[self.expected_receive_position[i] - 1]) + 1
            rows.append(FiberResult(
                fiber_position=fiber.fiber_position, wavelength_nm=fiber.wavelength_nm,
                launch_position=int(measurement.matrix.launch_ports[i]), receive_channel=receive_channel,
                reference_power_dbm=float(measurement.reference_power_dbm[w, i]),
                dut_power_dbm=float(measurement.dut_power_dbm[w, i]),
                insertion_loss_db=float(measurement.insertion_loss_db[w, i]), limit_db=fiber.limit_db,
                margin_db=fiber.margin_db, verdict=fiber.verdict, reason=fiber.reason))
        return tuple(rows)

    def _store(self, serial: str, started: dt.datetime, outcome: Outcome, causes: tuple[Cause, ...],
               measurement: CableMeasurement | None, verdict: CableVerdict | None,
               polarity: PolarityResult | None, reason: str | None = None) -> CableOutcome:
        reason = reason_text(causes) if reason is None else reason
        rule = self.recipe.decision_rule
        finished = self.clock()
        cycle_time_s = (finished - started).total_seconds()
        wavelengths = tuple(self.recipe.wavelengths_nm)
        matrix = (measurement.matrix.power_dbm if measurement is not None
                  else np.zeros((len(wavelengths), 0, 0)))
        record = CableRecord(
            serial=serial, lot=self.lot, attempt=self.store.next_attempt(serial), recipe_name=self.recipe.name,
            recipe_snapshot=self.recipe.as_dict(), station_name=self.station.config.name, operator=self.operator,
            software_version=software_version(), started_utc=iso_utc(started), finished_utc=iso_utc(finished),
            outcome=outcome, reason=reason, causes=causes, decision_rule=rule.kind, uncertainty_db=rule.expanded_u_db,
            coverage_factor=rule.coverage_factor, reference_id=self.reference_id,
            polarity_found=polarity.polarity_found if polarity else "", instruments=tuple(self.station.identities()),
            wavelengths_nm=wavelengths, power_matrix_dbm=matrix,
            fibers=self._fiber_results(measurement, verdict) if measurement is not None and verdict else (),
            extra={"settle_time_s_max": float(measurement.matrix.settle_time_s.max()) if measurement else None,
                   "cycle_time_s": cycle_time_s,
                   # Achieved vs the instruments' floor for the order used (procedures.timing).
                   **(cycle_timing(measurement, cycle_time_s) if measurement else {}),
                   "polarity": polarity.as_dict() if polarity else None,
                   **({"calibration_overdue": self.calibration_overdue} if self.calibration_overdue else {}),
                                      "cable_setup": {**cable_setup(self.recipe, self.station.config),
                                   **leg_results(self.recipe, self.harness_plan, verdict, polarity)},
                   "cord_matings": dict(self.cord_matings),
                   "uncertainty_budget": rule_budget(rule),
                   "cord_wear_warnings": self.cord_ledger.warnings(self.test_cords),
                   # link faults recovered during this attempt (drivers.scpi): the record tells the truth
                   **({"recoveries": [r.as_dict() for r in self.retry_budget.used]}
                      if self.retry_budget.used else {})})
        index = self.store.append_cable(record)
        # Kept for the caller of an interrupted test_cable (the ABORTED record's index and times).
        self.last_stored = CableOutcome(record, index, verdict, measurement, polarity)
        return self.last_stored
