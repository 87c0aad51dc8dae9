"""Fleet database: sync throughput, dashboard view times at 50,000 and 1,000,000 cables, disk per cable.

    python benchmarks/fleet_benchmark.py [--stations 20] [--cables 2500] [--large 1000000] [--workers 4]

1. Writes one HDF5 store per simulated station through our writer (24 fibers x 2 wavelengths,
   lots of 100, about 4 % failing and retested once), in parallel worker processes.
2. Starts a durable PostgreSQL server (fsync on) on 127.0.0.1 in a temporary directory and syncs
   every store into it, first one forwarder at a time, then `--workers` forwarders at once (as a
   plant's stations do), each into its own database; prints cables/s side by side.
3. Times each dashboard query (median of 5) on the synced database, then fills a second database
   to `--large` cables with the same shape in SQL (fibers included: the disk figure is real) and
   builds its summaries through the same fleet.apply_summaries the forwarder's batches call, and
   times the same queries there. Prints the server's disk per cable at both sizes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from bench.fleet.forwarder import sync_store
from bench.fleet.migrate import migrate
from bench.fleet.tempserver import TempServer
from bench.records import CableRecord, FiberResult
from bench.store import ResultStore

FIBERS = 24
WAVELENGTHS_NM = (1310.0, 1550.0)
LOT_SIZE = 100
LIMIT_DB = 0.5
PRODUCTS = ("MPO-24 trunk OS2 Type B", "MPO-12 trunk OS2 Type A", "MPO-24 to 12xLC OS2")
START = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
# (view, filter column or None): what a dashboard page asks; unfiltered ones fetch its first page.
DASHBOARD = (
    ("yield_by_lot", None), ("yield_by_lot", "lot"), ("yield_by_product", None), ("yield_by_station_day", None),
    ("yield_by_day", None), ("yield_by_station", None), ("failure_causes", None),
    ("failure_causes_by_lot", "lot"), ("il_by_position", "lot"), ("retests", None), ("retests", "lot"),
    ("suspect_awaiting_retest", None),
)
PAGE_ROWS = 1000


def _instruments(station: int) -> tuple[dict[str, str], ...]:
    return tuple({"name": role, "manufacturer": "Keysight Technologies", "model": model,
                  "serial_number": f"MY{station:03d}{k:04d}", "firmware": "V1.0", "calibration_due": "2027-06-30"}
                 for k, (role, model) in enumerate((("source", "8164B"), ("switch", "N7734A"), ("meter1", "N7745A"))))


def _cable(rng: np.random.Generator, station: int, number: int, attempt: int, started: dt.datetime,
           failing: bool) -> CableRecord:
    product = PRODUCTS[(number // LOT_SIZE) % len(PRODUCTS)]
    reference = rng.normal(-3.0, 0.05, (len(WAVELENGTHS_NM), FIBERS))
    il = np.abs(rng.normal(0.2, 0.07, (len(WAVELENGTHS_NM), FIBERS)))
    if failing:
        il[:, rng.integers(FIBERS)] += 0.6
    matrix = rng.normal(-70.0, 2.0, (len(WAVELENGTHS_NM), FIBERS, FIBERS))
    fibers = []
    for w, wavelength in enumerate(WAVELENGTHS_NM):
        matrix[w, np.arange(FIBERS), FIBERS - 1 - np.arange(FIBERS)] = reference[w] - il[w]
        for p in range(FIBERS):
            margin = LIMIT_DB - il[w, p]
            verdict = "PASS" if margin >= 0 else "FAIL"
            fibers.append(FiberResult(p + 1, wavelength, p + 1, FIBERS - p, float(reference[w, p]),
                                      float(reference[w, p] - il[w, p]), float(il[w, p]), LIMIT_DB, float(margin),
                                      verdict, "" if margin >= 0 else f"fiber {p + 1} at {wavelength:g} nm: "
                                      f"{il[w, p]:.3f} dB > limit {LIMIT_DB:.3f} dB"))
    outcome = "FAIL" if any(f.verdict == "FAIL" for f in fibers) else "PASS"
    text = started.isoformat().replace("+00:00", "Z")
    return CableRecord(
        serial=f"S{station:02d}-{number:07d}", lot=f"L{station:02d}-{number // LOT_SIZE:04d}", attempt=attempt,
        recipe_name="MPO24-SM", recipe_snapshot={"name": "MPO24-SM", "product": product}, station_name=f"st{station}",
        operator=f"op{number % 3}", software_version="0.1.0", started_utc=text, finished_utc=text, outcome=outcome,
        reason="" if outcome == "PASS" else "fiber over limit", decision_rule="simple", uncertainty_db=0.1,
        coverage_factor=2.0, reference_id=f"REF-{station:02d}", polarity_found="B", instruments=_instruments(station),
        wavelengths_nm=WAVELENGTHS_NM, power_matrix_dbm=matrix, fibers=tuple(fibers))


def write_station(job: tuple[int, int, str]) -> str:
    """One station's store: `cables` records, failing ones retested once right after."""
    station, cables, directory = job
    rng = np.random.default_rng(station)
    path = Path(directory) / f"station-{station:02d}.h5"
    started = START + dt.timedelta(minutes=station)
    with ResultStore(path, fsync=False) as store:
        number = 0
        while len(store) < cables:
            failing = rng.random() < 0.04
            store.append_cable(_cable(rng, station, number, 1, started, failing))
            started += dt.timedelta(seconds=45)
            if failing and len(store) < cables:
                store.append_cable(_cable(rng, station, number, 2, started, False))
                started += dt.timedelta(seconds=45)
            number += 1
    return str(path)


