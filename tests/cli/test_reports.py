"""Certificates and lot reports generated from a tested lot, then opened and read back (pypdf)."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import pypdf
import pytest

from bench.cli.main import build_parser, main
from bench.report.certificate import CertificateData, FiberRow, certificate_figures, write_certificate
from bench.report.lot_report import load_lot_report_data, write_lot_report
from bench.store import load_results
from tests.cli.conftest import FAILING, LOT


def pdf_text(path: Path) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(path).pages]


def test_certificate_of_a_failing_cable_via_cli(tested_lot: tuple[Path, list], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    store, results = tested_lot
    serial = FAILING[0]
    out = tmp_path / "cert.pdf"
    assert main(["certificate", str(store), serial, "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    pages = pdf_text(out)
    assert len(pages) == 1
    text = pages[0]
    for expected in ("Insertion-loss test certificate", "MTP-12 female/female single-mode trunk, Type B, OS2",
                     f"Serial number {serial}", "Station demo-bench-1", "Operator line-op", f"Lot {LOT}",
                     "Reference method 1-cord, taken", "Reference cords LCORD-0001", "Polarity found B, required B",
                     "simple acceptance", "FAIL", "IL 1310 nm", "IL 1550 nm", "Insertion loss per fiber"):
        assert expected in text, expected
    # The table: one row per fiber with IL, limit and margin at each wavelength, then the verdict,
    # exactly as stored.
    stored = load_results(store, serial=serial)
    index = int(stored.cables["record_index"][-1])
    fibers = stored.fibers[stored.fibers["record_index"] == index]
    failing = sorted({int(f["fiber_position"]) for f in fibers if f["verdict"] != "PASS"})
    assert f"failing fibers: {', '.join(map(str, failing))}" in text
    for position in range(1, 13):
        rows = fibers[fibers["fiber_position"] == position]
        cells = []
        for row in sorted(rows, key=lambda r: r["wavelength_nm"]):
            cells += [f"{row['insertion_loss_db']:.3f}", f"{row['limit_db']:.3f}", f"{row['margin_db']:+.3f}"]
        verdict = "FAIL" if position in failing else "PASS"
        assert re.search(rf"^{position} {' '.join(map(re.escape, cells))} {verdict}$", text, re.M), position

    # Errors: an existing file is never overwritten; an unknown serial is one sentence with the fix.
    assert main(["certificate", str(store), serial, "--out", str(out)]) == 2
    assert "exists already; choose another --out path" in capsys.readouterr().err
    assert main(["certificate", str(store), "MTP12-999999", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no record of serial 'MTP12-999999'" in err and "bench query" in err


def test_certificate_paginates_32_fibers_and_shows_no_light(tested_lot: tuple[Path, list], tmp_path: Path) -> None:
    _, results = tested_lot
    data = CertificateData.from_record(results[0].outcome.record)
    rows = tuple(FiberRow(p, (0.2 + p / 100, math.nan if p == 17 else 0.3), (0.75, 0.75),
                          (0.55 - p / 100, math.nan if p == 17 else 0.45),
                          ("PASS", "FAIL" if p == 17 else "PASS")) for p in range(1, 33))
    big = replace(data, fibers=rows, outcome="FAIL", serial="MTP32/../x")
    path = write_certificate(big, directory=tmp_path)
    assert path.parent == tmp_path and path.name.startswith("MTP32_.._x-")
    pages = pdf_text(path)
    assert len(pages) == 2 and "page 2 of 2" in pages[1]
    assert re.search(r"^17 0\.370 0\.750 \+0\.380 no light 0\.750 - FAIL$", pages[1], re.M)
    assert "failing fibers: 17" in pages[0]


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


def test_certificate_figure_renders_to_png(tested_lot: tuple[Path, list], tmp_path: Path) -> None:
    _, results = tested_lot
    figure = certificate_figures(CertificateData.from_record(results[2].outcome.record))[0]
    figure.savefig(tmp_path / "c.png", dpi=40)
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_command_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit) as done:
        parser.parse_args(["--help"])
    assert done.value.code == 0
    top = capsys.readouterr().out
    for command in ("demo", "run", "line", "certificate", "report", "verify", "export", "query", "lot-stats"):
        assert f"    {command}" in top
    assert "exit status" in top
    for command, phrase in (("run", "Ctrl-C during a measurement aborts that cable"),
                            ("line", "Exit status: 0 every cable PASS"),
                            ("certificate", "per-fiber IL per wavelength"),
                            ("report", "box plots per fiber position")):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert phrase in text, command
