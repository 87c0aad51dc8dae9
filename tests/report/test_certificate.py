"""Certificates as a customer's incoming inspection reads them: text extracted from the PDF (pypdf)."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import pypdf
import pytest

from bench.cli.main import main
from bench.config.station import load_station, parse_station
from bench.config.tomlio import read_toml
from bench.errors import BenchError, ConfigError
from bench.operator.line import LineResult, open_line_bench
from bench.report.certificate import CertificateData, FiberRow
from bench.report.certificate_pdf import write_certificate
from bench.report.issuer import issuer_from_station
from bench.report.queue import CertificateQueue
from bench.sim_launch import SimOptions, example_path, open_virtual_line_bench
from tests.report.conftest import FAILING, LOT, RECIPE


def pdf_pages_text(path: Path) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in pypdf.PdfReader(path).pages]


def smallest_font_pt(path: Path) -> float:
    """The smallest text size on any page, in points as printed (font size times the text matrix scale)."""
    sizes: list[float] = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if text.strip():
            scale = math.hypot(tm[0], tm[1]) * math.hypot(cm[0], cm[1])
            sizes.append(size * scale)
    for page in pypdf.PdfReader(path).pages:
        page.extract_text(visitor_text=visit)
    return min(sizes)


def test_a_queued_certificate_carries_what_incoming_inspection_checks(
        issued_lot: tuple[Path, Path, list[LineResult]]) -> None:
    store, _, results = issued_lot
    failing = next(r for r in results if r.serial == FAILING[0])
    record = failing.outcome.record
    assert failing.certificate is not None and failing.certificate.stat().st_size > 0
    pages = pdf_pages_text(failing.certificate)
    text = " ".join(pages)
    for expected in (
            "Insertion-loss test certificate", f"Certificate No. demo-bench-1-{failing.outcome.record_index}",
            "Example Optics Ltd., Test Laboratory", "1 Fiber Way, Example City", "qa@example.invalid",
            "Approved by: J. Smith, Quality Manager", "Signature:", "Tested by: line-op",
            "Test standard IEC 61280-4-5 / TIA-526-28",
            "Method 1-cord reference (both end connections included in the result)",
            f"Serial number {record.serial}", f"Lot {LOT}", "Test cords LCORD-0001",
            f"Uncertainty U = {record.uncertainty_db:.3f} dB expanded, k = 2", "Decision rule simple acceptance",
            "uncertainty budget below (GUM", "Contribution Value Distribution", "meter linearity",
            "connector repeatability",
            "PASS if IL ≤ limit", "Polarity required B, found B",
            "IL 1310 nm (dB) limit (dB) margin (dB) IL 1550 nm (dB) limit (dB) margin (dB) Verdict",
            "Calibrated Calibration due", "FAIL", f"page 1 of {len(pages)}"):
        assert expected in text, expected
    # The failing readings listed under the result move the approval block to a second page.
    assert len(pages) == 2 and "Approval" in pages[1] and "Instruments" in pages[0]
    # Every instrument with its serial, calibration date and due date, the switch included.
    assert len(record.instruments) == 4
    for instrument in record.instruments:
        assert instrument["calibration_date"] and instrument["calibration_due"], instrument["name"]
        row = (f"{instrument['name']} {instrument['role']} {instrument['manufacturer']} {instrument['model']} "
               f"{instrument['serial_number']}")
        assert row in text, row
        assert f"{instrument['calibration_date']} {instrument['calibration_due']}" in text
    # The per-fiber table, with the fiber map (end B) the polarity check found, as stored.
    end_b = record.extra["polarity"]["receive_position"]
    for position in range(1, 13):
        cells = [str(position), str(end_b[position - 1])]
        for fiber in sorted((f for f in record.fibers if f.fiber_position == position), key=lambda f: f.wavelength_nm):
            cells += [f"{fiber.insertion_loss_db:.3f}", f"{fiber.limit_db:.3f}", f"{fiber.margin_db:+.3f}"]
        verdict = "FAIL" if position in failing.failing_fibers else "PASS"
        assert " ".join([*cells, verdict]) in text, position
    assert f"failing fibers: {', '.join(map(str, failing.failing_fibers))}" in text


def test_certificate_numbers_are_unique_record_numbers_of_the_store(
        issued_lot: tuple[Path, Path, list[LineResult]]) -> None:
    _, _, results = issued_lot
    numbers = []
    for result in results:
        assert result.certificate is not None
        found = re.search(r"Certificate No\. (\S+)", pdf_pages_text(result.certificate)[0])
        assert found is not None
        numbers.append(found.group(1))
    assert numbers == [f"demo-bench-1-{r.outcome.record_index}" for r in results]
    assert len(set(numbers)) == len(numbers)


def test_every_text_is_readable_at_print_size(issued_lot: tuple[Path, Path, list[LineResult]]) -> None:
    _, _, results = issued_lot
    for result in results:
        assert result.certificate is not None
        assert smallest_font_pt(result.certificate) >= 7.0


def test_cli_certificate_names_the_issuer_and_says_which_attempts_exist(
        tmp_path: Path, issued_lot: tuple[Path, Path, list[LineResult]], capsys: pytest.CaptureFixture[str]) -> None:
    _, station, _ = issued_lot
    store = tmp_path / "attempts.h5"
    serial = "MTP12-000100"

    def abort(*_args: object) -> None:
        raise KeyboardInterrupt

    with open_virtual_line_bench(station, RECIPE, operator="op", lot="L-ATT", store=store,
                                 sim=SimOptions(seed=3)) as bench:
        bench.take_reference()
        with pytest.raises(KeyboardInterrupt):
            bench.test(serial, progress=abort)
        assert bench.test(serial).verdict == "PASS"
    out = tmp_path / "a1.pdf"
    assert main(["certificate", str(store), serial, "--attempt", "1", "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "attempt 1 of serial 'MTP12-000100' has no readings to certify" in err
    assert "attempts: 1 ABORTED (no readings), 2 PASS" in err and "give --attempt 2" in err
    assert not out.exists()
    assert main(["certificate", str(store), serial, "--attempt", "7", "--out", str(out)]) == 2
    assert "has no attempt 7; its attempts are 1 ABORTED (no readings), 2 PASS" in capsys.readouterr().err
    assert main(["certificate", str(store), serial, "--station", str(station), "--out", str(out)]) == 0
    assert "PASS certificate of MTP12-000100 (attempt 2)" in capsys.readouterr().out
    text = " ".join(pdf_pages_text(out))
    assert "Example Optics Ltd., Test Laboratory" in text and "Attempt 2" in text


def test_a_certificate_without_issuer_says_so(tested_lot: tuple[Path, list], tmp_path: Path) -> None:
    store, results = tested_lot
    assert main(["certificate", str(store), results[0].serial, "--out", str(tmp_path / "c.pdf")]) == 0
    assert "issuer not configured" in pdf_pages_text(tmp_path / "c.pdf")[0]


def test_certificate_paginates_32_fibers_and_shows_no_light(tested_lot: tuple[Path, list], tmp_path: Path) -> None:
    _, results = tested_lot
    data = CertificateData.from_record(results[0].outcome.record, record_index=results[0].outcome.record_index)
    rows = tuple(FiberRow(p, (0.2 + p / 100, math.nan if p == 17 else 0.3), (0.75, 0.75),
                          (0.55 - p / 100, math.nan if p == 17 else 0.45),
                          ("PASS", "FAIL" if p == 17 else "PASS"), 33 - p) for p in range(1, 33))
    big = replace(data, fibers=rows, outcome="FAIL", serial="MTP32/../x")
    path = write_certificate(big, directory=tmp_path)
    assert path.parent == tmp_path and path.name.startswith("MTP32_.._x-")
    pages = pdf_pages_text(path)
    assert len(pages) == 2 and "page 2 of 2" in pages[1] and "page 1 of 2" in pages[0]
    assert "17 16 0.370 0.750 +0.380 no light 0.750 - FAIL" in " ".join(pages)
    assert "failing fibers: 17" in pages[0]
    assert smallest_font_pt(path) >= 7.0


def test_the_queue_reports_a_certificate_it_could_not_write(tested_lot: tuple[Path, list], tmp_path: Path) -> None:
    _, results = tested_lot
    good = CertificateData.from_record(results[0].outcome.record, record_index=results[0].outcome.record_index)
    broken = replace(good, serial="BROKEN-1", wavelengths_nm=(1310.0,))  # rows hold two wavelengths
    queue = CertificateQueue(tmp_path)
    written = queue.submit(good)
    lost = queue.submit(broken)
    with pytest.raises(BenchError, match=r"1 certificate\(s\) could not be written: BROKEN-1_attempt1\.pdf"):
        queue.close()
    assert written.stat().st_size > 0 and pypdf.PdfReader(written).pages
    assert not lost.exists() and not Path(f"{lost}.part").exists()


def test_a_bad_certificate_table_is_refused_before_any_instrument(tmp_path: Path) -> None:
    data = read_toml(example_path("station_demo.toml"))
    data["station"]["backend"] = "visa"  # nothing listens at the 192.0.2.x addresses
    data["certificate"] = {"issuer": "Example\tOptics", "approver": "J. Smith"}
    config = parse_station(data, "line3.toml")
    with pytest.raises(ConfigError) as refused:
        issuer_from_station(config)
    assert refused.value.source == "line3.toml" and refused.value.field == "certificate.issuer"
    with pytest.raises(ConfigError, match="certificate"):
        with open_line_bench(config, RECIPE, operator="op", lot="L", store=tmp_path / "s.h5"):
            pass
    assert not (tmp_path / "s.h5").exists()
    data["certificate"] = {"issuer": "Example Optics", "approver": "J. Smith"}
    with pytest.raises(ConfigError) as unknown:
        issuer_from_station(parse_station(data, "line3.toml"))
    assert "approver" in str(unknown.value)
    assert issuer_from_station(load_station(example_path("station_demo.toml"))).issuer == ""


def test_the_worker_draws_the_same_certificate_from_its_json(tested_lot: tuple[Path, list]) -> None:
    import json

    from bench.report.certificate_pdf import render_certificate

    _, results = tested_lot
    failing = next(r for r in results if r.verdict == "FAIL")
    data = CertificateData.from_record(failing.outcome.record, record_index=failing.outcome.record_index)
    data = replace(data, fibers=(*data.fibers[:-1], replace(data.fibers[-1], insertion_loss_db=(math.nan, 0.3))))
    again = CertificateData.from_dict(json.loads(json.dumps(data.as_dict())))
    assert render_certificate(again) == render_certificate(data)


def test_a_line_script_without_a_main_guard_gets_its_certificates(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.cli.conftest import child_env

    script = tmp_path / "line3.py"  # top-level code, as many production scripts are written
    script.write_text(
        "from bench.sim_launch import example_path, open_virtual_line_bench\n"
        "with open_virtual_line_bench(example_path('station_demo.toml'), example_path('recipe_demo.toml'),\n"
        "                             operator='line-3', lot='L3', store='s.h5', certificate_dir='certs') as bench:\n"
        "    bench.take_reference()\n"
        "    for n in (1, 2):\n"
        "        print(bench.test(f'MTP12-{n:06d}').certificate)\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=child_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["certs/MTP12-000001_attempt1.pdf", "certs/MTP12-000002_attempt1.pdf"]
    for name in done.stdout.split():
        assert pypdf.PdfReader(tmp_path / name).pages
