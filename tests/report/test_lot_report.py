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


@pytest.fixture(scope="module")
def ten_failing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lot of 30 cables, 10 seeded to fail (their reasons are long: two fibers at two wavelengths)."""
    from bench.sim_launch import SimOptions, open_virtual_line_bench
    from tests.report.conftest import RECIPE, STATION

    store = tmp_path_factory.mktemp("ten") / "lot.h5"
    serials = [f"MTP12-{n:06d}" for n in range(1, 31)]
    with open_virtual_line_bench(STATION, RECIPE, operator="op", lot="LOT-TEN", store=store,
                                 sim=SimOptions(fail_serials=tuple(serials[::3]), seed=5)) as bench:
        bench.take_reference()
        for serial in serials:
            bench.test(serial)
    return store


def text_runs(path: Path, page_number: int) -> tuple[float, list[tuple[str, float, float]]]:
    """(page width, [(text, x, font size)]) of one page, in points."""
    page = pypdf.PdfReader(path).pages[page_number]
    runs: list[tuple[str, float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if text.strip():
            x = tm[4] * cm[0] + cm[4]
            runs.append((text, x, size * abs(tm[0] * cm[0]) or size))
    page.extract_text(visitor_text=visit)
    return float(page.mediabox.width), runs


def test_lot_report_counts_outcomes_wraps_reasons_and_shows_outliers(ten_failing: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "ten.pdf"
    data = load_lot_report_data(ten_failing, "LOT-TEN")
    assert data.stats.outcomes["FAIL"] == 10
    write_lot_report(data, pdf)
    pages = pdf_text(pdf)
    first = " ".join(pages[0].split())
    assert "FAIL 10" in first and "PASS 20" in first
    for serial, attempt, outcome, _ in data.not_passing:
        assert f"{serial} attempt {attempt} {outcome}:" in first
    assert "SPEC.md" not in " ".join(pages) and "[verify]" not in " ".join(pages)
    width, runs = text_runs(pdf, 0)
    for text, x, size in runs:  # monospace: 0.61 em per character at most
        assert x + len(text.rstrip()) * 0.61 * size <= width, text
    assert min(size for _, _, size in runs) >= 7.0
    histograms = " ".join(pages[1].split())
    assert "fibers (log scale)" in histograms
    assert histograms.count("above the limit (max") == len(data.il_by_wavelength)
