"""Flat, versioned records that the store persists.

These are the contract between the orchestration (which fills them) and the
store (which writes them). They hold plain values only, so a record can be
hashed, exported to JSON and compared after a round trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Outcomes of a cable record, from best to worst. ERROR means the measurement
# itself could not be trusted (instrument fault); ABORTED means the operator
# stopped it. Neither is ever a PASS or a FAIL.
OUTCOMES = ("PASS", "CONDITIONAL", "FAIL", "ERROR", "ABORTED")


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