def _sync_one(job: tuple[dict[str, Any], str, str]) -> int:
    info, path, station = job
    with psycopg.connect(**info) as conn:
        return sync_store(conn, path, station, batch_cables=500).cables_new


def _new_database(server: TempServer, name: str) -> dict[str, Any]:
    info = server.create_database(name)
    with psycopg.connect(**info) as conn:
        migrate(conn)
    return info


def timed_sync(server: TempServer, name: str, stores: list[str], workers: int) -> tuple[float, int]:
    info = _new_database(server, name)
    jobs = [(info, path, f"st{k}") for k, path in enumerate(stores)]
    began = time.perf_counter()
    if workers == 1:
        sent = sum(_sync_one(job) for job in jobs)
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            sent = sum(pool.map(_sync_one, jobs, chunksize=1))
    return time.perf_counter() - began, sent


def _query(view: str, column: str | None) -> tuple[str, str | None]:
    if column is None:
        return f"SELECT * FROM fleet.{view} LIMIT {PAGE_ROWS}", None
    return f"SELECT * FROM fleet.{view} WHERE {column} = %s", column


def time_views(info: dict[str, Any]) -> dict[str, float]:
    """Median milliseconds of each dashboard query (a lot in the middle for the filtered ones)."""
    with psycopg.connect(**info) as conn:
        conn.execute("ANALYZE")
        lots = [r[0] for r in conn.execute("SELECT lot FROM fleet.lot_counts ORDER BY lot")]
        lot = lots[len(lots) // 2]
        out = {}
        for view, column in DASHBOARD:
            sql, param = _query(view, column)
            times = []
            for _ in range(5):
                began = time.perf_counter()
                conn.execute(sql, (lot,) if param else ()).fetchall()
                times.append(time.perf_counter() - began)
            conn.commit()
            out[f"{view}" + (f" ({column} = ...)" if column else f" (first {PAGE_ROWS})")] = 1000 * statistics.median(
                times)
    return out


def database_bytes(info: dict[str, Any]) -> int:
    with psycopg.connect(**info) as conn:
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])


FILL_SQL = """
INSERT INTO fleet.stations (station_name) SELECT 'big' || g FROM generate_series(1, 20) g;
INSERT INTO fleet.sync_batches (batch_id, station_id, n_cables, n_references, n_annotations, n_duplicates,
                                software_version)
SELECT b, 1 + (b - 1) / %(per_station)s, 0, 0, 0, 0, 'fill' FROM generate_series(1, %(batches)s) b;
"""
# Every 26th record is a failing first attempt, retested (attempt 2, same serial) by the next one.
CABLES_SQL = """
INSERT INTO fleet.cables
SELECT %(st)s::integer, idx, 'B' || %(st)s::integer || '-' || serial_no,
       'BL' || %(st)s::integer || '-' || (serial_no / 100), attempt,
       'insertion_loss', 'MPO24-SM', (%(products)s::text[])[1 + (serial_no / 100) %% 3], 'op', '0.1.0', t, t,
       outcome, '', 'simple', 0.1, 2.0, 'REF', 'B', 24, 2, 24, 24, t,
       md5(%(st)s::integer || ':' || idx) || md5(idx || ':' || %(st)s::integer), '', %(batch)s::bigint
FROM (
    SELECT idx, idx - (idx + 1) / 26 AS serial_no, CASE WHEN idx %% 26 = 25 THEN 2 ELSE 1 END AS attempt,
           CASE WHEN idx %% 26 = 24 THEN 'FAIL' ELSE 'PASS' END AS outcome,
           timestamptz '2026-09-01' + idx * interval '45 seconds' AS t
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) idx
) c;
"""
FIBERS_SQL = """
INSERT INTO fleet.fibers
SELECT c.station_id, c.record_index, p, w, p, 25 - p, -3.0, -3.0 - il, il, 0.5, 0.5 - il,
       CASE WHEN il > 0.5 THEN 'FAIL' ELSE 'PASS' END,
       CASE WHEN il > 0.5 THEN 'fiber ' || p || ' at ' || w || ' nm: over limit' ELSE '' END
FROM fleet.cables c, unnest(ARRAY[1310.0, 1550.0]::float8[]) w, generate_series(1, 24) p,
     LATERAL (SELECT CASE WHEN c.outcome = 'FAIL' AND p = 7 THEN 0.9
                          ELSE 0.2 + 0.07 * sin(c.record_index * 7.1 + p * 1.3 + w) END AS il) v
WHERE c.batch_id = %(batch)s::bigint;
"""


