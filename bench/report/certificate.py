"""Per-cable test certificate (PDF): what was tested, how, against which limits, with what result.

`CertificateData` is everything a certificate shows, as plain values taken from a stored
`CableRecord` (and its `ReferenceRecord`), so a certificate printed a year later says what the
bench said on the day: the certificate number (`<station>-<record index>`, unique in the store
because record numbers are never reused), the issuer and approval block (`bench.report.issuer`),
the standard and reference method, every instrument with serial, calibration date and due date,
the decision rule and uncertainty, polarity and fiber map, test cords, the verdict with its
reasons and the per-fiber table. `bench.report.certificate_pdf` draws and writes it;
`bench.report.queue` writes certificates off the measurement path.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.config.cable_fit import setup_rows
from bench.config.decision_rule import DecisionRule
from bench.errors import BenchError
from bench.grading.uncertainty import DECLARED_TEXT, UncertaintyBudget
from bench.records import CableRecord, FiberResult, Outcome, ReferenceRecord
from bench.report.issuer import CertificateIssuer
from bench.store import load_references, load_results

STANDARD = "IEC 61280-4-5 / TIA-526-28"
METHOD_TEXT = {
    "1-cord": "1-cord reference (both end connections included in the result)",
    "2-cord": "2-cord reference (one end connection included in the result)",
    "3-cord": "3-cord reference (end connections not included in the result)",
}


def _utc_text(stamp: str) -> str:
    """'2026-05-01T12:34:56.123456Z' → '2026-05-01 12:34:56 UTC' (unchanged if it does not parse)."""
    try:
        moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def certificate_number(station_name: str, record_index: int | None) -> str:
    """`<station>-<record index>`: unique in a store, since record numbers are never reused."""
    return f"{station_name}-{record_index}" if record_index is not None else f"{station_name}-unnumbered"


@dataclass(frozen=True)
class FiberRow:
    """One fiber position with its readings at every wavelength (NaN where none)."""

    fiber_position: int
    insertion_loss_db: tuple[float, ...]
    limit_db: tuple[float, ...]
    margin_db: tuple[float, ...]
    verdicts: tuple[str, ...]
    end_b_position: int | None = None  # where this fiber's light arrived (the fiber map); None: dark or unknown

    @property
    def verdict(self) -> str:
        for worst in (Outcome.ERROR, Outcome.FAIL, Outcome.CONDITIONAL):
            if worst in self.verdicts:
                return worst
        return Outcome.PASS if self.verdicts else ""


def decision_rule_text(kind: str, uncertainty_db: float, coverage_factor: float) -> tuple[str, str]:
    """(rule, how it decides) in words a customer's inspector reads (ILAC-G8 / ISO 14253-1 style)."""
    try:
        rule = DecisionRule(kind, uncertainty_db, coverage_factor).describe()
    except ValueError:
        return kind, ""
    if kind == "simple":
        return rule, "PASS if IL ≤ limit; U is stated, not subtracted"
    return rule, "PASS if IL ≤ limit − U; FAIL if IL > limit + U; CONDITIONAL in between (guard band U)"


