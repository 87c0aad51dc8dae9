"""The dashboard's views computed from one station's HDF5 store (read-only, SWMR: works while a bench writes)."""

from __future__ import annotations

import datetime as dt
import io
import os
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from bench.dashboard.source import (
    GOLDEN_KIND,
    IL_KIND,
    VERDICT_OUTCOMES,
    Attempt,
    CableRow,
    FiberLine,
    GoldenRow,
    LotRow,
    LotView,
    PlantDay,
    ProductAxes,
    ReferenceRow,
    RetestRow,
    SerialView,
    SpcSeries,
    StationView,
    YieldRow,
    cause_of,
    final_outcome,
)
from bench.store import LoadedResults, load_references, load_results


class Hdf5Source:
    """`DashboardSource` over one results file; every call reads the committed records afresh."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.description = f"HDF5 store {self.path}"
        self.serves_certificates = True
        self._cache: tuple[tuple[int, int], LoadedResults] | None = None

    def _all(self) -> LoadedResults:
        """Every record, re-read whenever the file changed (a writer appends and flushes)."""
        stat = self.path.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, load_results(self.path))
        return self._cache[1]

    # -- plant today ------------------------------------------------------------------------

    def plant_day(self, day: dt.date) -> PlantDay:
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        results = load_results(self.path, since_utc=start, until_utc=start + dt.timedelta(days=1))
        cables = results.cables[results.cables["kind"] == IL_KIND]
        groups = defaultdict(list)
        for row in cables:
            groups[(str(row["station_name"]), str(row["recipe_name"]))].append(row)
        rows = tuple(_yield_row(station, recipe, group) for (station, recipe), group in sorted(groups.items()))
        total = _yield_row("all stations", "all products", list(cables))
        lots = defaultdict(list)
        for row in cables:
            lots[str(row["lot"])].append(row)
        lot_rows = tuple(_lot_row(lot, group) for lot, group in sorted(lots.items()))
        last = max(cables["started_utc"].tolist(), default="")
        return PlantDay(day=day, rows=rows, total=total, lots=lot_rows, last_test_utc=last)

    # -- a lot ------------------------------------------------------------------------------

    def lot(self, lot: str) -> LotView | None:
        results = load_results(self.path, lot=lot)
        cables = results.cables[results.cables["kind"] == IL_KIND]
        if len(cables) == 0:
            return None
        by_serial = _attempts_by_serial(cables)
        latest = {serial: rows[-1] for serial, rows in by_serial.items()}
        decided = {serial: [r for r in rows if str(r["outcome"]) in VERDICT_OUTCOMES] for serial, rows in
                   by_serial.items()}
        chosen = {int(rows[-1]["record_index"]) for rows in decided.values() if rows}
        fibers = results.fibers[np.isin(results.fibers["record_index"], list(chosen))]
        il, limits, heat = _distributions(fibers)
        retests = tuple(RetestRow(serial, tuple((int(r["attempt"]), str(r["outcome"])) for r in rows),
                                  final_outcome(tuple((int(r["attempt"]), str(r["outcome"])) for r in rows)))
                        for serial, rows in sorted(by_serial.items()) if len(rows) > 1)
        max_il = _max_il_by_record(results.fibers)
        cable_rows = tuple(CableRow(serial, len(by_serial[serial]), int(row["attempt"]), str(row["outcome"]),
                                    max_il.get(int(row["record_index"]), float("nan")), str(row["reason"]),
                                    int(row["n_fibers"]) > 0)
                           for serial, row in sorted(latest.items()))
        started = sorted(cables["started_utc"].tolist())
        return LotView(
            lot=lot, recipe_names=tuple(sorted(set(cables["recipe_name"].tolist()))),
            station_names=tuple(sorted(set(cables["station_name"].tolist()))),
            first_test_utc=started[0], last_test_utc=started[-1],
            outcome_counts=dict(Counter(str(r["outcome"]) for r in latest.values())),
            attempt_counts=dict(Counter(cables["outcome"].tolist())),
            il_by_wavelength=il, limit_by_wavelength=limits, position_mean_il=heat,
            pareto=_pareto(latest, fibers), retests=retests, cables=cable_rows)

    # -- a station --------------------------------------------------------------------------

    def station_names(self) -> tuple[str, ...]:
        return tuple(sorted(set(self._all().cables["station_name"].tolist())))

    def station(self, station_name: str) -> StationView | None:
        results = self._all()
        cables = results.cables[results.cables["station_name"] == station_name]
        references = [r for r in load_references(self.path) if r.station_name == station_name]
        if len(cables) == 0 and not references:
            return None
        tested = cables[cables["kind"] == IL_KIND]
        per_reference = Counter(tested["reference_id"].tolist())
        reference_rows = tuple(ReferenceRow(r.reference_id, r.method, r.taken_utc, r.operator, tuple(r.cord_ids),
                                            per_reference.get(r.reference_id, 0)) for r in references)
        matings: Counter[str] = Counter()
        for row in reference_rows:
            for cord in row.cord_ids:
                matings[cord] += row.cables_tested
        golden = tuple(_golden_row(results, row) for row in cables[cables["kind"] == GOLDEN_KIND])
        return StationView(station_name=station_name, cables_tested=len(tested), references=reference_rows,
                           golden_checks=golden, cord_matings=dict(sorted(matings.items())))

    # -- a serial ---------------------------------------------------------------------------

    def serial(self, serial: str) -> SerialView | None:
        results = load_results(self.path, serial=serial)
        if len(results.cables) == 0:
            return None
        attempts = tuple(_attempt(results, row) for row in results.cables)
        tested = tuple((a.attempt, a.outcome) for a in attempts if a.kind == IL_KIND)
        return SerialView(serial=serial, attempts=attempts, final=final_outcome(tested))

    def certificate_pdf(self, serial: str, attempt: int) -> bytes | None:
        from bench.report.certificate import CertificateData, certificate_figures
        from bench.report.style import pdf_pages

        results = load_results(self.path, serial=serial)
        rows = results.cables[(results.cables["attempt"] == attempt) & (results.cables["n_fibers"] > 0)]
        if len(rows) == 0:
            return None
        index = int(rows["record_index"][-1])
        record = results.cable_record(index)
        reference = next((r for r in load_references(self.path) if r.reference_id == record.reference_id), None)
        data = CertificateData.from_record(record, reference, index)
        buffer = io.BytesIO()
        with pdf_pages(buffer, title=f"IL certificate {data.serial}", subject=data.product) as pdf:
            for figure in certificate_figures(data):
                pdf.savefig(figure)
        return buffer.getvalue()

    # -- SPC --------------------------------------------------------------------------------

    def products(self) -> tuple[ProductAxes, ...]:
        results = self._all()
        fibers = _il_fibers(results)
        out = []
        for recipe in sorted(set(fibers["recipe_name"].tolist())):
            mine = fibers[fibers["recipe_name"] == recipe]
            out.append(ProductAxes(recipe, tuple(sorted(set(mine["wavelength_nm"].tolist()))),
                                   tuple(sorted(set(mine["fiber_position"].tolist()))),
                                   len(set(mine["record_index"].tolist()))))
        return tuple(out)

    def spc_series(self, recipe_name: str, wavelength_nm: float, fiber_position: int, *,
                   baseline_points: int, recent_points: int) -> SpcSeries | None:
        fibers = _il_fibers(self._all())
        mine = fibers[(fibers["recipe_name"] == recipe_name) & (fibers["wavelength_nm"] == wavelength_nm)
                      & (fibers["fiber_position"] == fiber_position) & np.isfinite(fibers["insertion_loss_db"])]
        if len(mine) == 0:
            return None
        mine = mine[np.lexsort((mine["record_index"], mine["started_utc"]))]
        first = max(0, len(mine) - recent_points)
        recent = mine[first:]
        limits = recent["limit_db"][np.isfinite(recent["limit_db"])]
        return SpcSeries(recipe_name=recipe_name, wavelength_nm=wavelength_nm, fiber_position=fiber_position,
                         baseline=mine["insertion_loss_db"][:baseline_points].astype(float),
                         recent=recent["insertion_loss_db"].astype(float),
                         recent_serials=tuple(recent["serial"].tolist()),
                         recent_started_utc=tuple(recent["started_utc"].tolist()),
                         limit_db=float(limits.max()) if len(limits) else float("nan"),
                         recent_first_index=first, total=len(mine))


def _attempts_by_serial(cables: np.ndarray) -> dict[str, list[np.void]]:
    by_serial: dict[str, list[np.void]] = defaultdict(list)
    for row in cables[np.lexsort((cables["record_index"], cables["attempt"]))]:
        by_serial[str(row["serial"])].append(row)
    return by_serial


def _yield_row(station: str, recipe: str, rows: list[np.void]) -> YieldRow:
    by_serial: dict[str, list[np.void]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (int(r["attempt"]), int(r["record_index"]))):
        by_serial[str(row["serial"])].append(row)
    passed = sum(str(group[-1]["outcome"]) == "PASS" for group in by_serial.values())
    firsts = [r for r in rows if int(r["attempt"]) == 1]
    return YieldRow(station, recipe, len(by_serial), passed, len(firsts),
                    sum(str(r["outcome"]) == "PASS" for r in firsts))


def _lot_row(lot: str, rows: list[np.void]) -> LotRow:
    summary = _yield_row("", "", rows)
    started = sorted(str(r["started_utc"]) for r in rows)
    return LotRow(lot, summary.cables, summary.passed, started[0], started[-1])


def _distributions(fibers: np.ndarray) -> tuple[dict[float, np.ndarray], dict[float, float],
                                                dict[float, dict[int, float]]]:
    il, limits, heat = {}, {}, {}
    for wavelength in sorted(set(fibers["wavelength_nm"].tolist())):
        at = fibers[fibers["wavelength_nm"] == wavelength]
        lit = at[np.isfinite(at["insertion_loss_db"])]
        il[wavelength] = lit["insertion_loss_db"].astype(float)
        finite_limits = at["limit_db"][np.isfinite(at["limit_db"])]
        limits[wavelength] = float(finite_limits.max()) if len(finite_limits) else float("nan")
        heat[wavelength] = {int(p): float(lit["insertion_loss_db"][lit["fiber_position"] == p].mean())
                            for p in sorted(set(lit["fiber_position"].tolist()))}
    return il, limits, heat


def _pareto(latest: dict[str, np.void], fibers: np.ndarray) -> tuple[tuple[str, int], ...]:
    causes: Counter[str] = Counter()
    bad = fibers[fibers["verdict"] != "PASS"]
    for row in latest.values():
        outcome = str(row["outcome"])
        if outcome in ("ERROR", "ABORTED"):
            causes[f"cable {outcome}"] += 1
            continue
        mine = bad[bad["record_index"] == row["record_index"]]
        for cause in {cause_of(str(f["verdict"]), float(f["insertion_loss_db"]), int(f["fiber_position"]))
                      for f in mine}:
            causes[cause] += 1
    return tuple(sorted(causes.items(), key=lambda item: (-item[1], item[0])))


def _max_il_by_record(fibers: np.ndarray) -> dict[int, float]:
    out: dict[int, float] = {}
    lit = fibers[np.isfinite(fibers["insertion_loss_db"])]
    for index, value in zip(lit["record_index"].tolist(), lit["insertion_loss_db"].tolist(), strict=True):
        out[index] = max(out.get(index, value), value)
    return out


def _golden_row(results: LoadedResults, row: np.void) -> GoldenRow:
    extra = results.extra(int(row["record_index"]))
    worst = extra.get("worst_delta_db")
    return GoldenRow(str(row["started_utc"]), str(row["serial"]), str(row["reference_id"]), str(row["outcome"]),
                     float(worst) if isinstance(worst, int | float) else float("nan"),
                     float(extra.get("tolerance_db", float("nan"))))


def _attempt(results: LoadedResults, row: np.void) -> Attempt:
    index = int(row["record_index"])
    mine = results.fibers[results.fibers["record_index"] == index]
    fibers = tuple(FiberLine(int(f["fiber_position"]), float(f["wavelength_nm"]), int(f["launch_position"]),
                             int(f["receive_channel"]), float(f["insertion_loss_db"]), float(f["limit_db"]),
                             float(f["margin_db"]), str(f["verdict"]), str(f["reason"]))
                   for f in mine[np.lexsort((mine["wavelength_nm"], mine["fiber_position"]))])
    return Attempt(record_index=index, attempt=int(row["attempt"]), kind=str(row["kind"]),
                   started_utc=str(row["started_utc"]), station_name=str(row["station_name"]),
                   recipe_name=str(row["recipe_name"]), lot=str(row["lot"]), operator=str(row["operator"]),
                   outcome=str(row["outcome"]), reason=str(row["reason"]), reference_id=str(row["reference_id"]),
                   polarity_found=str(row["polarity_found"]), fibers=fibers,
                   has_certificate=int(row["n_fibers"]) > 0)


def _il_fibers(results: LoadedResults) -> np.ndarray:
    """Fiber rows of insertion-loss attempts that reached a verdict, with recipe name and start time."""
    cables = results.cables[(results.cables["kind"] == IL_KIND) & np.isin(results.cables["outcome"],
                                                                          list(VERDICT_OUTCOMES))]
    fibers = results.fibers[np.isin(results.fibers["record_index"], cables["record_index"])]
    fibers = fibers[fibers["verdict"] != "ERROR"]
    pos = np.searchsorted(cables["record_index"], fibers["record_index"])
    out = np.empty(len(fibers), dtype=fibers.dtype.descr + [("recipe_name", cables.dtype["recipe_name"]),
                                                            ("started_utc", cables.dtype["started_utc"])])
    for name in fibers.dtype.names:
        out[name] = fibers[name]
    out["recipe_name"] = cables["recipe_name"][pos] if len(cables) else ""
    out["started_utc"] = cables["started_utc"][pos] if len(cables) else ""
    return out

