"""Qualification studies on the bench: repeatability (gauge) and mating durability, stored.

Store layout (see docs/procedures.md): every measurement of a study is one
CableRecord of the study's serial, so `load_results(path, serial=...)` finds
them and `cables["kind"]` tells them apart:

* ``repeatability``          one record per mating; extra: study_id, mating, matings
* ``repeatability_summary``  one record per study; fibers carry the mean IL;
                             extra: study_id, mean/sigma/range [wavelength][fiber], mating record indices
* ``durability``             one record per logged checkpoint; extra: study_id, cycle, plan, delta_il_db
                             [wavelength][fiber]; fibers are graded on ΔIL (limit_db = baseline + ΔIL limit)
* ``durability_summary``     written once the last cycle is logged; extra: study_id, verdict, max |ΔIL|

Insertion-loss re-test policies only look at kind "insertion_loss".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.grading.cable import CableVerdict, grade_cable
from bench.records import Cause, CauseCode, FiberResult, Outcome
from bench.run.session import TestSession
from bench.run.session_records import build_record, fiber_rows, require_reference, untrustworthy_causes
from bench.store import load_results
from procedures.durability import DurabilityCheckpoint, DurabilityPlan, DurabilityResult, run_durability
from procedures.operator import Operator
from procedures.repeatability import RepeatabilityResult, RepeatabilitySettings, run_repeatability
from procedures.results import CableMeasurement

REPEATABILITY, REPEATABILITY_SUMMARY = "repeatability", "repeatability_summary"
DURABILITY, DURABILITY_SUMMARY = "durability", "durability_summary"

def graded_fiber_rows(session: TestSession,
                      measurement: CableMeasurement) -> tuple[tuple[FiberResult, ...], CableVerdict]:
    """Rows graded against the session's recipe, and the cable verdict."""
    verdict = grade_cable(session.recipe, measurement.insertion_loss_db, measurement.wavelengths_nm)
    shape = measurement.insertion_loss_db.shape
    limit = np.array([f.limit_db for f in verdict.fibers]).reshape(shape)
    verdicts = np.array([f.verdict for f in verdict.fibers]).reshape(shape)
    reasons = np.array([f.reason for f in verdict.fibers]).reshape(shape)
    rows = fiber_rows(session, measurement, session.fiber_positions, session.expected_receive_position,
                      limit, verdicts, reasons)
    return rows, verdict


# -- repeatability ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RepeatabilityStudy:
    study_id: str
    result: RepeatabilityResult
    mating_records: tuple[int, ...]
    summary_record: int
    outcome: str


def repeatability_study(session: TestSession, serial: str, operator: Operator,
                        settings: RepeatabilitySettings | None = None, *,
                        study_id: str | None = None) -> RepeatabilityStudy:
    """N re-matings of one cable: each mating stored as it is measured, then the summary."""
    settings = settings or RepeatabilitySettings()
    session.recipe.check_serial(serial)
    require_reference(session)
    assert session.reference is not None
    study_id = study_id or uuid.uuid4().hex
    indices: list[int] = []

    def store_mating(mating: int, measurement: CableMeasurement) -> None:
        started = measurement.matrix.started_utc
        fibers, verdict = graded_fiber_rows(session, measurement)
        outcome = Outcome.ERROR if measurement.problems else verdict.verdict
        causes = (*untrustworthy_causes(measurement), *verdict.causes)
        record = build_record(session, serial=serial, kind=REPEATABILITY, started=started, outcome=outcome,
                              causes=causes,
                              reason=f"repeatability mating {mating} of {settings.matings}", measurement=measurement,
                              fibers=fibers, extra={"study_id": study_id, "mating": mating,
                                                    "matings": settings.matings})
        indices.append(session.store.append_cable(record))

    started = session.clock()
    result = run_repeatability(session.station.instruments, session.reference, operator, serial=serial,
                               fiber_positions=session.fiber_positions,
                               expected_receive_position=session.expected_receive_position, settings=settings,
                               wavelengths_nm=session.recipe.wavelengths_nm, acquisition=session.settings,
                               on_mating=store_mating)
    problems = result.problems()
    outcome = Outcome.FAIL if problems else Outcome.PASS
    mean, sigma, spread = result.mean_db, result.sigma_db, result.range_db
    worst = float(np.nanmax(sigma)) if np.isfinite(sigma).any() else float("nan")
    reason = "; ".join(problems) if problems else (
        f"{result.matings} matings; largest σ {worst:.4f} dB, largest range {float(np.nanmax(spread)):.4f} dB")
    limit = np.array([[session.recipe.max_il_db(w) for _ in session.fiber_positions]
                      for w in result.wavelengths_nm])
    verdicts = np.full(mean.shape, Outcome.PASS, dtype=object)
    reasons = np.empty(mean.shape, dtype=object)
    for w, wavelength in enumerate(result.wavelengths_nm):
        for i, position in enumerate(result.fiber_positions):
            bad = [p for p in problems if p.startswith(f"fiber {position} at {wavelength:g} nm")]
            verdicts[w, i] = Outcome.FAIL if bad else Outcome.PASS
            reasons[w, i] = (f"mean {mean[w, i]:.3f} dB, σ {sigma[w, i]:.4f} dB, range {spread[w, i]:.4f} dB")
    last = result.measurements[-1]
    summary = build_record(
        session, serial=serial, kind=REPEATABILITY_SUMMARY, started=started, outcome=outcome, reason=reason,
        measurement=None, causes=tuple(Cause(CauseCode.REPEATABILITY_OUT_OF_SPEC, p) for p in problems),
        fibers=fiber_rows(session, last, session.fiber_positions, session.expected_receive_position, limit,
                          verdicts, reasons, insertion_loss_db=mean),
        extra={"study_id": study_id, "matings": result.matings, "mating_records": indices,
               "fiber_positions": list(result.fiber_positions), "wavelengths_nm": list(result.wavelengths_nm),
               "mean_db": mean.tolist(), "sigma_db": sigma.tolist(), "range_db": spread.tolist(),
               "max_sigma_db": settings.max_sigma_db, "max_range_db": settings.max_range_db})
    summary_index = session.store.append_cable(summary)
    return RepeatabilityStudy(study_id, result, tuple(indices), summary_index, outcome)