@dataclass(frozen=True)
class CertificateData:
    """Everything a certificate shows, as plain values (the certificate worker gets them as JSON: as_dict)."""

    serial: str
    product: str
    recipe_name: str
    lot: str
    attempt: int
    date_utc: str
    station_name: str
    operator: str
    software_version: str
    outcome: str
    reason: str
    polarity_required: str
    polarity_found: str
    decision_rule: str
    reference_method: str
    reference_taken_utc: str
    reference_cords: tuple[str, ...]
    reference_id: str
    wavelengths_nm: tuple[float, ...]
    fibers: tuple[FiberRow, ...]
    cable_description: str = ""
    instruments: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    record_index: int | None = None
    decision_basis: str = ""
    uncertainty_db: float = math.nan
    coverage_factor: float = math.nan
    cord_matings: tuple[tuple[str, int], ...] = ()  # (cord id, matings) when the record holds them
    issuer: CertificateIssuer = field(default_factory=CertificateIssuer)
    test_setup: tuple[tuple[str, str], ...] = ()  # launch condition, polish, cords (bench.config.cable_fit)
    # The SUSPECT annotation's reason (graded before a failed golden check, bench.store.annotations); "" none.
    suspect_reason: str = ""
    # The record's uncertainty budget (bench.grading.uncertainty.UncertaintyBudget.as_dict); {} not recorded.
    uncertainty_budget: dict[str, Any] = field(default_factory=dict)

    @property
    def uncertainty_text(self) -> str:
        """The certificate's U line."""
        if not math.isfinite(self.uncertainty_db):
            return "not recorded"
        text = f"U = {self.uncertainty_db:.3f} dB expanded, k = {self.coverage_factor:g}"
        if not self.uncertainty_budget:
            return text
        budget = UncertaintyBudget.from_dict(self.uncertainty_budget)
        if budget.declared:
            return f"{text}; {DECLARED_TEXT}"
        return f"{text}, u_c = {budget.standard_uncertainty_db:.4f} dB; uncertainty budget below (GUM, JCGM 100:2008)"

    def uncertainty_rows(self) -> list[tuple[str, str, str, str, str]]:
        """(contribution, value, distribution, u_i, basis) of the budget; [] for none or a declared U."""
        if not self.uncertainty_budget:
            return []
        budget = UncertaintyBudget.from_dict(self.uncertainty_budget)
        return [(c.name.replace("_", " "), f"{c.value_db:.4f} dB", c.distribution
                 + (" (÷√3)" if c.distribution == "rectangular" else ""),
                 f"{c.standard_uncertainty_db:.4f} dB" + (f" × {c.sensitivity:.3g}" if c.sensitivity != 1 else ""),
                 c.basis) for c in budget.contributions]

    @property
    def certificate_number(self) -> str:
        return certificate_number(self.station_name, self.record_index)

    @property
    def standard(self) -> str:
        return self.issuer.standard or STANDARD

    @property
    def method(self) -> str:
        return METHOD_TEXT.get(self.reference_method, self.reference_method)

    @property
    def suspect_text(self) -> str:
        """The certificate's SUSPECT line ("" when the record is not marked)."""
        if not self.suspect_reason:
            return ""
        reason = self.suspect_reason.removeprefix("SUSPECT:").strip()
        return f"SUSPECT — the {self.outcome} above is not vouched for, awaiting retest: {reason}"

    @property
    def failing_fibers(self) -> list[int]:
        return [row.fiber_position for row in self.fibers if row.verdict not in (Outcome.PASS, "")]

    def with_issuer(self, issuer: CertificateIssuer) -> CertificateData:
        return replace(self, issuer=issuer)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (how the certificate worker receives it); `from_dict` reverses it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> CertificateData:
        data = dict(values)
        data["fibers"] = tuple(FiberRow(**{k: tuple(v) if isinstance(v, list) else v for k, v in row.items()})
                               for row in data["fibers"])
        issuer = dict(data["issuer"])
        data["issuer"] = CertificateIssuer(**{**issuer, "address": tuple(issuer["address"])})
        for key in ("reference_cords", "wavelengths_nm", "instruments"):
            data[key] = tuple(data[key])
        for key in ("cord_matings", "test_setup"):
            data[key] = tuple(tuple(pair) for pair in data[key])
        return cls(**data)

    @classmethod
    def from_record(cls, record: CableRecord, reference: ReferenceRecord | None = None,
                    record_index: int | None = None, issuer: CertificateIssuer | None = None,
                    suspect_reason: str = "") -> CertificateData:
        snapshot = record.recipe_snapshot or {}
        wavelengths = tuple(float(w) for w in record.wavelengths_nm)
        rule, basis = decision_rule_text(record.decision_rule, record.uncertainty_db, record.coverage_factor)
        extra = record.extra or {}
        return cls(
            serial=record.serial, product=str(snapshot.get("product", record.recipe_name)),
            recipe_name=record.recipe_name, lot=record.lot, attempt=record.attempt,
            date_utc=_utc_text(record.finished_utc or record.started_utc), station_name=record.station_name,
            operator=record.operator, software_version=record.software_version, outcome=record.outcome,
            reason=record.reason,
            polarity_required=str(snapshot.get("polarity", "")),
            polarity_found=record.polarity_found, decision_rule=rule,
            reference_method=reference.method if reference else "(reference record not found)",
            reference_taken_utc=_utc_text(reference.taken_utc) if reference else "",
            reference_cords=tuple(reference.cord_ids) if reference else (),
            reference_id=record.reference_id, wavelengths_nm=wavelengths,
            fibers=fiber_rows(record.fibers, wavelengths, _fiber_map(extra)),
            cable_description=_cable_description(snapshot),
            instruments=tuple(record.instruments), record_index=record_index, decision_basis=basis,
            uncertainty_db=float(record.uncertainty_db), coverage_factor=float(record.coverage_factor),
            cord_matings=_cord_matings(extra), issuer=issuer or CertificateIssuer(),
            test_setup=tuple(setup_rows(extra.get("cable_setup"))), suspect_reason=suspect_reason,
            uncertainty_budget=dict(extra.get("uncertainty_budget") or {}))