def fill_large(server: TempServer, name: str, cables: int) -> dict[str, Any]:
    """`cables` attempts of 20 stations written in SQL, batch by batch, with their summaries."""
    info = _new_database(server, name)
    per_batch = max(1, min(10_000, cables // 20))
    per_station = max(1, cables // 20 // per_batch)
    batches = 20 * per_station
    began = time.perf_counter()
    with psycopg.connect(**info) as conn:
        for statement in FILL_SQL.split(";")[:-1]:
            conn.execute(statement, {"per_station": per_station, "batches": batches})
        for b in range(1, batches + 1):
            first = (b - 1) % per_station * per_batch
            params = {"st": 1 + (b - 1) // per_station, "first": first, "last": first + per_batch - 1, "batch": b,
                      "products": list(PRODUCTS)}
            conn.execute(CABLES_SQL, params)
            conn.execute(FIBERS_SQL, {"batch": b})
            conn.execute("SELECT fleet.apply_summaries(%s)", (b,))
            conn.commit()
    with psycopg.connect(**info, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        total = conn.execute("SELECT count(*) FROM fleet.cables").fetchone()[0]
    print(f"  filled {total} cables in {time.perf_counter() - began:.0f} s")
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, default=20)
    parser.add_argument("--cables", type=int, default=2500, help="cables per station")
    parser.add_argument("--large", type=int, default=1_000_000, help="cables in the large database (0: skip)")
    parser.add_argument("--workers", type=int, default=4, help="forwarders at once in the parallel run")
    args = parser.parse_args(argv)
    total = args.stations * args.cables
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as directory:
        began = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            stores = pool.map(write_station, [(k, args.cables, directory) for k in range(args.stations)])
        print(f"{args.stations} stations x {args.cables} cables = {total} HDF5 records written in "
              f"{time.perf_counter() - began:.0f} s")
        with TempServer(durable=True) as server:
            one_s, sent_one = timed_sync(server, "sync_one", stores, 1)
            many_s, sent_many = timed_sync(server, "sync_many", stores, args.workers)
            assert sent_one == sent_many == total, (sent_one, sent_many, total)
            again_s, again = timed_sync_again(server, "sync_many", stores)
            print("\nsync into one durable server (fsync on), batches of 500 records (24 fibers x 2 wavelengths)")
            print(f"  {'one forwarder at a time':<34} {total / one_s:8.0f} cables/s  ({one_s:.1f} s)")
            print(f"  {f'{args.workers} forwarders at once':<34} {total / many_s:8.0f} cables/s  ({many_s:.1f} s)")
            print(f"  {'repeat (nothing new)':<34} {again_s:8.2f} s for {args.stations} stations, {again} new")
            small = server.conninfo(dbname="sync_many")
            small_views = time_views(small)
            small_bytes = database_bytes(small)
            large_views: dict[str, float] = {}
            large_bytes = 0
            if args.large:
                print(f"\nfilling a database with {args.large} cables ...")
                large = fill_large(server, "large", args.large)
                large_views = time_views(large)
                large_bytes = database_bytes(large)
            print(f"\ndashboard query, median of 5 (ms)      {total:>10} cables {args.large:>10} cables")
            for name, ms in small_views.items():
                other = f"{large_views[name]:10.1f}" if name in large_views else f"{'-':>10}"
                print(f"  {name:<40} {ms:10.1f}        {other}")
            print(f"\nserver disk per cable (database size / cables): {small_bytes / total:,.0f} B at {total}"
                  + (f", {large_bytes / args.large:,.0f} B at {args.large}" if args.large else ""))
    return 0


def timed_sync_again(server: TempServer, name: str, stores: list[str]) -> tuple[float, int]:
    info = server.conninfo(dbname=name)
    began = time.perf_counter()
    new = sum(_sync_one((info, path, f"st{k}")) for k, path in enumerate(stores))
    return time.perf_counter() - began, new


if __name__ == "__main__":
    sys.exit(main())
