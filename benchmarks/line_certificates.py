"""Line benchmark: cables per minute with certificates off and on, measured side by side in one run.

    python benchmarks/line_certificates.py [--cables 25] [--blocks 8] [--json]

What `bench line --certificates DIR` does, on the demo virtual station (12-fiber Type-B
trunks at 1310/1550 nm, one in ten seeded to fail, simulated instruments in-process as
`bench line` runs them): short blocks of `--cables` cables take turns in three modes on one
opened station, so a change in machine load falls on all three alike:

* off     - no certificates;
* queued  - certificates on, drawn by the worker process (bench.report.queue, what the line does);
* inline  - certificates on, each drawn in the line's process before the next cable (the
            ReportLab renderer with no worker; the earlier matplotlib pages took ~0.5-0.8 s each).

Printed per mode: the line's rate (cables/min over the test loop), the rate including the wait
for the last queued certificate (the queue drained), and the ratios to "off". Target: >= 600
cables/min with certificates on (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report.certificate_pdf import render_certificate
from bench.report.queue import CertificateQueue
from bench.sim_launch import SimOptions, example_path, open_virtual_line_bench

MODES = ("off", "queued", "inline")


def run_block(bench: Any, mode: str, serials: list[str], folder: Path) -> dict[str, float]:
    """Test `serials` in one mode; seconds for the loop and until every certificate is on disk."""
    folder.mkdir(parents=True, exist_ok=True)
    bench.certificate_dir = None if mode == "off" else folder
    queue = CertificateQueue(folder) if mode == "queued" else None
    bench.certificates = queue  # None with a folder: LineBench draws each certificate inline
    started = time.perf_counter()
    for serial in serials:
        bench.test(serial)
    loop_s = time.perf_counter() - started
    if queue is not None:
        queue.close()
    drained_s = time.perf_counter() - started
    written = len(list(folder.glob("*.pdf")))
    return {"loop_s": loop_s, "drained_s": drained_s, "certificates": written}


def measure(cables: int, blocks: int, folder: Path) -> dict[str, Any]:
    failing = tuple(f"MTP12-{n:06d}" for n in range(1, 1 + cables * blocks * len(MODES) + 10, 10))
    per_mode: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with open_virtual_line_bench(str(example_path("station_demo.toml")), str(example_path("recipe_demo.toml")),
                                 operator="bench", lot="LOT-BENCH", store=folder / "line.h5",
                                 sim=SimOptions(fail_serials=failing, seed=11)) as bench:
        bench.take_reference()
        bench.test("MTP12-000000")  # warm-up: connections, caches, first store append
        number = 1
        for block in range(blocks):
            for mode in MODES:
                serials = [f"MTP12-{n:06d}" for n in range(number, number + cables)]
                number += cables
                bench.take_reference()  # outside the timed loop; a block never meets the 500-cable limit
                per_mode[mode].append(run_block(bench, mode, serials, folder / f"{mode}-{block}"))
        certificate = bench.certificate_data(bench.results[1].outcome)
    started = time.perf_counter()
    for _ in range(20):
        render_certificate(certificate)
    render_s = (time.perf_counter() - started) / 20
    return {"cables_per_block": cables, "blocks": blocks, "render_s": render_s, "per_mode": per_mode}


def summarise(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    cables = result["cables_per_block"]
    rows = {}
    for mode, runs in result["per_mode"].items():
        rates = [cables / r["loop_s"] * 60 for r in runs]
        rows[mode] = {"line_per_min": statistics.median(rates), "low_per_min": min(rates),
                      "high_per_min": max(rates),
                      "drained_per_min": statistics.median(cables / r["drained_s"] * 60 for r in runs),
                      "certificates": sum(r["certificates"] for r in runs)}
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cables", type=int, default=25, help="cables per block (default 25)")
    parser.add_argument("--blocks", type=int, default=8, help="blocks per mode, taking turns (default 8)")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        result = measure(args.cables, args.blocks, Path(folder))
    rows = summarise(result)
    if args.json:
        json.dump({**result, "summary": rows}, sys.stdout, indent=2)
        print()
        return 0
    off = rows["off"]["line_per_min"]
    print(f"{args.cables} cables per block, {args.blocks} blocks per mode taking turns; medians")
    print(f"one certificate drawn in {1000 * result['render_s']:.1f} ms (ReportLab, in this process)")
    print(f"{'mode':<8} {'line cables/min':>16} {'(blocks min-max)':>17} {'vs off':>7} {'incl. drain /min':>17} "
          f"{'certificates':>13}")
    for mode, row in rows.items():
        spread = f"{row['low_per_min']:.0f}-{row['high_per_min']:.0f}"
        print(f"{mode:<8} {row['line_per_min']:>16.0f} {spread:>17} {row['line_per_min'] / off:>7.2f} "
              f"{row['drained_per_min']:>17.0f} {row['certificates']:>13.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
