"""Sample certificates and a lot report for docs/img/: PDFs from a simulated lot, pages as PNG.

    python examples/render_samples.py [--out docs/img]

Tests a lot of 24 simulated cables (4 seeded to fail) on the demo virtual station with an
issuer block, then writes certificate-pass.pdf, certificate-fail.pdf and lot-report.pdf and
renders each page to PNG with poppler's pdftoppm (`.ci/install-poppler` installs it).
tests/report/test_samples.py checks the text of what this writes.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.report import write_certificate
from bench.report.lot_report import load_lot_report_data, write_lot_report
from bench.sim_launch import SimOptions, example_path, open_virtual_line_bench

LOT = "LOT-2026-0412"
ISSUER = '''
[certificate]
issuer = "Example Optics Ltd., Fiber Test Laboratory"
address = ["1 Fiber Way", "Example City"]
contact = "qa@example.invalid"
approved_by = "J. Smith"
approver_title = "Quality Manager"
'''
FILES = ("certificate-pass", "certificate-fail", "lot-report")


def write_samples(out: Path, *, png: bool = True) -> dict[str, Path]:
    """Write the sample PDFs (and their pages as PNG when `png`) into `out`; name → PDF path."""
    out.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        for old in out.glob(f"{name}*"):
            old.unlink()
    serials = [f"MTP12-{n:06d}" for n in range(101, 125)]
    with tempfile.TemporaryDirectory() as work:
        station = Path(work) / "station.toml"
        station.write_text(example_path("station_demo.toml").read_text(encoding="utf-8") + ISSUER, encoding="utf-8")
        store = Path(work) / "samples.h5"
        with open_virtual_line_bench(station, example_path("recipe_demo.toml"), operator="a.jones", lot=LOT,
                                     store=store, sim=SimOptions(fail_serials=tuple(serials[3::6]), seed=12)
                                     ) as bench:
            bench.take_reference()
            results = [bench.test(serial) for serial in serials]
            passed = next(r for r in results if r.verdict == "PASS")
            failed = next(r for r in results if r.verdict == "FAIL")
            pdfs = {"certificate-pass": write_certificate(bench.certificate_data(passed.outcome),
                                                          path=out / "certificate-pass.pdf"),
                    "certificate-fail": write_certificate(bench.certificate_data(failed.outcome),
                                                          path=out / "certificate-fail.pdf")}
        data = load_lot_report_data(store, LOT)
        data.store_path = "results/line-2.h5"  # the temporary folder's name means nothing to a reader
        pdfs["lot-report"] = write_lot_report(data, out / "lot-report.pdf")
    if png:
        for name, pdf in pdfs.items():
            subprocess.run(["pdftoppm", "-r", "80", "-png", str(pdf), str(out / name)], check=True)
    return pdfs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "img")
    args = parser.parse_args()
    if shutil.which("pdftoppm") is None:
        raise SystemExit("pdftoppm not found: install poppler-utils (bash .ci/install-poppler)")
    for name, pdf in write_samples(args.out).items():
        print(f"{name}: {pdf} and {', '.join(p.name for p in sorted(args.out.glob(name + '*.png')))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
