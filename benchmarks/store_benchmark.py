"""Append N simulated 24-fiber x 2-wavelength cables to the HDF5 store and to CSV, side by side.

    python benchmarks/store_benchmark.py [--cables 100000] [--dir DIR] [--no-fsync] [--verify]

Prints append time per cable (mean, p99), file size, the time to fetch one
serial, and the time to compute one lot's per-position IL statistics, for the
HDF5 store and for plain CSV files holding the same data (cables.csv with the
provenance, fibers.csv, matrix.csv), each flushed (and fsynced) per cable.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bench.records import CableRecord, FiberResult
from bench.store import ResultStore, load_results, verify_store

FIBERS = 24
WAVELENGTHS_NM = (1310.0, 1550.0)
CABLES_PER_LOT = 100
LIMIT_DB = 0.35
RECIPE = {"name": "MPO24-SM-typeB", "fiber_count": FIBERS, "wavelengths_nm": list(WAVELENGTHS_NM),
          "limits_db": {"1310": LIMIT_DB, "1550": LIMIT_DB}, "decision_rule": {"kind": "guarded", "u_db": 0.1}}
INSTRUMENTS = (
    {"role": "meter", "model": "N7745A", "serial": "MY0001", "calibration_due": "2026-01-31"},
    {"role": "switch", "model": "N7734A", "serial": "MY0002", "calibration_due": "2026-03-31"},
    {"role": "source", "model": "81657A", "serial": "MY0003", "calibration_due": "2026-02-28"},
)


def simulated_cables(n: int, seed: int = 7) -> Iterator[CableRecord]:
    """Type-B 24-fiber cables: IL ~ |N(0.2, 0.08)| dB, dark channels around -70 dBm."""
    rng = np.random.default_rng(seed)
    positions = np.arange(FIBERS)
    for i in range(n):
        matrix = rng.normal(-70.0, 2.0, (len(WAVELENGTHS_NM), FIBERS, FIBERS))
        fibers = []
        for w, wavelength in enumerate(WAVELENGTHS_NM):
            reference = rng.normal(-3.0, 0.05, FIBERS)
            il = np.abs(rng.normal(0.2, 0.08, FIBERS))
            dut = reference - il
            matrix[w, positions, FIBERS - 1 - positions] = dut
            for p in range(FIBERS):
                margin = LIMIT_DB - il[p]
                fibers.append(FiberResult(p + 1, wavelength, p + 1, FIBERS - p, float(reference[p]),
                                          float(dut[p]), float(il[p]), LIMIT_DB, float(margin),
                                          "PASS" if margin >= 0 else "FAIL",
                                          "" if margin >= 0 else "IL over limit"))
        outcome = "PASS" if all(f.verdict == "PASS" for f in fibers) else "FAIL"
        started = f"2024-{1 + i // 40000:02d}-{1 + (i // 1500) % 27:02d}T{(i // 60) % 24:02d}:{i % 60:02d}:00Z"
        yield CableRecord(
            serial=f"SN{i:08d}", lot=f"LOT{i // CABLES_PER_LOT:05d}", attempt=1, recipe_name=RECIPE["name"],
            recipe_snapshot=RECIPE, station_name="LINE1-ST1", operator="op1", software_version="0.1.0",
            started_utc=started, finished_utc=started, outcome=outcome,
            reason="" if outcome == "PASS" else "fiber over limit", decision_rule="guarded",
            uncertainty_db=0.1, coverage_factor=2.0, reference_id="REF-0001", polarity_found="B",
            instruments=INSTRUMENTS, wavelengths_nm=WAVELENGTHS_NM, power_matrix_dbm=matrix,
            fibers=tuple(fibers), extra={"ambient_c": 22.5},
        )


CABLE_FIELDS = ("serial", "lot", "attempt", "recipe_name", "station_name", "operator", "software_version",
                "started_utc", "finished_utc", "outcome", "reason", "decision_rule", "uncertainty_db",
                "coverage_factor", "reference_id", "polarity_found", "kind")
FIBER_FIELDS = ("fiber_position", "wavelength_nm", "launch_position", "receive_channel", "reference_power_dbm",
                "dut_power_dbm", "insertion_loss_db", "limit_db", "margin_db", "verdict", "reason")


class CsvStore:
    """The naive alternative: three CSV files appended and flushed per cable."""

    def __init__(self, directory: Path, fsync: bool) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.paths = [directory / "cables.csv", directory / "fibers.csv", directory / "matrix.csv"]
        self.files = [open(p, "w", newline="", encoding="utf-8") for p in self.paths]
        self.cables, self.fibers, self.matrix = (csv.writer(f) for f in self.files)
        self.cables.writerow(("record_index", *CABLE_FIELDS, "recipe_snapshot", "instruments", "extra"))
        self.fibers.writerow(("record_index", "serial", "lot", *FIBER_FIELDS))
        self.matrix.writerow(("record_index", "shape", "values_dbm"))
        self.fsync = fsync
        self.n = 0

    def append(self, r: CableRecord) -> None:
        for f in r.fibers:
            self.fibers.writerow((self.n, r.serial, r.lot, *(getattr(f, k) for k in FIBER_FIELDS)))
        self.matrix.writerow((self.n, "x".join(map(str, r.power_matrix_dbm.shape)),
                              " ".join(map(repr, r.power_matrix_dbm.ravel().tolist()))))
        self.cables.writerow((self.n, *(getattr(r, k) for k in CABLE_FIELDS), json.dumps(r.recipe_snapshot),
                              json.dumps(r.instruments), json.dumps(r.extra)))
        for fh in self.files:
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())
        self.n += 1

    def close(self) -> None:
        for fh in self.files:
            fh.close()

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.paths)


def csv_query_serial(directory: Path, serial: str) -> int:
    rows = 0
    for name in ("cables.csv", "fibers.csv"):
        with open(directory / name, newline="", encoding="utf-8") as fh:
            rows += sum(1 for row in csv.reader(fh) if row[1] == serial)
    return rows


def lot_statistics(positions: np.ndarray, wavelengths: np.ndarray, il_db: np.ndarray) -> dict:
    """Mean, standard deviation and max IL per (fiber position, wavelength)."""
    stats = {}
    for key in sorted(set(zip(positions.tolist(), wavelengths.tolist(), strict=True))):
        sel = il_db[(positions == key[0]) & (wavelengths == key[1])]
        stats[key] = (float(sel.mean()), float(sel.std(ddof=1)) if len(sel) > 1 else 0.0, float(sel.max()))
    return stats


def csv_lot_statistics(directory: Path, lot: str) -> dict:
    positions, wavelengths, il = [], [], []
    with open(directory / "fibers.csv", newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            if row[2] == lot:
                positions.append(int(row[3]))
                wavelengths.append(float(row[4]))
                il.append(float(row[9]))
    return lot_statistics(np.array(positions), np.array(wavelengths), np.array(il))


def hdf5_lot_statistics(path: Path, lot: str) -> dict:
    fibers = load_results(path, lot=lot).fibers
    return lot_statistics(fibers["fiber_position"], fibers["wavelength_nm"], fibers["insertion_loss_db"])


def timed(fn, *args, repeat: int = 3) -> tuple[float, object]:
    """Best of `repeat` wall times (s): the first run also pays for a cold page cache."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cables", type=int, default=100_000, help="number of cables to append (default 100000)")
    parser.add_argument("--dir", type=Path, help="working directory (default: a temporary one, removed after)")
    parser.add_argument("--no-fsync", action="store_true", help="flush per cable without fsync (both formats)")
    parser.add_argument("--verify", action="store_true", help="also time verify_store over the whole file")
    args = parser.parse_args(argv)
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="store-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    h5_path, csv_dir = workdir / "results.h5", workdir / "csv"
    for stale in (h5_path, Path(str(h5_path) + ".lock")):
        stale.unlink(missing_ok=True)
    shutil.rmtree(csv_dir, ignore_errors=True)
    fsync = not args.no_fsync

    h5_times, csv_times = np.empty(args.cables), np.empty(args.cables)
    csv_store = CsvStore(csv_dir, fsync)
    t_start = time.perf_counter()
    with ResultStore(h5_path, fsync=fsync) as store:
        for i, record in enumerate(simulated_cables(args.cables)):
            t0 = time.perf_counter()
            store.append_cable(record)
            t1 = time.perf_counter()
            csv_store.append(record)
            h5_times[i], csv_times[i] = t1 - t0, time.perf_counter() - t1
            if (i + 1) % 10000 == 0:
                print(f"  {i + 1} cables appended ({time.perf_counter() - t_start:.0f} s)", file=sys.stderr)
    csv_store.close()

    t_reopen0 = time.perf_counter()
    ResultStore(h5_path).close()
    t_reopen = time.perf_counter() - t_reopen0
    serial = f"SN{args.cables // 2:08d}"
    lot = f"LOT{(args.cables // 2) // CABLES_PER_LOT:05d}"
    h5_serial_s, res = timed(load_results, h5_path, serial)
    csv_serial_s, csv_rows = timed(csv_query_serial, csv_dir, serial)
    h5_lot_s, h5_stats = timed(hdf5_lot_statistics, h5_path, lot)
    csv_lot_s, csv_stats = timed(csv_lot_statistics, csv_dir, lot)
    assert len(res.fibers) + 1 == csv_rows, "HDF5 and CSV disagree on the serial query"
    assert all(np.allclose(h5_stats[k], csv_stats[k]) for k in h5_stats), "lot statistics disagree"

    def ms(x: float) -> str:
        return f"{x * 1e3:10.2f} ms"

    n_fiber_rows = args.cables * FIBERS * len(WAVELENGTHS_NM)
    print(f"\n{args.cables} cables x {FIBERS} fibers x {len(WAVELENGTHS_NM)} wavelengths = {n_fiber_rows} fiber "
          f"records; fsync per cable: {'yes' if fsync else 'no'}")
    print(f"{'':34s}{'HDF5 store':>16s}{'CSV':>16s}")
    print(f"{'append per cable, mean':34s}{ms(h5_times.mean()):>16s}{ms(csv_times.mean()):>16s}")
    print(f"{'append per cable, p99':34s}{ms(np.percentile(h5_times, 99)):>16s}"
          f"{ms(np.percentile(csv_times, 99)):>16s}")
    print(f"{'append per cable, max':34s}{ms(h5_times.max()):>16s}{ms(csv_times.max()):>16s}")
    h5_size, csv_size = h5_path.stat().st_size, csv_store.size()
    print(f"{'file size':34s}{h5_size / 1e6:13.1f} MB{csv_size / 1e6:13.1f} MB")
    print(f"{'bytes per cable':34s}{h5_size / args.cables:16.0f}{csv_size / args.cables:16.0f}")
    print(f"{'query one serial (all its rows)':34s}{ms(h5_serial_s):>16s}{ms(csv_serial_s):>16s}")
    print(f"{'one lot: IL stats per position':34s}{ms(h5_lot_s):>16s}{ms(csv_lot_s):>16s}")
    print(f"{'reopen writer (recovery + index)':34s}{ms(t_reopen):>16s}{'n/a':>16s}")
    if args.verify:
        t_verify, report = timed(verify_store, h5_path, repeat=1)
        print(f"{'verify every record hash':34s}{t_verify:13.1f} s {'n/a':>15s}   ok={report.ok}")
    if args.dir is None:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
