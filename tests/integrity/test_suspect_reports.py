"""SUSPECT marks reach the documents a customer and a quality engineer read: the certificate and
the lot statistics (report and `bench stats`)."""

from __future__ import annotations

import json
from pathlib import Path

import pypdf
import pytest

from bench.cli.main import main as bench_main
from bench.report.certificate import certificate_from_store
from bench.report.certificate_pdf import write_certificate
from bench.report.lot_report import load_lot_report_data, summary_rows
from bench.run.reference_health import BenchDrifted
from bench.sim_launch import SimOptions, example_path, open_virtual_line_bench
from bench.store import load_results

STATION = str(example_path("station_32.toml"))
RECIPE = str(example_path("recipe_demo.toml"))
LOT = "LOT-SUS"


@pytest.fixture(scope="module")
def drifted_store(tmp_path_factory) -> tuple[Path, list[str], list[str]]:
    """Two cables vouched for by a passing golden check, then three graded before a failed one."""
    store = tmp_path_factory.mktemp("suspect") / "line.h5"
    with open_virtual_line_bench(STATION, RECIPE, operator="op", lot=LOT, store=store, sim=SimOptions(seed=5),
                                 accept_golden_baseline=True) as bench:
        bench.take_reference()
        good = [f"MTP12-{n:06d}" for n in (1, 2)]
        for serial in good:
            bench.test(serial)
        bench.drift.check()
        suspect = [f"MTP12-{n:06d}" for n in (3, 4, 5)]
        for serial in suspect:
            bench.test(serial)
        bench.fixture.virtual_bench.set_source_drift(-0.3)
        with pytest.raises(BenchDrifted):
            bench.finish()
    return store, good, suspect


def test_a_suspect_cables_certificate_says_so_with_the_failed_check(drifted_store, tmp_path) -> None:
    store, good, suspect = drifted_store
    data = certificate_from_store(store, suspect[0])
    failed_check = load_results(store).annotations[0].check_record_index
    assert f"golden check record {failed_check}" in data.suspect_text
    assert data.suspect_text.startswith("SUSPECT") and "awaiting retest" in data.suspect_text
    path = write_certificate(data, path=tmp_path / "suspect.pdf")
    text = " ".join(" ".join(page.extract_text().split()) for page in pypdf.PdfReader(path).pages)
    assert "SUSPECT" in text and f"golden check record {failed_check} found the bench drifted" in text

    clean = certificate_from_store(store, good[0])
    assert clean.suspect_text == ""
    clean_path = write_certificate(clean, path=tmp_path / "clean.pdf")
    assert "SUSPECT" not in " ".join(page.extract_text() for page in pypdf.PdfReader(clean_path).pages)


def test_lot_statistics_count_suspect_cables_as_awaiting_retest_not_pass(drifted_store, capsys) -> None:
    store, good, suspect = drifted_store
    data = load_lot_report_data(store, LOT)
    stats = data.stats
    assert stats.suspect_serials == tuple(suspect)
    assert stats.outcomes["SUSPECT"] == 3 and stats.n_cables == 5
    assert stats.outcomes["PASS"] + stats.outcomes["CONDITIONAL"] + stats.outcomes["FAIL"] == 2
    assert stats.yield_fraction == pytest.approx(stats.outcomes["PASS"] / 5)
    # The IL statistics describe only the vouched-for cables: 2 cables × 12 fibers per wavelength.
    assert all(s.n + s.n_no_light == 2 * 12 for s in stats.per_wavelength)
    shown = {serial: (outcome, reason) for serial, _, outcome, reason in data.not_passing}
    assert all(shown[s][0] == "SUSPECT" and "golden check record" in shown[s][1] for s in suspect)
    rows = dict(summary_rows(data))
    assert rows["Awaiting retest"].startswith("3 SUSPECT") and all(s in rows["Awaiting retest"] for s in suspect)

    assert bench_main(["lot-stats", str(store), "--lot", LOT, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["suspect_serials"] == suspect and doc["outcomes"]["SUSPECT"] == 3
    assert bench_main(["lot-stats", str(store), "--lot", LOT]) == 0
    assert f"SUSPECT, awaiting retest (3): {', '.join(suspect)}" in capsys.readouterr().out
