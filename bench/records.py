"""Flat, versioned records that the store persists.

These are the contract between the orchestration (which fills them) and the
store (which writes them). They hold plain values only, so a record can be
hashed, exported to JSON and compared after a round trip.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np


class Outcome(StrEnum):
    """Outcome of a cable record and verdict of a fiber, from best to worst.

    ERROR means the measurement itself could not be trusted (instrument fault); ABORTED means
    the operator stopped it. Neither is ever a PASS or a FAIL. The values are the strings the
    store and the JSON output have always held, so a member compares equal to its stored text.
    """

    PASS = "PASS"
    CONDITIONAL = "CONDITIONAL"
    FAIL = "FAIL"
    ERROR = "ERROR"
    ABORTED = "ABORTED"


# Every outcome a record may hold, best to worst (what the store accepts).
OUTCOMES = tuple(Outcome)
# What grading can conclude (ABORTED is the operator's, never a grade), best to worst.
VERDICTS = (Outcome.PASS, Outcome.CONDITIONAL, Outcome.FAIL, Outcome.ERROR)
_SEVERITY = {outcome: rank for rank, outcome in enumerate(OUTCOMES)}


def worst_verdict(verdicts: Iterable[str]) -> Outcome:
    """The governing verdict of several: ERROR > FAIL > CONDITIONAL > PASS (PASS if none)."""
    return max((Outcome(v) for v in verdicts), key=_SEVERITY.__getitem__, default=Outcome.PASS)


class CauseCode(StrEnum):
    """Why a record is not a PASS, as a stable code a program can count and filter on.

    The values are stored (schema v3) and documented in docs/causes.md: a code is never renamed
    or given a new meaning; a new kind of cause gets a new code. The sentence for people is the
    cause's `detail`.
    """

    # grading (bench.grading.cable)
    FIBER_OVER_LIMIT = "fiber_over_limit"
    FIBER_NEAR_LIMIT = "fiber_near_limit"
    NO_LIGHT = "no_light"
    BAD_REFERENCE = "bad_reference"
    MEAN_OVER_LIMIT = "mean_over_limit"
    MEAN_NEAR_LIMIT = "mean_near_limit"
    WAVELENGTH_NOT_MEASURED = "wavelength_not_measured"
    # the cable's routing (procedures.polarity)
    POLARITY_MISMATCH = "polarity_mismatch"
    ROUTING_FAULT = "routing_fault"
    # the measurement itself
    READINGS_UNTRUSTWORTHY = "readings_untrustworthy"
    BENCH_FAULT = "bench_fault"
    INSTRUMENT_TIMEOUT = "instrument_timeout"
    INSTRUMENT_ERROR = "instrument_error"
    INSTRUMENT_OVER_RANGE = "instrument_over_range"
    WRONG_INSTRUMENT = "wrong_instrument"
    INSTRUMENT_REPLACED = "instrument_replaced"
    INSTRUMENT_FAULT = "instrument_fault"
    REFERENCE_UNUSABLE = "reference_unusable"
    OPERATOR_ABORT = "operator_abort"
    # checks and studies (bench.run)
    GOLDEN_DRIFT = "golden_drift"
    REPEATABILITY_OUT_OF_SPEC = "repeatability_out_of_spec"
    DURABILITY_DELTA_EXCEEDED = "durability_delta_exceeded"
    # read from a record stored before causes were (schema v1, v2): the detail is its reason text
    UNCLASSIFIED = "unclassified"


@dataclass(frozen=True)
class Cause:
    """One reason for an outcome: a stable `code` and the sentence that explains it.

    The shape of OpenHTF's outcome details (code, description): programs read the code,
    people the detail. A record's `reason` is its causes' details joined for display.
    """

    code: CauseCode
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"code": str(self.code), "detail": self.detail}


def reason_text(causes: Iterable[Cause]) -> str:
    """The one line a record's `reason` shows for its causes."""
    return "; ".join(c.detail for c in causes)


@dataclass(frozen=True)
class FiberResult:
    """One fiber at one wavelength."""

    fiber_position: int
    wavelength_nm: float
    launch_position: int
    receive_channel: int
    reference_power_dbm: float
    dut_power_dbm: float
    insertion_loss_db: float
    limit_db: float
    margin_db: float
    verdict: str
    reason: str = ""


@dataclass(frozen=True)
class ReferenceRecord:
    """A reference measurement, stored once and cited by every cable tested against it."""

    reference_id: str
    method: str
    taken_utc: str
    station_name: str
    operator: str
    cord_ids: tuple[str, ...]
    wavelengths_nm: tuple[float, ...]
    launch_positions: tuple[int, ...]
    receive_channels: tuple[int, ...]
    reference_power_dbm: np.ndarray  # [wavelength, launch]
    power_matrix_dbm: np.ndarray  # [wavelength, launch, receive]
    instruments: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class CableRecord:
    """One test attempt of one cable: provenance, the full power matrix, per-fiber results."""

    serial: str
    lot: str
    attempt: int
    recipe_name: str
    recipe_snapshot: dict[str, Any]
    station_name: str
    operator: str
    software_version: str
    started_utc: str
    finished_utc: str
    outcome: str
    reason: str
    decision_rule: str
    uncertainty_db: float
    coverage_factor: float
    reference_id: str
    polarity_found: str
    instruments: tuple[dict[str, str], ...]
    wavelengths_nm: tuple[float, ...]
    power_matrix_dbm: np.ndarray  # [wavelength, launch, receive]
    fibers: tuple[FiberResult, ...]
    kind: str = "insertion_loss"
    extra: dict[str, Any] = field(default_factory=dict)
    # Why the outcome is not a PASS, as codes (empty for a PASS); `reason` is the sentence for people.
    causes: tuple[Cause, ...] = ()
