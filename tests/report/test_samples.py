"""The sample certificates and lot report in docs/img/: every field a reader checks is in their text.

examples/render_samples.py writes them; this test runs it into a temporary folder (PDFs and their
pages as PNG through pdftoppm, which .ci/install-poppler installs) and reads the committed ones.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pypdf
import pytest

from bench.config.recipe import load_recipe
from bench.config.station import load_station
from bench.grading.uncertainty import with_budget
from bench.sim_launch import example_path
from tests.cli.conftest import REPO

IMG = REPO / "docs" / "img"
# The samples are tested on the demo station with the demo recipe: U is what their budget gives.
DEMO_U_DB = with_budget(load_station(example_path("station_demo.toml")),
                        load_recipe(example_path("recipe_demo.toml"))).decision_rule.uncertainty_db
CERTIFICATE_FIELDS = (
    "Insertion-loss test certificate", "Certificate No. demo-bench-1-", "Example Optics Ltd., Fiber Test Laboratory",
    "Approved by: J. Smith, Quality Manager", "Signature:", "Test standard IEC 61280-4-5 / TIA-526-28",
    "Method 1-cord reference", "Test cords LCORD-0001", f"Uncertainty U = {DEMO_U_DB:.3f} dB expanded, k = 2",
    "uncertainty budget below (GUM, JCGM 100:2008)", "Contribution Value Distribution", "source stability",
    "connector repeatability",
    "Decision rule simple acceptance", "Polarity required B, found B", "end B", "IL 1310 nm (dB)",
    "IL 1550 nm (dB)", "limit (dB)", "margin (dB)", "Serial number MTP12-", "Lot LOT-2026-0412",
    "switch switch Keysight Technologies N7734A MY00000001 V1.2 2026-04-15 2027-04-15",
    "source source Agilent Technologies 8164B MY00000000", "Calibrated Calibration due")
LOT_FIELDS = ("Lot report — LOT-2026-0412", "PASS 20", "FAIL 4", "Cables not passing (4)",
              "Per-wavelength statistics (dB)", "fibers (log scale)", "above the limit (max",
              "insertion loss per fiber position", "results file: results/line-2.h5")


def text_of(pdf: Path) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in pypdf.PdfReader(pdf).pages)


def load_samples_script():  # noqa: ANN201 - a module loaded from a path
    spec = importlib.util.spec_from_file_location("render_samples", REPO / "examples" / "render_samples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check(folder: Path) -> None:
    for name, verdict in (("certificate-pass", "PASS"), ("certificate-fail", "FAIL")):
        text = text_of(folder / f"{name}.pdf")
        for field in (*CERTIFICATE_FIELDS, verdict):
            assert field in text, (name, field)
    assert "failing fibers:" in text_of(folder / "certificate-fail.pdf")
    # A technician hands over one sheet: a passing 12-fiber, 2-wavelength certificate fits one A4 page,
    # its uncertainty budget included.
    assert len(pypdf.PdfReader(folder / "certificate-pass.pdf").pages) == 1
    lot = text_of(folder / "lot-report.pdf")
    for field in LOT_FIELDS:
        assert field in lot, field
    for name in ("certificate-pass-1", "certificate-fail-1", "lot-report-1", "lot-report-2"):
        assert (folder / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_the_committed_samples_show_every_required_field() -> None:
    check(IMG)


def test_the_samples_script_writes_them_again(tmp_path: Path) -> None:
    pdfs = load_samples_script().write_samples(tmp_path)
    assert sorted(pdfs) == ["certificate-fail", "certificate-pass", "lot-report"]
    check(tmp_path)


@pytest.mark.parametrize("name", ["certificate-pass-1.png", "certificate-fail-1.png", "lot-report-1.png"])
def test_docs_show_the_samples(name: str) -> None:
    assert f"img/{name}" in (REPO / "docs" / "certificates.md").read_text(encoding="utf-8")
