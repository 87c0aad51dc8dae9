"""Dashboard page load times over the fleet database, at a small size and at 1,000,000 cables.

    python benchmarks/dashboard_benchmark.py [--small 10000] [--large 1000000] [--repeats 5]

Starts a throw-away PostgreSQL server on 127.0.0.1 (bench.fleet.tempserver), fills one database
per size in SQL with a year of a plant's records shaped like the stations' (10 stations, lots of
200, three 12-fiber products, 12 fibers x 2 wavelengths per cable, about 4 % failing and retested
once, a reference and a golden-cable check per station and day, test cords, instruments), serves
the dashboard over each (bench.dashboard.FleetSource, uvicorn on 127.0.0.1) and times every page
as a browser would fetch it (HTTP GET of the whole page, charts included): median of --repeats
after one warm-up, both sizes side by side with their ratio. The summary tables of the fleet's
own views are not filled: the dashboard does not read them. Target: every page under 1 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dashboard import create_app  # noqa: E402
from bench.dashboard.fleet_source import FleetSource  # noqa: E402
from bench.fleet.migrate import migrate  # noqa: E402
from bench.fleet.tempserver import TempServer  # noqa: E402
from tests.dashboard.conftest import ServedApp  # noqa: E402

STATIONS = 10
LOT_SIZE = 200
YEAR_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PRODUCTS = ("MTP12-SM-B-TRUNK", "MTP12-SM-A-TRUNK", "MTP12-MM-B-TRUNK")

SETUP_SQL = """
INSERT INTO fleet.stations (station_name) SELECT 'fab-' || lpad(g::text, 2, '0') FROM generate_series(1, {stations}) g;
INSERT INTO fleet.sync_batches (batch_id, station_id, n_cables, n_references, n_annotations, n_duplicates,
                                software_version)
SELECT g, g, 0, 0, 0, 0, 'benchmark' FROM generate_series(1, {stations}) g;
INSERT INTO fleet.instruments (manufacturer, model, serial_number, firmware, calibration_due)
VALUES ('Agilent Technologies', '8164B', 'MY00000000', 'V5.25', '2027-06-30'),
       ('Keysight Technologies', 'N7734A', 'MY00000001', 'V1.2', ''),
       ('Keysight Technologies', 'N7745A', 'MY00000002', 'V2.1.0', '2026-03-31');
"""
# One station's year: its cables (every 26th a failing first attempt, retested by the next
# record), a reference and a golden check a day (records after the cables), and their fibers.
STATION_SQL = """
INSERT INTO fleet.reference_measurements
SELECT %(st)s, d, 'REF-' || %(st)s || '-' || d, '1-cord', %(start)s + d * interval '1 day', 'op',
       ARRAY['LCORD-' || %(st)s || '-' || d / 30, 'RCORD-' || %(st)s || '-' || d / 30],
       ARRAY[1310.0, 1550.0]::float8[], 12, array_fill(-2.0::float8, ARRAY[24]), md5('ref' || d), %(st)s
FROM generate_series(0, 364) d;
INSERT INTO fleet.reference_cords
SELECT station_id, record_index, unnest(cord_ids) FROM fleet.reference_measurements WHERE station_id = %(st)s;
INSERT INTO fleet.cables
SELECT %(st)s, idx, 'S' || %(st)s || '-' || lpad(serial_no::text, 7, '0'),
       'L' || %(st)s || '-' || lpad((serial_no / {lot})::text, 5, '0'), attempt, 'insertion_loss',
       (%(products)s::text[])[1 + (serial_no / {lot}) %% 3], 'product', 'op', '0.1.0', t, t + interval '40 s',
       outcome, CASE WHEN outcome = 'FAIL' THEN 'fiber 7 over the limit' ELSE 'all readings within limits' END,
       'simple', 0.1, 2.0, 'REF-' || %(st)s || '-' || (idx / %(per_day)s), 'B', 12, 2, 12, 12, t,
       md5(%(st)s || ':' || idx), '', %(st)s
FROM (SELECT idx, idx - (idx + 1) / 26 AS serial_no, CASE WHEN idx %% 26 = 25 THEN 2 ELSE 1 END AS attempt,
             CASE WHEN idx %% 26 = 24 THEN 'FAIL' ELSE 'PASS' END AS outcome,
             %(start)s + interval '8 hours' + idx * %(step)s * interval '1 second' AS t
      FROM generate_series(0, %(n)s - 1) idx) c;
INSERT INTO fleet.cables
SELECT %(st)s, %(n)s + d, 'GOLD-' || %(st)s, 'golden', d + 1, 'golden_check', 'golden:GOLD-' || %(st)s, 'golden',
       'op', '0.1.0', %(start)s + d * interval '1 day' + interval '7 hours', %(start)s + d * interval '1 day'
       + interval '7 hours', 'PASS', '', 'simple', 0.1, 2.0, 'REF-' || %(st)s || '-' || d, 'B', 12, 2, 12, 12,
       %(start)s + d * interval '1 day', md5('g' || d), '', %(st)s
FROM generate_series(0, 364) d;
INSERT INTO fleet.fibers
SELECT c.station_id, c.record_index, p, w, p, 13 - p, -2.0, -2.0 - il, il, lim, lim - il,
       CASE WHEN il > lim THEN 'FAIL' ELSE 'PASS' END,
       CASE WHEN il > lim THEN 'fiber ' || p || ' over the limit' ELSE '' END
