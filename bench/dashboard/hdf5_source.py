"""The dashboard's data from one station's HDF5 store (read-only, SWMR: works while a bench writes).

Rows come from `bench.store.load_results()`; the views from `bench.dashboard.views`, the same
code the fleet source uses. A station's store is read whole for the station, product and SPC
pages (cached until the file changes); the fleet database is the source for a plant's year.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections import Counter
from pathlib import Path

import numpy as np

from bench.dashboard import views
from bench.dashboard.source import (
    GOLDEN_KIND,
    IL_KIND,
    VERDICT_OUTCOMES,
    InstrumentRow,
    LotView,
    PlantDay,
    ProductRow,
    SerialView,
    SpcProduct,
    StationView,
)
from bench.errors import BenchError
from bench.store import LoadedResults, load_references, load_results


def _keyed(rows: np.ndarray) -> np.ndarray:
    """`rows` with a `key` column: in one store the record number names an attempt."""
    out = np.empty(len(rows), dtype=rows.dtype.descr + [("key", "<i8")])
    for name in rows.dtype.names:
        out[name] = rows[name]
    out["key"] = rows["record_index"]
    return out


class Hdf5Source:
    """`DashboardSource` over one results file; every call reads the committed records afresh."""

    serves_certificates = True

    def __init__(self, path: str | os.PathLike[str], *, description: str | None = None) -> None:
        self.path = Path(path)
        self.description = description or f"HDF5 store {self.path}"
        self._cache: tuple[tuple[int, int], LoadedResults] | None = None

    def _all(self) -> LoadedResults:
        """Every record, re-read whenever the file changed (a writer appends and flushes)."""
        stat = self.path.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, load_results(self.path))
        return self._cache[1]

    def plant_day(self, day: dt.date) -> PlantDay:
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        results = load_results(self.path, since_utc=start, until_utc=start + dt.timedelta(days=1))
        return views.plant_day(day, _keyed(results.cables))

    def lot(self, lot: str) -> LotView | None:
        results = load_results(self.path, lot=lot)
        view = views.lot_view(lot, _keyed(results.cables), _keyed(results.fibers))
        if view is None:
            return None
        marked = results.suspect  # record index -> why (bench.store.annotations, append-only)
        cables = results.cables
        suspect = tuple((str(row["serial"]), int(row["attempt"]), marked[int(row["record_index"])])
                        for row in cables if int(row["record_index"]) in marked)
        return dataclasses.replace(view, suspect=suspect)

    def serial(self, serial: str) -> SerialView | None:
        results = load_results(self.path, serial=serial)
        return views.serial_view(serial, _keyed(results.cables), _keyed(results.fibers), certificates=True)

    def station_names(self) -> tuple[str, ...]:
        return tuple(sorted(set(self._all().cables["station_name"].tolist())))

    def station(self, station_name: str) -> StationView | None:
        results = self._all()
        cables = _keyed(results.cables[results.cables["station_name"] == station_name])
        references = [r for r in load_references(self.path) if r.station_name == station_name]
        if len(cables) == 0 and not references:
            return None
        per_reference = Counter(cables["reference_id"][cables["kind"] == IL_KIND].tolist())
        golden = cables[cables["kind"] == GOLDEN_KIND]
        golden_fibers = _keyed(results.fibers[np.isin(results.fibers["record_index"], golden["record_index"])])
        return views.station_view(station_name, [(r.reference_id, r.method, r.taken_utc, r.operator,
                                                  tuple(r.cord_ids)) for r in references],
                                  per_reference, golden, golden_fibers, self._instruments(results, cables))

    @staticmethod
    def _instruments(results: LoadedResults, cables: np.ndarray) -> tuple[InstrumentRow, ...]:
        if len(cables) == 0:
            return ()
        latest = views.in_test_order(cables)[-1]
        return tuple(InstrumentRow(str(i.get("name", i.get("address", ""))), str(i.get("manufacturer", "")),
                                   str(i.get("model", "")), str(i.get("serial_number", "")),
                                   str(i.get("calibration_due", "")))
                     for i in results.instruments(int(latest["record_index"])))

    def certificate_pdf(self, serial: str, attempt: int) -> bytes | None:
        """The certificate of a measured attempt, drawn as `bench certificate` draws it (None if none)."""
        from bench.report.certificate import certificate_from_store
        from bench.report.certificate_pdf import render_certificate

        try:
            data = certificate_from_store(self.path, serial, attempt=attempt)
        except BenchError:  # no such serial or attempt, or nothing measured to certify
            return None
        return render_certificate(data)

    def _product_cables(self, results: LoadedResults, recipe_name: str | None = None) -> np.ndarray:
        cables = results.cables
        mask = (cables["kind"] == IL_KIND) & np.isin(cables["outcome"], list(VERDICT_OUTCOMES))
        if recipe_name is not None:
            mask &= cables["recipe_name"] == recipe_name
        return views.in_test_order(_keyed(cables[mask]))

    def products(self) -> tuple[ProductRow, ...]:
        counts = Counter(self._product_cables(self._all())["recipe_name"].tolist())
        return tuple(ProductRow(name, count) for name, count in sorted(counts.items()))

    def spc_product(self, recipe_name: str, *, baseline_cables: int, recent_cables: int) -> SpcProduct | None:
        results = self._all()
        cables = self._product_cables(results, recipe_name)
        if len(cables) == 0:
            return None
        numbers = np.arange(len(cables))
        first_recent = max(0, len(cables) - recent_cables)
        fibers = _keyed(results.fibers[np.isin(results.fibers["record_index"], cables["key"])])
        rows = views.spc_rows(cables, numbers, fibers)
        return views.spc_product(recipe_name, len(cables), min(baseline_cables, len(cables)),
                                 rows[rows["cable_number"] < baseline_cables],
                                 rows[rows["cable_number"] >= first_recent])