# -- durability ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DurabilityStudy:
    study_id: str
    result: DurabilityResult
    resumed_from_cycle: int | None  # last cycle already in the store when this run started
    checkpoint_records: tuple[int, ...]  # written by this run
    summary_record: int | None  # None until the study is complete


def stored_durability(store_path: str, serial: str, study_id: str | None = None
                      ) -> tuple[str | None, list[DurabilityCheckpoint], bool, dict[str, Any]]:
    """What the store holds of a durability study of `serial`.

    With `study_id` None: the latest study of the serial that has no summary yet
    (an interrupted one). Returns (study_id, checkpoints, finished, plan dict).
    """
    results = load_results(store_path, serial=serial)
    rows = results.cables
    rows = rows[np.isin(rows["kind"], [DURABILITY, DURABILITY_SUMMARY])]
    by_study: dict[str, list[tuple[str, int]]] = {}
    for kind, index in zip(rows["kind"], rows["record_index"], strict=True):
        extra_study = results.extra(int(index)).get("study_id", "")
        by_study.setdefault(extra_study, []).append((str(kind), int(index)))
    if study_id is None:
        open_studies = [s for s, items in by_study.items() if all(k == DURABILITY for k, _ in items)]
        if not open_studies:
            return None, [], False, {}
        study_id = max(open_studies, key=lambda s: max(i for _, i in by_study[s]))
    items = by_study.get(study_id, [])
    finished = any(k == DURABILITY_SUMMARY for k, _ in items)
    checkpoints, plan = [], {}
    for kind, index in items:
        if kind != DURABILITY:
            continue
        extra = results.extra(index)
        plan = extra.get("plan", plan)
        il = np.array(extra["insertion_loss_db"], dtype=float)
        delta = np.array(extra["delta_il_db"], dtype=float)
        checkpoints.append(DurabilityCheckpoint(int(extra["cycle"]), il, delta, float(plan["max_delta_il_db"])))
    checkpoints.sort(key=lambda c: c.cycle)
    return study_id, checkpoints, finished, plan


