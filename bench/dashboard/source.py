"""What the dashboard's pages show, and the interface every data source implements.

Two sources implement `DashboardSource`: one station's HDF5 store (`bench.dashboard.hdf5_source`)
and the fleet database (`bench.dashboard.fleet_source`). Each computes the same plain views, so a
page and its tests do not care where the numbers came from. Definitions every source keeps:

* a *cable* is a serial; only insertion-loss attempts count (study and golden-check records are not
  cables under test);
* *yield* is the share of cables whose latest attempt in the group passed (PASS); *first-pass yield*
  the share of cables first tested in the group (attempt 1) whose first attempt passed;
* a lot's *IL distributions*, *heatmap* and *Pareto* use each serial's latest attempt that reached a
  verdict (PASS, CONDITIONAL or FAIL), so a retested cable counts once;
* a *cause* in the Pareto is counted once per cable: "IL over limit at position p", "IL within the
  uncertainty of the limit at position p", "no light at position p", or the cable's ERROR/ABORTED.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

import numpy as np

IL_KIND = "insertion_loss"
GOLDEN_KIND = "golden_check"
VERDICT_OUTCOMES = ("PASS", "CONDITIONAL", "FAIL")


@dataclass(frozen=True)
class YieldRow:
    """One group (station and product, or a lot) over a period."""

    station_name: str
    recipe_name: str
    cables: int  # distinct serials tested
    passed: int  # of them, latest attempt PASS
    first_tested: int  # serials whose attempt 1 is in the group
    first_pass: int  # of them, attempt 1 PASS

    @property
    def yield_fraction(self) -> float | None:
        return self.passed / self.cables if self.cables else None

    @property
    def first_pass_yield(self) -> float | None:
        return self.first_pass / self.first_tested if self.first_tested else None


@dataclass(frozen=True)
class LotRow:
    lot: str
    cables: int
    passed: int  # latest attempt PASS
    first_test_utc: str
    last_test_utc: str


@dataclass(frozen=True)
class PlantDay:
    day: dt.date
    rows: tuple[YieldRow, ...]  # per station and product, sorted
    total: YieldRow
    lots: tuple[LotRow, ...]  # lots with a test that day
    last_test_utc: str  # "" when nothing was tested


@dataclass(frozen=True)
class RetestRow:
    serial: str
    attempts: tuple[tuple[int, str], ...]  # (attempt, outcome) in attempt order
    final: str  # the latest attempt that reached a verdict (else the latest attempt's outcome)


@dataclass(frozen=True)
class CableRow:
    serial: str
    attempts: int
    latest_attempt: int
    outcome: str  # of the latest attempt
    max_il_db: float  # of the latest attempt, NaN if nothing was lit
    reason: str
    measured: bool  # the latest attempt has per-fiber results (so a certificate)


@dataclass(frozen=True)
class LotView:
    lot: str
    recipe_names: tuple[str, ...]
    station_names: tuple[str, ...]
    first_test_utc: str
    last_test_utc: str
    outcome_counts: dict[str, int]  # latest attempt of each serial
    attempt_counts: dict[str, int]  # every attempt
    il_by_wavelength: dict[float, np.ndarray]  # lit readings of the latest verdict attempts
    limit_by_wavelength: dict[float, float]  # the largest limit applied (NaN if none)
    position_mean_il: dict[float, dict[int, float]]  # wavelength → fiber position → mean IL
    pareto: tuple[tuple[str, int], ...]  # (cause, cables), most frequent first
    retests: tuple[RetestRow, ...]
    cables: tuple[CableRow, ...]
    # SUSPECT marks (bench.store.annotations; fleet.annotations): (serial, attempt, why); None: not known.
    suspect: tuple[tuple[str, int, str], ...] | None = None


@dataclass(frozen=True)
class ReferenceRow:
    reference_id: str
    method: str
    taken_utc: str
    operator: str
    cord_ids: tuple[str, ...]
    cables_tested: int  # insertion-loss attempts that cite it


@dataclass(frozen=True)
class GoldenRow:
    """One golden-cable check. Its fiber limits are the expected IL plus the tolerance, so the
    smallest margin is how close the check came to calling the bench drifted (< 0: it did)."""

    started_utc: str
    serial: str
    reference_id: str
    outcome: str
    mean_il_db: float  # over every lit reading of the check (NaN if none)
    min_margin_db: float  # NaN if nothing was lit


@dataclass(frozen=True)
class InstrumentRow:
    name: str
    manufacturer: str
    model: str
    serial_number: str
    calibration_due: str  # as the station file gives it ("" when not given)


@dataclass(frozen=True)
class StationView:
    station_name: str
    cables_tested: int  # insertion-loss attempts
    references: tuple[ReferenceRow, ...]
    golden_checks: tuple[GoldenRow, ...]
    cord_matings: dict[str, int]  # cord id → cables tested with it (each test mates the cords once)
    instruments: tuple[InstrumentRow, ...]  # as the station's latest record lists them, by name


@dataclass(frozen=True)
class FiberLine:
    fiber_position: int
    wavelength_nm: float
    launch_position: int
    receive_channel: int
    insertion_loss_db: float
    limit_db: float
    margin_db: float
    verdict: str
    reason: str


@dataclass(frozen=True)
class Attempt:
    record_index: int
    attempt: int
    kind: str
    started_utc: str
    station_name: str
    recipe_name: str
    lot: str
    operator: str
    outcome: str
    reason: str
    reference_id: str
    polarity_found: str
    fibers: tuple[FiberLine, ...]
    has_certificate: bool


@dataclass(frozen=True)
class SerialView:
    serial: str
    attempts: tuple[Attempt, ...]  # storage order
    final: str


@dataclass(frozen=True)
class SpcSeries:
    """IL of one product at one wavelength and ferrule position, cable by cable in test order.

    The baseline is the product's first cables, the recent window its latest (they may overlap);
    only insertion-loss attempts that reached a verdict count, and only their lit, graded readings.
    """

    wavelength_nm: float
    fiber_position: int
    baseline: np.ndarray
    recent: np.ndarray
    recent_cable_numbers: tuple[int, ...]  # 0-based number of each recent reading's cable in the product
    recent_serials: tuple[str, ...]
    recent_started_utc: tuple[str, ...]
    limit_db: float  # the largest limit applied in the recent window (NaN if none)


@dataclass(frozen=True)
class SpcProduct:
    recipe_name: str
    cables: int  # the product's cables (attempts with a verdict) so far
    baseline_cables: int  # how many of them the baseline holds
    series: dict[tuple[float, int], SpcSeries]  # (wavelength, fiber position) → series


@dataclass(frozen=True)
class ProductRow:
    recipe_name: str
    cables: int  # insertion-loss attempts that reached a verdict


class DashboardSource(Protocol):
    """Read-only access to results; every method returns None (or empty) for what is not there."""

    description: str  # e.g. "HDF5 store /data/bench.h5", shown in every page footer
    serves_certificates: bool  # certificate_pdf() can draw one (it needs the stored power matrices)

    def plant_day(self, day: dt.date) -> PlantDay: ...

    def lot(self, lot: str) -> LotView | None: ...

    def station_names(self) -> tuple[str, ...]: ...

    def station(self, station_name: str) -> StationView | None: ...

    def serial(self, serial: str) -> SerialView | None: ...

    def certificate_pdf(self, serial: str, attempt: int) -> bytes | None: ...

    def products(self) -> tuple[ProductRow, ...]: ...

    def spc_product(self, recipe_name: str, *, baseline_cables: int, recent_cables: int) -> SpcProduct | None: ...


def final_outcome(attempts: tuple[tuple[int, str], ...]) -> str:
    """The latest attempt that reached a verdict, else the latest attempt's own outcome."""
    decided = [outcome for _, outcome in attempts if outcome in VERDICT_OUTCOMES]
    if decided:
        return decided[-1]
    return attempts[-1][1] if attempts else "NOT TESTED"


def cause_of(verdict: str, insertion_loss_db: float, fiber_position: int) -> str:
    """The Pareto cause of one non-passing fiber reading."""
    if not np.isfinite(insertion_loss_db):
        return f"no light at position {fiber_position}"
    if verdict == "CONDITIONAL":
        return f"IL within the uncertainty of the limit at position {fiber_position}"
    return f"IL over limit at position {fiber_position}"
