"""The page views computed from plain rows, shared by every data source.

A source fetches rows (numpy structured arrays with `bench.store.load_results()` column names,
plus `key`, a number unique to one attempt across the source: the record number in one store,
station and record number in the fleet) and these functions turn them into the views of
`bench.dashboard.source`, so the HDF5 store and the fleet database give the same numbers for the
same records. Cable rows need key, serial, lot, attempt, kind, recipe_name, station_name, operator,
started_utc, outcome, reason, reference_id, polarity_found, n_fibers, record_index; fiber rows need
key and the FIBER_COLUMNS of the store.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

import numpy as np

from bench.dashboard.source import (
    IL_KIND,
    VERDICT_OUTCOMES,
    Attempt,
    CableRow,
    FiberLine,
    GoldenRow,
    InstrumentRow,
    LotRow,
    LotView,
    PlantDay,
    ReferenceRow,
    RetestRow,
    SerialView,
    SpcProduct,
    SpcSeries,
    StationView,
    YieldRow,
    cause_of,
    final_outcome,
)


def in_test_order(cables: np.ndarray) -> np.ndarray:
    return cables[np.lexsort((cables["key"], cables["started_utc"]))]


def _by_serial(cables: np.ndarray) -> dict[str, list[np.void]]:
    """Attempts of each serial, in attempt order."""
    out: dict[str, list[np.void]] = defaultdict(list)
    for row in cables[np.lexsort((cables["key"], cables["attempt"]))]:
        out[str(row["serial"])].append(row)
    return out


def yield_row(station: str, recipe: str, cables: np.ndarray) -> YieldRow:
    by_serial = _by_serial(cables)
    passed = sum(str(rows[-1]["outcome"]) == "PASS" for rows in by_serial.values())
    firsts = cables[cables["attempt"] == 1]
    return YieldRow(station, recipe, len(by_serial), passed, len(firsts), int((firsts["outcome"] == "PASS").sum()))


def plant_day(day: dt.date, cables: np.ndarray) -> PlantDay:
    """The plant on one day from that day's attempts (any kind; only insertion-loss attempts count)."""
    cables = cables[cables["kind"] == IL_KIND]
    groups = sorted(set(zip(cables["station_name"].tolist(), cables["recipe_name"].tolist(), strict=True)))
    rows = tuple(yield_row(station, recipe, cables[(cables["station_name"] == station)
                                                   & (cables["recipe_name"] == recipe)])
                 for station, recipe in groups)
    lots = []
    for lot in sorted(set(cables["lot"].tolist())):
        mine = cables[cables["lot"] == lot]
        summary = yield_row("", "", mine)
        lots.append(LotRow(lot, summary.cables, summary.passed, *_span(mine)))
    return PlantDay(day=day, rows=rows, total=yield_row("all stations", "all products", cables), lots=tuple(lots),
                    last_test_utc=_span(cables)[1])


def _span(cables: np.ndarray) -> tuple[str, str]:
    """(first, last) started_utc ("", "" if none); the ISO text sorts as the time does."""
    stamps = cables["started_utc"].tolist()
    return (min(stamps), max(stamps)) if stamps else ("", "")


def lot_view(lot: str, cables: np.ndarray, fibers: np.ndarray) -> LotView | None:
    """A lot from its attempts and their fiber rows."""
    cables = cables[cables["kind"] == IL_KIND]
    if len(cables) == 0:
        return None
    by_serial = _by_serial(cables)
    latest = {serial: rows[-1] for serial, rows in by_serial.items()}
    chosen = [next((r for r in reversed(rows) if str(r["outcome"]) in VERDICT_OUTCOMES), None)
              for rows in by_serial.values()]
    chosen_fibers = fibers[np.isin(fibers["key"], [int(r["key"]) for r in chosen if r is not None])]
    il, limits, heat = _distributions(chosen_fibers)
    history = {serial: tuple((int(r["attempt"]), str(r["outcome"])) for r in rows) for serial, rows in
               by_serial.items()}
    max_il = _max_il_by_key(fibers)
    return LotView(
        lot=lot, recipe_names=tuple(sorted(set(cables["recipe_name"].tolist()))),
        station_names=tuple(sorted(set(cables["station_name"].tolist()))),
        first_test_utc=_span(cables)[0], last_test_utc=_span(cables)[1],
        outcome_counts=dict(Counter(str(r["outcome"]) for r in latest.values())),
        attempt_counts=dict(Counter(cables["outcome"].tolist())),
        il_by_wavelength=il, limit_by_wavelength=limits, position_mean_il=heat,
        pareto=_pareto(latest, chosen_fibers),
        retests=tuple(RetestRow(serial, attempts, final_outcome(attempts))
                      for serial, attempts in sorted(history.items()) if len(attempts) > 1),
        cables=tuple(CableRow(serial, len(by_serial[serial]), int(row["attempt"]), str(row["outcome"]),
                              max_il.get(int(row["key"]), float("nan")), str(row["reason"]), int(row["n_fibers"]) > 0)
                     for serial, row in sorted(latest.items())))