def durability_study(session: TestSession, serial: str, operator: Operator, plan: DurabilityPlan | None = None,
                     *, study_id: str | None = None, resume: bool = True,
                     stop_after_cycle: int | None = None) -> DurabilityStudy:
    """Run a mating-durability study, or resume the interrupted one of this serial from the store.

    Each checkpoint is stored as soon as it is measured, so an interruption
    (Ctrl-C, power cut, end of shift via `stop_after_cycle`) loses at most the
    cycles since the last checkpoint. On resume the plan stored with the study
    is used, so a restart cannot change the limits half-way.
    """
    session.recipe.check_serial(serial)
    require_reference(session)
    assert session.reference is not None
    previous: list[DurabilityCheckpoint] = []
    resumed_from: int | None = None
    if resume and hasattr(session.store, "path"):
        found_id, previous, finished, stored_plan = stored_durability(session.store.path, serial, study_id)
        if found_id is not None and not finished and previous:
            study_id = found_id
            plan = DurabilityPlan(int(stored_plan["cycles"]), int(stored_plan["log_every"]),
                                  float(stored_plan["max_delta_il_db"]))
            resumed_from = previous[-1].cycle
        else:
            previous = []
    plan = plan or DurabilityPlan()
    study_id = study_id or uuid.uuid4().hex
    plan_dict = {"cycles": plan.cycles, "log_every": plan.log_every, "max_delta_il_db": plan.max_delta_il_db}
    indices: list[int] = []
    baseline: list[np.ndarray] = [previous[0].insertion_loss_db] if previous else []

    def store_checkpoint(checkpoint: DurabilityCheckpoint) -> None:
        measurement = checkpoint.measurement
        assert measurement is not None
        if not baseline:
            baseline.append(checkpoint.insertion_loss_db)
        limit = baseline[0] + plan.max_delta_il_db
        failing = checkpoint.failing
        verdicts = np.where(failing, Outcome.FAIL, Outcome.PASS)
        reasons = np.empty(failing.shape, dtype=object)
        for (w, i), delta in np.ndenumerate(checkpoint.delta_il_db):
            relation = ">" if failing[w, i] else "<="
            reasons[w, i] = (f"cycle {checkpoint.cycle}: no light" if not np.isfinite(delta) else
                             f"cycle {checkpoint.cycle}: |ΔIL| {abs(delta):.3f} {relation} "
                             f"{plan.max_delta_il_db:.3f} dB")
        outcome = Outcome.ERROR if measurement.problems else (Outcome.FAIL if failing.any() else Outcome.PASS)
        exceeded = tuple(Cause(CauseCode.DURABILITY_DELTA_EXCEEDED,
                               f"fiber {session.fiber_positions[i]} at {measurement.wavelengths_nm[w]:g} nm: "
                               f"{reasons[w, i]}") for w, i in zip(*np.nonzero(failing), strict=True))
        delta_abs = np.abs(checkpoint.delta_il_db)
        worst = float(np.nanmax(delta_abs)) if np.isfinite(delta_abs).any() else float("nan")
        record = build_record(
            session, serial=serial, kind=DURABILITY, started=measurement.matrix.started_utc, outcome=outcome,
            reason=f"durability cycle {checkpoint.cycle} of {plan.cycles}: max |ΔIL| {worst:.3f} dB "
                   f"(limit {plan.max_delta_il_db:.3f} dB)",
            measurement=measurement, causes=(*untrustworthy_causes(measurement), *exceeded),
            fibers=fiber_rows(session, measurement, session.fiber_positions, session.expected_receive_position,
                              limit, verdicts, reasons),
            extra={"study_id": study_id, "cycle": checkpoint.cycle, "plan": plan_dict,
                   "insertion_loss_db": checkpoint.insertion_loss_db.tolist(),
                   "delta_il_db": checkpoint.delta_il_db.tolist()})
        indices.append(session.store.append_cable(record))

    result = run_durability(session.station.instruments, session.reference, operator, serial=serial,
                            fiber_positions=session.fiber_positions,
                            expected_receive_position=session.expected_receive_position, plan=plan,
                            wavelengths_nm=session.recipe.wavelengths_nm, acquisition=session.settings,
                            previous=previous, on_checkpoint=store_checkpoint, stop_after_cycle=stop_after_cycle)
    summary_index = None
    if result.completed:
        summary = build_record(
            session, serial=serial, kind=DURABILITY_SUMMARY, started=session.clock(), outcome=result.verdict,
            reason=result.describe(), measurement=None, fibers=(),
            causes=((Cause(CauseCode.DURABILITY_DELTA_EXCEEDED, result.describe()),)
                    if result.verdict == Outcome.FAIL else ()),
            extra={"study_id": study_id, "plan": plan_dict, "verdict": result.verdict,
                   "max_abs_delta_db": result.max_abs_delta_db, "failing_positions": result.failing_positions(),
                   "checkpoint_cycles": [c.cycle for c in result.checkpoints]})
        summary_index = session.store.append_cable(summary)
    return DurabilityStudy(study_id, result, resumed_from, tuple(indices), summary_index)
