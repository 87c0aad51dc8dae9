"""Records of a session's other measurements (golden checks, studies), with the session's provenance.

Every such measurement is stored as a CableRecord of its own `kind`, cited by the same station,
operator, reference and instruments as a cable test, so the store and the reports read one shape.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.clock import iso_utc
from bench.grading.uncertainty import rule_budget
from bench.records import CableRecord, Cause, CauseCode, FiberResult
from bench.run.session import ReferenceRequired, TestSession, software_version
from procedures.results import CableMeasurement

# Fixed-width store fields (bench/store/schema.py); the store refuses longer text.
REASON_BYTES, FIBER_REASON_BYTES = 256, 128


def clip_text(text: str, limit_bytes: int) -> str:
    """`text` shortened to fit `limit_bytes` of UTF-8, marked with an ellipsis when cut."""
    data = text.encode("utf-8")
    if len(data) <= limit_bytes:
        return text
    return data[: limit_bytes - 3].decode("utf-8", errors="ignore") + "…"


def untrustworthy_causes(measurement: CableMeasurement) -> tuple[Cause, ...]:
    """One cause per problem the measurement reported (unsettled readings, a detector over range)."""
    return tuple(Cause(CauseCode.READINGS_UNTRUSTWORTHY, problem) for problem in measurement.problems)


def fiber_rows(session: TestSession, measurement: CableMeasurement, positions: Sequence[int],
               expected_receive_position: Sequence[int], limit_db: np.ndarray, verdicts: np.ndarray,
               reasons: np.ndarray, insertion_loss_db: np.ndarray | None = None) -> tuple[FiberResult, ...]:
    """FiberResult rows [wavelength-major] from arrays shaped [wavelength, fiber]."""
    assert session.reference is not None
    il = measurement.insertion_loss_db if insertion_loss_db is None else insertion_loss_db
    rows = []
    for w, wavelength in enumerate(measurement.wavelengths_nm):
        for i, position in enumerate(positions):
            receive_channel = int(session.reference.reference_channel[int(expected_receive_position[i]) - 1]) + 1
            rows.append(FiberResult(
                fiber_position=int(position), wavelength_nm=float(wavelength),
                launch_position=int(measurement.matrix.launch_ports[i]), receive_channel=receive_channel,
                reference_power_dbm=float(measurement.reference_power_dbm[w, i]),
                dut_power_dbm=float(measurement.dut_power_dbm[w, i]), insertion_loss_db=float(il[w, i]),
                limit_db=float(limit_db[w, i]), margin_db=float(limit_db[w, i] - il[w, i]),
                verdict=str(verdicts[w, i]), reason=clip_text(str(reasons[w, i]), FIBER_REASON_BYTES)))
    return tuple(rows)


def build_record(session: TestSession, *, serial: str, kind: str, started: dt.datetime, outcome: str,
                 reason: str, measurement: CableMeasurement | None, fibers: tuple[FiberResult, ...],
                 extra: dict[str, Any], recipe_snapshot: dict[str, Any] | None = None,
                 causes: tuple[Cause, ...] = ()) -> CableRecord:
    """A CableRecord of `kind` with the session's provenance (station, operator, reference, instruments)."""
    rule = session.recipe.decision_rule
    wavelengths = tuple(measurement.wavelengths_nm) if measurement is not None else tuple(session.recipe.wavelengths_nm)
    matrix = measurement.matrix.power_dbm if measurement is not None else np.zeros((len(wavelengths), 0, 0))
    extra = {**extra, "uncertainty_budget": rule_budget(rule)}
    if measurement is not None:
        extra = {**extra, "settle_time_s_max": float(measurement.matrix.settle_time_s.max()),
                 "problems": list(measurement.problems)}
    return CableRecord(
        serial=serial, lot=session.lot, attempt=session.store.next_attempt(serial),
        recipe_name=str((recipe_snapshot or {}).get("name", session.recipe.name)),
        recipe_snapshot=recipe_snapshot or session.recipe.as_dict(), station_name=session.station.config.name,
        operator=session.operator, software_version=software_version(), started_utc=iso_utc(started),
        finished_utc=iso_utc(session.clock()), outcome=outcome, reason=clip_text(reason, REASON_BYTES),
        decision_rule=rule.kind, uncertainty_db=rule.expanded_u_db, coverage_factor=rule.coverage_factor,
        reference_id=session.reference_id, polarity_found="", instruments=tuple(session.station.identities()),
        wavelengths_nm=wavelengths, power_matrix_dbm=matrix, fibers=fibers, kind=kind, extra=extra, causes=causes)


def require_reference(session: TestSession) -> None:
    """Refuse a study or check when the session's reference may not be used (same reasons as a cable test)."""
    problem = session.reference_problem()
    if problem:
        raise ReferenceRequired(f"{problem}; take a new reference before the study")
