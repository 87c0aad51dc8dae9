"""Production-line interface: the Python API as a script calls it, `bench line --json`, exit codes, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.cli.main import main
from bench.errors import BenchError
from bench.operator.interrupt import DeferredInterrupt
from bench.operator.line import exit_code_for
from bench.report.files import create_exclusive, safe_file_stem
from bench.sim_launch import SimOptions, open_virtual_line_bench
from bench.store import load_results
from tests.cli.conftest import FAILING, LOT, RECIPE, REPO, STATION, child_env


def line(*args: str) -> list[str]:
    return ["line", "--station", STATION, "--recipe", RECIPE, "--operator", "line-3", *args]


def test_example_line_script_runs_against_the_virtual_bench(tmp_path: Path) -> None:
    """examples/line_script.py as CI runs it: N cables unattended, exit code 1 for the seeded failure."""
    store, certificates = tmp_path / "line.h5", tmp_path / "certs"
    done = subprocess.run([sys.executable, str(REPO / "examples" / "line_script.py"), "--cables", "5", "--fail", "4",
                           "--store", str(store), "--certificates", str(certificates), "--json"],
                          capture_output=True, text=True, env=child_env(), cwd=str(tmp_path), timeout=120)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert [c["outcome"] for c in report["cables"]] == ["PASS", "PASS", "PASS", "FAIL", "PASS"]
    assert report["cables"][3]["failing_fibers"]
    results = load_results(store)
    assert len(results) == 5 and set(results.cables["lot"]) == {"LINE-LOT-1"}
    assert len(list(certificates.glob("*.pdf"))) == 5


def json_lines(text: str) -> tuple[list[dict], dict]:
    """`bench line --json` output: the cable objects, and the summary that ends it."""
    documents = [json.loads(line) for line in text.splitlines()]
    assert documents and documents[-1]["type"] == "summary"
    assert all(d["type"] == "cable" for d in documents[:-1])
    return documents[:-1], documents[-1]


def test_line_json_is_one_object_per_cable_then_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "r.h5"
    assert main(line("--lot", "L1", "--store", str(store), "--json", "MTP12-000001", "MTP12-000002")) == 0
    cables, summary = json_lines(capsys.readouterr().out)
    assert summary["exit_code"] == 0 and summary["tested"] == 2 and summary["counts"] == {"PASS": 2}
    assert len(summary["references"]) == 1 and summary["store"] == str(store.resolve())
    assert [c["serial"] for c in cables] == ["MTP12-000001", "MTP12-000002"]
    first = cables[0]
    assert first["reference_id"] == summary["references"][0]["reference_id"]
    assert first["started_utc"] <= first["finished_utc"] and first["attempt"] == 1
    assert [f["fiber"] for f in first["fibers"]] == list(range(1, 13))
    assert set(first["fibers"][0]["il_db"]) == set(first["fibers"][0]["verdict"]) == {"1310", "1550"}

    serials = tmp_path / "serials.txt"
    serials.write_text("# tray 7\nMTP12-000003\n\nMTP12-000004\n")
    code = main(line("--lot", "L1", "--store", str(store), "--json", "--serials-file", str(serials),
                     "--sim-fail", "MTP12-000004"))
    cables, summary = json_lines(capsys.readouterr().out)
    assert code == 1 and summary["exit_code"] == 1
    assert [c["outcome"] for c in cables] == ["PASS", "FAIL"]
    failed = cables[1]
    assert failed["failing_fibers"] and failed["worst_margin_db"] < 0
    assert {f["fiber"] for f in failed["fibers"] if "FAIL" in f["verdict"].values()} == set(failed["failing_fibers"])
    stored = load_results(store)
    assert [int(i) for i in stored.cables["record_index"]] == [0, 1, 2, 3]
    assert [c["record_index"] for c in cables] == [2, 3]
    assert [c["record_sha256"] for c in cables] == [str(h) for h in stored.cables["sha256"][2:]]
    il = stored.fibers[stored.fibers["record_index"] == 3]
    for row in il:
        assert failed["fibers"][int(row["fiber_position"]) - 1]["il_db"][f"{row['wavelength_nm']:g}"] == (
            pytest.approx(float(row["insertion_loss_db"])))


def test_line_errors_are_one_sentence_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A serial the recipe refuses: nothing is measured, not even the store file is created.
    assert main(line("--lot", "L1", "--store", str(tmp_path / "a.h5"), "MTP12-000001", "BAD/../1")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "does not match the pattern" in err and "Fix:" in err
    assert err.count("\n") == 0
    assert not (tmp_path / "a.h5").exists()

    # A missing recipe file: the error names the file and the fix, and --json still prints a document.
    assert main(["line", "--station", STATION, "--recipe", str(tmp_path / "nope.toml"), "--operator", "x",
                 "--lot", "L", "--json", "MTP12-000001"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"].startswith(str(tmp_path / "nope.toml"))
    assert "Fix:" in captured.err

    # Simulation options on a real station are refused before any instrument is opened.
    real = tmp_path / "real.toml"
    real.write_text(Path(STATION).read_text().replace('backend = "virtual"', 'backend = "visa"'))
    assert main(["line", "--station", str(real), "--recipe", RECIPE, "--operator", "x", "--lot", "L",
                 "--sim-fail", "MTP12-000001", "MTP12-000001"]) == 2
    assert "only apply to a virtual station" in capsys.readouterr().err

    # No serials at all.
    assert main(line("--lot", "L1", "--store", str(tmp_path / "b.h5"))) == 2
    assert "no serial numbers given" in capsys.readouterr().err


def test_exit_code_rule() -> None:
    assert exit_code_for(["PASS", "PASS"]) == 0
    assert exit_code_for(["PASS", "FAIL"]) == 1
    assert exit_code_for(["CONDITIONAL"]) == 1 and exit_code_for(["ABORTED", "PASS"]) == 130
    assert exit_code_for(["FAIL", "ERROR", "PASS"]) == 2
    assert exit_code_for([]) == 0


def test_interrupt_is_deferred_to_a_safe_point_and_leaves_the_link_in_step(tmp_path: Path) -> None:
    """SIGINT mid-cable: the current reading completes, the cable is ABORTED, the next cable reads right."""
    store = tmp_path / "r.h5"
    with open_virtual_line_bench(STATION, RECIPE, operator="op", lot="L", store=store, sim=SimOptions(seed=3)) as bench:
        bench.take_reference()
        with DeferredInterrupt() as guard:
            calls = []

            def progress(w: int, launch: int, n_w: int, n_launch: int) -> None:
                calls.append((w, launch))
                if len(calls) == 3:
                    os.kill(os.getpid(), signal.SIGINT)  # lands mid-measurement; only a flag is set
                    assert guard.requested

            with pytest.raises(KeyboardInterrupt):
                bench.test("MTP12-000001", progress=guard.wrap(progress))
        assert len(calls) == 3  # stopped at the next safe point, not later
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        after = bench.test("MTP12-000002")
        truth = bench.fixture  # the virtual fixture rebuilds the same simulated cable from the serial
        from sim_instruments.physics import make_cable

        cable = make_cable("MTP12-000002", fiber_count=12, polarity="B", wavelengths_nm=(1310.0, 1550.0), seed=3)
        measured = after.outcome.measurement.insertion_loss_db
        expected = np.array([cable.true_il_db(w) for w in (1310.0, 1550.0)])
        assert np.max(np.abs(measured - expected)) < 0.05, "a stale reply would shift readings by a position"
        assert truth.connected is None
    results = load_results(store)
    assert [str(o) for o in results.cables["outcome"]] == ["ABORTED", "PASS"]


def test_line_api_certificates_use_safe_unique_names(tested_lot: tuple[Path, list], tmp_path: Path) -> None:
    store, results = tested_lot
    assert [r.verdict for r in results].count("FAIL") == len(FAILING)
    assert {r.serial for r in results if r.verdict == "FAIL"} == set(FAILING)
    # Re-issuing a certificate never overwrites: the second one gets a new name.
    from bench.report import CertificateData, write_certificate

    data = CertificateData.from_record(results[0].outcome.record)
    a = write_certificate(data, directory=tmp_path)
    b = write_certificate(data, directory=tmp_path)
    assert a.name == "MTP12-000001_attempt1.pdf" and b.name == "MTP12-000001_attempt1-2.pdf"
    with pytest.raises(BenchError, match="exists already"):
        write_certificate(data, path=a)
    assert LOT == "LOT-CLI-1"


@pytest.mark.parametrize("serial", ["../../etc/passwd", "a/b", "..", ".hidden", "-rf", "CON", "Ω-1", "x" * 300,
                                    "tab\there", ""])
def test_safe_file_stem(serial: str, tmp_path: Path) -> None:
    stem = safe_file_stem(serial)
    assert stem and len(stem) <= 90
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in stem)
    assert not stem.startswith((".", "-"))
    path, handle = create_exclusive(tmp_path, stem, ".pdf")
    handle.close()
    assert path.parent == tmp_path
    if serial and serial != stem:
        assert safe_file_stem(serial) != safe_file_stem(serial + "x")  # the hash keeps distinct serials apart