FROM fleet.cables c, unnest(ARRAY[1310.0, 1550.0]::float8[]) w, generate_series(1, 12) p,
     LATERAL (SELECT CASE WHEN c.kind = 'golden_check' THEN 0.25 ELSE 0.75 END AS lim,
                     CASE WHEN c.outcome = 'FAIL' AND p = 7 THEN 0.95
                          WHEN c.kind = 'golden_check' THEN 0.15 + 0.01 * sin(c.record_index + p)
                          ELSE 0.30 + 0.07 * sin(c.record_index * 7.1 + p * 1.3 + w) END AS il) v
WHERE c.station_id = %(st)s;
INSERT INTO fleet.cable_instruments
SELECT %(st)s, %(n)s - 1, instrument_id, (ARRAY['source', 'switch', 'meter1'])[instrument_id]
FROM fleet.instruments;
"""


def fill(server: TempServer, name: str, cables: int) -> dict[str, Any]:
    """A new database holding `cables` insertion-loss attempts over a year, filled in SQL."""
    with psycopg.connect(**server.conninfo(dbname="postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    info = server.conninfo(dbname=name)
    per_station = cables // STATIONS
    began = time.perf_counter()
    with psycopg.connect(**info) as conn:
        migrate(conn)
        for statement in SETUP_SQL.format(stations=STATIONS).split(";")[:-1]:
            conn.execute(statement)
        conn.commit()
        for station in range(1, STATIONS + 1):
            params = {"st": station, "n": per_station, "start": YEAR_START, "step": 365 * 86400 / per_station,
                      "per_day": max(1, per_station // 365), "products": list(PRODUCTS)}
            for statement in STATION_SQL.format(lot=LOT_SIZE).split(";")[:-1]:
                conn.execute(statement, params)
            conn.commit()
    with psycopg.connect(**info, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        total = conn.execute("SELECT count(*) FROM fleet.cables WHERE kind = 'insertion_loss'").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM fleet.fibers").fetchone()[0]
    print(f"  {name}: {total:,} cables, {rows:,} fiber rows filled in {time.perf_counter() - began:.0f} s")
    return info


def pages(cables: int) -> dict[str, str]:
    """The page of each kind a quality engineer opens, at the middle of the year."""
    per_station = cables // STATIONS
    middle = per_station // 2
    lot = f"L3-{middle // LOT_SIZE:05d}"
    retested = middle - middle % 26 + 24  # a failing first attempt; the next record retests it
    serial = f"S3-{retested - (retested + 1) // 26:07d}"
    product = PRODUCTS[0]
    return {
        "plant today": "/", "lot (200 cables)": f"/lot?name={lot}", "station (a year)": "/station?name=fab-03",
        "serial (retested)": f"/serial?serial={serial}", "stations": "/station", "SPC products": "/spc",
        "SPC product grid": f"/spc?product={product}",
        "SPC chart": f"/spc?product={product}&wavelength_nm=1310&position=7",
    }


def time_pages(info: dict[str, Any], cables: int, repeats: int) -> dict[str, float]:
    """Median seconds per page, fetched whole over HTTP."""
    middle_day = (YEAR_START + dt.timedelta(days=182)).date()
    clock = lambda: dt.datetime.combine(middle_day, dt.time(15), tzinfo=dt.UTC)  # noqa: E731
    app = create_app(FleetSource(info, description="benchmark"), clock=clock)
    out = {}
    with ServedApp(app) as served:
        for name, path in pages(cables).items():
            times = []
            for attempt in range(repeats + 1):
                began = time.perf_counter()
                with urllib.request.urlopen(served.url + path) as response:  # our server on 127.0.0.1
                    body = response.read()
                    if response.status != 200 or b"<h1" not in body:
                        raise RuntimeError(f"{path}: HTTP {response.status}")
                if attempt:  # the first fetch warms the server's caches and connection
                    times.append(time.perf_counter() - began)
            out[name] = statistics.median(times)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=10_000, help="cables in the small database")
    parser.add_argument("--large", type=int, default=1_000_000, help="cables in the large database")
    parser.add_argument("--repeats", type=int, default=5, help="timed fetches per page (median)")
    args = parser.parse_args(argv)
    with TempServer() as server:
        print("filling the fleet databases ...")
        small = fill(server, "small", args.small)
        large = fill(server, "large", args.large)
        small_s = time_pages(small, args.small, args.repeats)
        large_s = time_pages(large, args.large, args.repeats)
    print(f"\npage load, median of {args.repeats} (ms)   {args.small:>12,} cables {args.large:>12,} cables   ratio")
    for name in small_s:
        print(f"  {name:<34} {1000 * small_s[name]:12.1f}        {1000 * large_s[name]:12.1f}   "
              f"{large_s[name] / small_s[name]:6.2f}")
    worst = max(large_s, key=large_s.get)
    verdict = "met" if large_s[worst] < 1.0 else "MISSED"
    print(f"\nslowest page at {args.large:,} cables: {worst}, {1000 * large_s[worst]:.0f} ms "
          f"(target < 1000 ms: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