def _distributions(fibers: np.ndarray) -> tuple[dict[float, np.ndarray], dict[float, float],
                                                dict[float, dict[int, float]]]:
    il, limits, heat = {}, {}, {}
    fibers = fibers[fibers["verdict"] != "ERROR"]
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
    """Causes of the latest attempts that did not pass, once per cable."""
    causes: Counter[str] = Counter()
    bad = fibers[fibers["verdict"] != "PASS"]
    for row in latest.values():
        outcome = str(row["outcome"])
        if outcome in ("ERROR", "ABORTED"):
            causes[f"cable {outcome}"] += 1
        elif outcome != "PASS":
            mine = bad[bad["key"] == row["key"]]
            causes.update({cause_of(str(f["verdict"]), float(f["insertion_loss_db"]), int(f["fiber_position"]))
                           for f in mine})
    return tuple(sorted(causes.items(), key=lambda item: (-item[1], item[0])))


def _max_il_by_key(fibers: np.ndarray) -> dict[int, float]:
    lit = fibers[np.isfinite(fibers["insertion_loss_db"])]
    if len(lit) == 0:
        return {}
    order = np.lexsort((lit["insertion_loss_db"], lit["key"]))
    keys, values = lit["key"][order], lit["insertion_loss_db"][order]
    last = np.r_[keys[1:] != keys[:-1], True]
    return dict(zip(keys[last].tolist(), values[last].tolist(), strict=True))


def serial_view(serial: str, cables: np.ndarray, fibers: np.ndarray, *, certificates: bool) -> SerialView | None:
    if len(cables) == 0:
        return None
    attempts = tuple(_attempt(row, fibers[fibers["key"] == row["key"]], certificates)
                     for row in cables[np.lexsort((cables["key"], cables["started_utc"]))])
    tested = tuple((a.attempt, a.outcome) for a in attempts if a.kind == IL_KIND)
    return SerialView(serial=serial, attempts=attempts, final=final_outcome(tested))


def _attempt(row: np.void, fibers: np.ndarray, certificates: bool) -> Attempt:
    lines = tuple(FiberLine(int(f["fiber_position"]), float(f["wavelength_nm"]), int(f["launch_position"]),
                            int(f["receive_channel"]), float(f["insertion_loss_db"]), float(f["limit_db"]),
                            float(f["margin_db"]), str(f["verdict"]), str(f["reason"]))
                  for f in fibers[np.lexsort((fibers["wavelength_nm"], fibers["fiber_position"]))])
    return Attempt(record_index=int(row["record_index"]), attempt=int(row["attempt"]), kind=str(row["kind"]),
                   started_utc=str(row["started_utc"]), station_name=str(row["station_name"]),
                   recipe_name=str(row["recipe_name"]), lot=str(row["lot"]), operator=str(row["operator"]),
                   outcome=str(row["outcome"]), reason=str(row["reason"]), reference_id=str(row["reference_id"]),
                   polarity_found=str(row["polarity_found"]), fibers=lines,
                   has_certificate=certificates and int(row["n_fibers"]) > 0)


