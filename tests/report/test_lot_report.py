"""Lot reports generated from a tested lot, then opened and read back (pypdf)."""

from __future__ import annotations

from pathlib import Path

import pypdf
import pytest

from bench.cli.main import main
from bench.report.lot_report import load_lot_report_data, write_lot_report
from tests.report.conftest import FAILING, LOT


def pdf_text(path: Path) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(path).pages]


def test_lot_report_pdf_and_html(tested_lot: tuple[Path, list], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    store, results = tested_lot
    pdf = tmp_path / "lot.pdf"
    assert main(["report", str(store), "--lot", LOT, "--out", str(pdf)]) == 0
    assert "yield 75.0 %" in capsys.readouterr().out
    pages = pdf_text(pdf)
    first = " ".join(pages[0].split())
    assert f"Lot report — {LOT}" in first
    assert "Cables 8 (8 test records)" in first
    assert "Yield 75.0 % first-pass yield 75.0 %" in first
    assert "PASS 6, FAIL 2" in first
    assert "IEC 61753-1 grade" in first
    for serial in FAILING:
        assert f"{serial} attempt 1 FAIL" in first
    assert "insertion loss per wavelength" in pages[1] and "1310 nm" in pages[1] and "limit 0.750 dB" in pages[1]
    assert "insertion loss per fiber position" in pages[2]
    assert "statistics per fiber position" in pages[3]
    data = load_lot_report_data(store, LOT)
    overall = {s.wavelength_nm: s for s in data.stats.per_wavelength}
    assert f"{overall[1310.0].mean_db:.3f}" in first and f"{overall[1550.0].p97_db:.3f}" in first
    assert data.il_by_wavelength[1310.0].size == 8 * 12

    html_path = tmp_path / "lot.html"
    assert main(["report", str(store), "--lot", LOT, "--out", str(html_path)]) == 0
    html = html_path.read_text()
    assert html.count("data:image/png;base64,") == 2
    assert f"<h1>Lot report — {LOT}</h1>" in html and "75.0 %" in html

    # Never overwrite; unknown lot is one sentence with the fix.
    assert main(["report", str(store), "--lot", LOT, "--out", str(pdf)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["report", str(store), "--lot", "NOPE", "--out", str(tmp_path / "n.pdf")]) == 2
    assert "no records for lot 'NOPE'; check the lot name" in capsys.readouterr().err


def test_html_escapes_stored_strings(tested_lot: tuple[Path, list], tmp_path: Path) -> None:
    store, _ = tested_lot
    data = load_lot_report_data(store, LOT)
    data.lot = "<script>alert(1)</script>"
    path = write_lot_report(data, tmp_path / "x.html")
    assert "<script>" not in path.read_text() and "&lt;script&gt;" in path.read_text()