def _cable_description(snapshot: Mapping[str, Any]) -> str:
    bits = [f"{snapshot['fiber_count']} fibers" if snapshot.get("fiber_count") else "",
            f"{snapshot.get('fiber_type', '')}".strip(),
            f"{snapshot.get('connector_a', '')} / {snapshot.get('connector_b', '')}"
            if snapshot.get("connector_a") else "",
            f"{snapshot['length_m']:g} m" if isinstance(snapshot.get("length_m"), int | float) else "",
            str(snapshot.get("cable_type", ""))]
    return ", ".join(bit for bit in bits if bit)


def _fiber_map(extra: Mapping[str, Any]) -> dict[int, int]:
    """End-A position → end-B position where its light arrived (the polarity check's map; 0 = dark)."""
    polarity = extra.get("polarity") or {}
    positions = polarity.get("receive_position") or []
    return {a: int(b) for a, b in enumerate(positions, start=1) if isinstance(b, int | float)}


def _cord_matings(extra: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    """Test-cord mating counts when the record carries them (`extra["cord_matings"]`: {cord id: count})."""
    matings = extra.get("cord_matings")
    if not isinstance(matings, Mapping):
        return ()
    return tuple((str(cord), int(count)) for cord, count in matings.items() if isinstance(count, int | float))


def fiber_rows(fibers: Sequence[FiberResult], wavelengths_nm: Sequence[float],
               fiber_map: Mapping[int, int] | None = None) -> tuple[FiberRow, ...]:
    """Group per-(fiber, wavelength) results into one row per fiber, wavelengths in the given order."""
    by_position: dict[int, dict[float, FiberResult]] = {}
    for fiber in fibers:
        by_position.setdefault(int(fiber.fiber_position), {})[float(fiber.wavelength_nm)] = fiber
    rows = []
    for position in sorted(by_position):
        cells = [by_position[position].get(float(w)) for w in wavelengths_nm]
        rows.append(FiberRow(
            position,
            tuple(c.insertion_loss_db if c else math.nan for c in cells),
            tuple(c.limit_db if c else math.nan for c in cells),
            tuple(c.margin_db if c else math.nan for c in cells),
            tuple(c.verdict if c else "" for c in cells),
            (fiber_map or {}).get(position) or None))
    return tuple(rows)


def _attempts_text(cables: Any) -> str:
    """'1 ABORTED (no readings), 2 PASS': what each stored attempt of a serial is."""
    parts = []
    for row in cables:
        note = "" if int(row["n_fibers"]) > 0 else " (no readings)"
        parts.append(f"{int(row['attempt'])} {row['outcome']}{note}")
    return ", ".join(parts)


def certificate_from_store(store_path: str | Path, serial: str, *, attempt: int | None = None,
                           issuer: CertificateIssuer | None = None) -> CertificateData:
    """CertificateData of a cable's latest (or given) attempt that has per-fiber results."""
    path = Path(store_path)
    if not path.exists():
        raise BenchError(f"{path}: no such results file; give the .h5 file the bench wrote")
    results = load_results(path, serial=serial)
    if len(results) == 0:
        raise BenchError(f"{path}: no record of serial '{serial}'; check the serial (bench query {path} lists them)")
    cables = results.cables
    measured_attempts = [int(a) for a, n in zip(cables["attempt"], cables["n_fibers"], strict=True) if n > 0]
    hint = (f"attempt {measured_attempts[-1]} has readings: give --attempt {measured_attempts[-1]} or leave "
            "--attempt out for the latest measured one" if measured_attempts
            else "retest the cable to get a certificate")
    rows = cables
    if attempt is not None:
        rows = rows[rows["attempt"] == attempt]
        if len(rows) == 0:
            raise BenchError(f"{path}: serial '{serial}' has no attempt {attempt}; its attempts are "
                             f"{_attempts_text(cables)}; {hint}")
    measured = rows[rows["n_fibers"] > 0]
    if len(measured) == 0:
        which = f"attempt {attempt} of serial '{serial}'" if attempt is not None else f"serial '{serial}'"
        raise BenchError(f"{path}: {which} has no readings to certify (attempts: {_attempts_text(cables)}); "
                         f"{hint}")
    record_index = int(measured["record_index"][-1])
    record = results.cable_record(record_index)
    reference = next((r for r in load_references(path) if r.reference_id == record.reference_id), None)
    return CertificateData.from_record(record, reference, record_index, issuer,
                                       suspect_reason=results.suspect.get(record_index, ""))