def station_view(station_name: str, references: list[tuple[str, str, str, str, tuple[str, ...]]],
                 per_reference: dict[str, int], golden_cables: np.ndarray, golden_fibers: np.ndarray,
                 instruments: tuple[InstrumentRow, ...]) -> StationView:
    """A station from its references (id, method, taken, operator, cords) in storage order, the
    insertion-loss attempts per reference, its golden-check attempts and their fiber rows."""
    rows = tuple(ReferenceRow(rid, method, taken, operator, tuple(cords), int(per_reference.get(rid, 0)))
                 for rid, method, taken, operator, cords in references)
    matings: Counter[str] = Counter()
    for row in rows:
        for cord in row.cord_ids:
            matings[cord] += row.cables_tested
    golden = []
    for row in in_test_order(golden_cables):
        mean_il, margin = _golden_summary(golden_fibers[golden_fibers["key"] == row["key"]])
        golden.append(GoldenRow(str(row["started_utc"]), str(row["serial"]), str(row["reference_id"]),
                                str(row["outcome"]), mean_il, margin))
    return StationView(station_name=station_name, cables_tested=int(sum(per_reference.values())), references=rows,
                       golden_checks=tuple(golden), cord_matings=dict(sorted(matings.items())),
                       instruments=tuple(sorted(instruments, key=lambda i: i.name)))


def _golden_summary(fibers: np.ndarray) -> tuple[float, float]:
    """(mean IL, smallest margin) over the lit readings of one golden check (NaN, NaN if none)."""
    lit = fibers[np.isfinite(fibers["insertion_loss_db"])]
    if len(lit) == 0:
        return float("nan"), float("nan")
    return float(lit["insertion_loss_db"].mean()), float(lit["margin_db"].min())


def spc_product(recipe_name: str, cables: int, baseline_cables: int, baseline: np.ndarray,
                recent: np.ndarray) -> SpcProduct:
    """Series per (wavelength, position) from the fiber rows of the baseline and the recent cables.

    The rows carry `cable_number` (0-based, in test order within the product), serial and
    started_utc, and are the graded (not ERROR), lit readings of attempts with a verdict.
    """
    series = {}
    pairs = sorted(set(zip(recent["wavelength_nm"].tolist(), recent["fiber_position"].tolist(), strict=True))
                   | set(zip(baseline["wavelength_nm"].tolist(), baseline["fiber_position"].tolist(), strict=True)))
    for wavelength, position in pairs:
        base = _at(baseline, wavelength, position)
        now = _at(recent, wavelength, position)
        limits = now["limit_db"][np.isfinite(now["limit_db"])]
        series[(wavelength, position)] = SpcSeries(
            wavelength_nm=wavelength, fiber_position=position, baseline=base["insertion_loss_db"].astype(float),
            recent=now["insertion_loss_db"].astype(float), recent_cable_numbers=tuple(now["cable_number"].tolist()),
            recent_serials=tuple(now["serial"].tolist()), recent_started_utc=tuple(now["started_utc"].tolist()),
            limit_db=float(limits.max()) if len(limits) else float("nan"))
    return SpcProduct(recipe_name=recipe_name, cables=cables, baseline_cables=baseline_cables, series=series)


def _at(rows: np.ndarray, wavelength: float, position: int) -> np.ndarray:
    mine = rows[(rows["wavelength_nm"] == wavelength) & (rows["fiber_position"] == position)]
    return mine[np.argsort(mine["cable_number"], kind="stable")]


def spc_rows(cables: np.ndarray, numbers: np.ndarray, fibers: np.ndarray) -> np.ndarray:
    """The readings SPC charts (graded, not ERROR, and lit) of `cables` (key, serial, started_utc),
    each with the number of its cable in the product (`numbers`, one per cable)."""
    fibers = fibers[(fibers["verdict"] != "ERROR") & np.isfinite(fibers["insertion_loss_db"])]
    order = np.argsort(cables["key"])
    at = order[np.searchsorted(cables["key"], fibers["key"], sorter=order)] if len(cables) else np.empty(0, int)
    out = np.empty(len(fibers), dtype=[("cable_number", "<i8"), ("serial", cables.dtype["serial"]),
                                       ("started_utc", cables.dtype["started_utc"]), ("wavelength_nm", "<f8"),
                                       ("fiber_position", "<i8"), ("insertion_loss_db", "<f8"), ("limit_db", "<f8")])
    out["cable_number"] = numbers[at]
    out["serial"] = cables["serial"][at]
    out["started_utc"] = cables["started_utc"][at]
    for name in ("wavelength_nm", "fiber_position", "insertion_loss_db", "limit_db"):
        out[name] = fibers[name]
    return out
