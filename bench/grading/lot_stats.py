"""Lot statistics: per fiber position and wavelength, yield, Cpk and the IEC 61753-1 grade.

Input is what the store returns for a lot: a structured array of per-fiber rows
(fiber_position, wavelength_nm, insertion_loss_db, limit_db, verdict,
record_index, ...) and a structured array of cable records (record_index,
serial, attempt, outcome, ...). Which rows count:

* Yield is over cables (distinct serials), each judged by its latest attempt:
  yield = cables whose latest outcome is PASS / cables. First-pass yield uses
  each serial's first attempt. CONDITIONAL, ERROR and ABORTED are not PASS.
* IL statistics describe the product, so each serial contributes once: its
  latest attempt with a trustworthy measurement (PASS, CONDITIONAL or FAIL).
  ERROR/ABORTED records (bad reference, instrument fault, stopped) and single
  ERROR rows are left out; a retest must not count a cable twice.
* No-light readings (NaN) are counted (n_no_light) but have no loss value to
  average; they show in the yield.
* A cable whose latest record is marked SUSPECT (graded before a failed golden
  check, bench.store.annotations) counts as SUSPECT, awaiting retest: not PASS
  in the yield, and its readings stay out of the IL statistics.

σ is the sample standard deviation (ddof = 1). Percentiles interpolate
linearly between order statistics (numpy's default). Cpk is the upper-spec
capability mean(margin)/(3σ(margin)) with margin = limit − IL per reading: with
one limit this is (limit − mean)/(3σ), and it stays right for a lot mixing
lengths of one product family (each reading keeps its own limit).

Just over 400 lines: yield, first-pass yield, SUSPECT and the IL statistics all choose their rows
by the same per-serial rules above; kept together so the rules are written once.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.config.grade_tables import parse_grade_tables
from bench.config.tomlio import read_toml
from bench.records import VERDICTS, Outcome

GRADE_TABLES_PATH = Path(__file__).with_name("grade_tables.toml")
TRUSTED_OUTCOMES = (Outcome.PASS, Outcome.CONDITIONAL, Outcome.FAIL)
PERCENTILES = (50.0, 95.0, 97.0)
SUSPECT = "SUSPECT"  # the annotation kind (bench.store.annotations), counted beside the outcomes


# --------------------------------------------------------------------------- grade tables


@dataclass(frozen=True)
class Grade:
    grade: str
    mean_db: float
    p97_db: float


@dataclass(frozen=True)
class GradeTable:
    """Grades of one fiber type, best first."""

    fiber_type: str
    description: str
    source: str
    grades: tuple[Grade, ...]


def load_grade_tables(path: str | Path = GRADE_TABLES_PATH) -> dict[str, GradeTable]:
    """Read the grade tables (data, not code) keyed by fiber type ("SM", ...)."""
    tables = parse_grade_tables(read_toml(path), str(path))
    return {fiber_type: GradeTable(fiber_type, table.description, table.source,
                                   tuple(Grade(g.grade, g.mean_db, g.p97_db) for g in table.grades))
            for fiber_type, table in tables.items()}


def iec_grade(
    mean_db: float,
    p97_db: float,
    *,
    fiber_type: str = "SM",
    tables: Mapping[str, GradeTable] | None = None,
) -> str | None:
    """Best grade whose mean AND 97 % limits the values meet; None if none (or no table for the type)."""
    tables = load_grade_tables() if tables is None else tables
    table = tables.get(fiber_type)
    if table is None or not (math.isfinite(mean_db) and math.isfinite(p97_db)):
        return None
    for grade in table.grades:
        if mean_db <= grade.mean_db and p97_db <= grade.p97_db:
            return grade.grade
    return None


def worst_grade(grades: Sequence[str | None], table: GradeTable) -> str | None:
    """The worst of several grades (None, i.e. no grade, is worst of all)."""
    order = [g.grade for g in table.grades]
    if not grades or any(g is None for g in grades):
        return None
    return max(grades, key=order.index)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class ILStatistics:
    """Distribution of insertion loss for one wavelength, at one position (or all: fiber_position None)."""

    wavelength_nm: float
    fiber_position: int | None
    n: int
    n_no_light: int
    mean_db: float
    std_db: float
    min_db: float
    max_db: float
    p50_db: float
    p95_db: float
    p97_db: float
    limit_db: float | None  # the limit when all readings share one; None for a mixed-length lot
    n_not_pass: int
    cpk: float | None

    def as_dict(self) -> dict[str, Any]:
        return {k: _json_number(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class LotStatistics:
    lot: str | None
    n_cables: int
    n_records: int
    outcomes: dict[str, int]  # latest outcome per cable
    yield_fraction: float | None
    first_pass_yield: float | None
    per_position: tuple[ILStatistics, ...]
    per_wavelength: tuple[ILStatistics, ...]
    grade_by_wavelength: dict[float, str | None]
    grade: str | None
    grade_fiber_type: str
    grade_connections: int
    grade_note: str
    recipe_names: tuple[str, ...] = field(default_factory=tuple)
    suspect_serials: tuple[str, ...] = ()  # latest record SUSPECT: awaiting retest, not counted as PASS

    def to_dict(self) -> dict[str, Any]:
        return {
            "lot": self.lot,
            "recipe_names": list(self.recipe_names),
            "n_cables": self.n_cables,
            "n_records": self.n_records,
            "outcomes": dict(self.outcomes),
            "suspect_serials": list(self.suspect_serials),
            "yield": _json_number(self.yield_fraction),
            "first_pass_yield": _json_number(self.first_pass_yield),
            "per_wavelength": [s.as_dict() for s in self.per_wavelength],
            "per_position": [s.as_dict() for s in self.per_position],
            "iec_61753_1": {
                "fiber_type": self.grade_fiber_type,
                "connections_per_reading": self.grade_connections,
                "by_wavelength": {f"{wl:g}": g for wl, g in self.grade_by_wavelength.items()},
                "grade": self.grade,
                "note": self.grade_note,
            },
        }

    def format_table(self) -> str:
        """Plain-text report for a terminal: yield, per-wavelength and per-position statistics, grade."""
        lines = [f"Lot {self.lot if self.lot is not None else '(all)'}"]
        if self.recipe_names:
            lines.append(f"Recipe(s): {', '.join(self.recipe_names)}")
        outcome_text = ", ".join(f"{name} {count}" for name, count in self.outcomes.items() if count)
        lines.append(f"Cables: {self.n_cables} ({self.n_records} records){': ' + outcome_text if outcome_text else ''}")
        lines.append(f"Yield: {_pct(self.yield_fraction)}   first-pass yield: {_pct(self.first_pass_yield)}")
        if self.suspect_serials:
            lines.append(f"SUSPECT, awaiting retest ({len(self.suspect_serials)}): {', '.join(self.suspect_serials)}")
        header = (
            f"{'λ nm':>7} {'pos':>4} {'n':>5} {'dark':>4} {'mean dB':>8} {'σ dB':>7} {'max dB':>7} "
            f"{'p50':>7} {'p95':>7} {'p97':>7} {'limit':>7} {'!PASS':>5} {'Cpk':>6}"
        )
        lines += ["", header, "-" * len(header)]
        for overall in self.per_wavelength:
            rows = [s for s in self.per_position if s.wavelength_nm == overall.wavelength_nm]
            lines += [_row(s) for s in rows]
            lines.append(_row(overall))
            lines.append("")
        grades = ", ".join(f"{wl:g} nm: {g or 'none'}" for wl, g in self.grade_by_wavelength.items())
        lines.append(
            f"IEC 61753-1 grade ({self.grade_fiber_type}, IL / {self.grade_connections} connection(s)): "
            f"{self.grade or 'none'}" + (f"   [{grades}]" if grades else "")
        )
        if self.grade_note:
            lines.append(f"  {self.grade_note}")
        return "\n".join(lines)


def lot_statistics(
    fibers: np.ndarray,
    cables: np.ndarray | None = None,
    *,
    lot: str | None = None,
    fiber_type: str = "SM",
    connections: int = 1,
    grade_tables: Mapping[str, GradeTable] | None = None,
    suspect: Collection[int] = (),
) -> LotStatistics:
    """Statistics of a lot from the store's fiber and cable tables.

    `connections` is the number of mated connections in each IL reading; the
    grade table is per connection, so readings are divided by it before they
    are compared. The default 1 charges the whole loss to one connection, which
    can only under-grade a lot, never over-grade it. `suspect` holds the record
    indexes marked SUSPECT (`LoadedResults.suspect`).
    """
    if connections < 1:
        raise ValueError("connections must be at least 1")
    tables = load_grade_tables() if grade_tables is None else grade_tables
    fibers = np.asarray(fibers)
    selected, outcomes, yield_fraction, first_pass, n_cables, n_records, recipes, suspect_serials = _select(
        fibers, cables, set(suspect))

    rows = fibers[selected] if fibers.size else fibers
    wavelengths = _column(rows, "wavelength_nm", float)
    positions = _column(rows, "fiber_position", int)
    il = _column(rows, "insertion_loss_db", float)
    limits = _column(rows, "limit_db", float) if _has(rows, "limit_db") else np.full(il.shape, np.nan)
    verdicts = _strings(rows, "verdict") if _has(rows, "verdict") else np.full(il.shape, Outcome.PASS, dtype=object)
    keep = verdicts != Outcome.ERROR

    per_position: list[ILStatistics] = []
    per_wavelength: list[ILStatistics] = []
    grade_by_wavelength: dict[float, str | None] = {}
    for wl in sorted(set(wavelengths[keep].tolist())):
        at_wl = keep & (wavelengths == wl)
        for pos in sorted(set(positions[at_wl].tolist())):
            cell = at_wl & (positions == pos)
            per_position.append(_il_statistics(wl, pos, il[cell], limits[cell], verdicts[cell]))
        overall = _il_statistics(wl, None, il[at_wl], limits[at_wl], verdicts[at_wl])
        per_wavelength.append(overall)
        lit = il[at_wl][np.isfinite(il[at_wl])] / connections
        grade_by_wavelength[wl] = (
            iec_grade(float(lit.mean()), float(np.percentile(lit, 97.0)), fiber_type=fiber_type, tables=tables)
            if lit.size
            else None
        )

    table = tables.get(fiber_type)
    if table is None:
        grade, note = None, f"no grade table for {fiber_type} fiber in grade_tables.toml"
    else:
        grade = worst_grade(list(grade_by_wavelength.values()), table)
        note = table.source
    return LotStatistics(
        lot=lot,
        n_cables=n_cables,
        n_records=n_records,
        outcomes=outcomes,
        yield_fraction=yield_fraction,
        first_pass_yield=first_pass,
        per_position=tuple(per_position),
        per_wavelength=tuple(per_wavelength),
        grade_by_wavelength=grade_by_wavelength,
        grade=grade,
        grade_fiber_type=fiber_type,
        grade_connections=connections,
        grade_note=note,
        recipe_names=recipes,
        suspect_serials=suspect_serials,
    )


def _il_statistics(
    wavelength_nm: float, fiber_position: int | None, il: np.ndarray, limits: np.ndarray, verdicts: np.ndarray
) -> ILStatistics:
    lit = np.isfinite(il)
    values = il[lit]
    n = int(values.size)
    nan = math.nan
    distinct_limits = set(np.round(limits[np.isfinite(limits)], 9).tolist())
    limit = distinct_limits.pop() if len(distinct_limits) == 1 else None
    if n:
        p50, p95, p97 = (float(v) for v in np.percentile(values, PERCENTILES))
        mean, low, high = float(values.mean()), float(values.min()), float(values.max())
    else:
        p50 = p95 = p97 = mean = low = high = nan
    std = float(values.std(ddof=1)) if n >= 2 else nan
    return ILStatistics(
        wavelength_nm=float(wavelength_nm),
        fiber_position=fiber_position,
        n=n,
        n_no_light=int((~lit).sum()),
        mean_db=mean,
        std_db=std,
        min_db=low,
        max_db=high,
        p50_db=p50,
        p95_db=p95,
        p97_db=p97,
        limit_db=limit,
        n_not_pass=int((verdicts != Outcome.PASS).sum()),
        cpk=_cpk(limits[lit] - values),
    )


def _cpk(margins_db: np.ndarray) -> float | None:
    """Upper-spec Cpk = mean(margin) / (3 σ(margin)); None where undefined (n < 2, σ = 0, no limit)."""
    margins = margins_db[np.isfinite(margins_db)]
    if margins.size < 2:
        return None
    sigma = float(margins.std(ddof=1))
    if sigma == 0.0:
        return None
    return float(margins.mean()) / (3.0 * sigma)


def _select(
    fibers: np.ndarray, cables: np.ndarray | None, suspect: set[int]
) -> tuple[np.ndarray, dict[str, int], float | None, float | None, int, int, tuple[str, ...], tuple[str, ...]]:
    """Which fiber rows describe the lot, and the cable counts behind yield."""
    everything = np.ones(fibers.shape, dtype=bool)
    outcomes = dict.fromkeys((*VERDICTS, Outcome.ABORTED), 0)
    if cables is None or np.asarray(cables).size == 0:
        return everything, outcomes, None, None, 0, 0, (), ()
    cables = np.asarray(cables)
    if _has(cables, "kind"):
        # Durability or repeatability runs share the store; only IL tests make a lot's statistics.
        kinds = _strings(cables, "kind")
        cables = cables[(kinds == "insertion_loss") | (kinds == "")]
    record_index = _column(cables, "record_index", int)
    outcome = _strings(cables, "outcome")
    outcome[np.isin(record_index, list(suspect))] = SUSPECT  # graded on a drifted bench: neither PASS nor trusted
    serial = _strings(cables, "serial") if _has(cables, "serial") else record_index.astype(str).astype(object)
    attempt = _column(cables, "attempt", int) if _has(cables, "attempt") else record_index
    recipes = tuple(sorted(set(_strings(cables, "recipe_name").tolist()) - {""})) if _has(cables, "recipe_name") else ()

    # Order each serial's records by attempt, then by record index (the store's append order).
    order = np.lexsort((record_index, attempt))
    latest: dict[str, int] = {}
    first: dict[str, int] = {}
    latest_trusted: dict[str, int] = {}
    for i in order:
        key = serial[i]
        first.setdefault(key, i)
        latest[key] = i
        if outcome[i] in TRUSTED_OUTCOMES:
            latest_trusted[key] = i
    for i in latest.values():
        outcomes[outcome[i]] = outcomes.get(outcome[i], 0) + 1
    suspect_serials = tuple(sorted(key for key, i in latest.items() if outcome[i] == SUSPECT))
    n_cables = len(latest)
    yield_fraction = outcomes[Outcome.PASS] / n_cables if n_cables else None
    first_pass = sum(outcome[i] == Outcome.PASS for i in first.values()) / n_cables if n_cables else None

    chosen = {int(record_index[i]) for i in latest_trusted.values()}
    fiber_records = _column(fibers, "record_index", int) if fibers.size else np.zeros(0, dtype=int)
    selected = np.isin(fiber_records, list(chosen))
    return selected, outcomes, yield_fraction, first_pass, n_cables, int(cables.size), recipes, suspect_serials


# --------------------------------------------------------------------------- helpers


def _has(array: np.ndarray, name: str) -> bool:
    return array.dtype.names is not None and name in array.dtype.names


def _column(array: np.ndarray, name: str, kind: type) -> np.ndarray:
    if array.size == 0:
        return np.zeros(0, dtype=np.float64 if kind is float else np.int64)
    return np.asarray(array[name], dtype=np.float64 if kind is float else np.int64)


def _strings(array: np.ndarray, name: str) -> np.ndarray:
    """A text column as str objects; the store may hand back bytes (HDF5 fixed-length strings)."""
    return np.array(
        [v.decode("utf-8", "replace").rstrip("\x00") if isinstance(v, bytes) else str(v) for v in array[name]],
        dtype=object,
    )


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _pct(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{100.0 * fraction:.1f} %"


def _fmt(value: float | None, width: int = 7, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return f"{'-':>{width}}"
    return f"{value:>{width}.{digits}f}"


def _row(s: ILStatistics) -> str:
    position = "all" if s.fiber_position is None else str(s.fiber_position)
    return (
        f"{s.wavelength_nm:>7g} {position:>4} {s.n:>5d} {s.n_no_light:>4d} {_fmt(s.mean_db, 8)} {_fmt(s.std_db)} "
        f"{_fmt(s.max_db)} {_fmt(s.p50_db)} {_fmt(s.p95_db)} {_fmt(s.p97_db)} {_fmt(s.limit_db)} "
        f"{s.n_not_pass:>5d} {_fmt(s.cpk, 6, 2)}"
    )
