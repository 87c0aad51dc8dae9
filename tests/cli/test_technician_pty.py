"""The technician flow (`bench run`) driven through a pseudo-terminal, then checked in the store."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.operator.terminal import big_text
from bench.store import load_references, load_results
from tests.cli.conftest import RECIPE, REPO, STATION, bench_command, child_env
from tests.cli.pty_driver import PtyProcess

# Each simulated meter reading takes 10 ms, so a cable takes about a second:
# long enough to press Ctrl-C in the middle of one, short enough for the suite.
SIM = ("--sim-latency", "0.01", "--sim-fail", "MTP12-000002")


def start(tmp_path: Path, *extra: str, station: str = STATION) -> PtyProcess:
    return PtyProcess(bench_command("run", "--station", station, "--recipe", RECIPE, "--store",
                                    str(tmp_path / "bench.h5"), *SIM, *extra),
                      env=child_env(), cwd=str(REPO))


def test_three_cables_one_failing_one_aborted(tmp_path: Path) -> None:
    certificates = tmp_path / "certs"
    term = start(tmp_path, "--certificates", str(certificates))
    try:
        term.expect("Operator: ")
        term.sendline("alice")
        term.expect("Lot: ")
        term.sendline("LOT-PTY-1")
        term.expect(r"connect LCORD-0001 .*press Enter")
        term.sendline()
        term.expect("Reference stored")

        term.expect("serial> ")
        term.sendline("NOT-A-SERIAL")  # refused by the recipe pattern, nothing recorded
        term.expect(r"Serial refused: 'NOT-A-SERIAL' does not match")

        term.expect("serial> ")
        term.sendline("MTP12-000001")
        term.expect(r"Connect cable MTP12-000001 to the fixture")
        term.sendline()
        term.expect(r"Testing MTP12-000001 +1310 nm +fiber")
        term.expect(r"\s*MTP12-000001\s*\n")  # the banner's subtitle
        term.expect(r"max IL \d\.\d{3} dB")
        term.expect(r"1 cable, 1 attempt this session; latest: PASS 1")

        term.expect("serial> ")
        term.sendline("MTP12-000002")  # seeded to fail
        term.expect("Connect cable MTP12-000002")
        term.sendline()
        failing = term.expect(r"MTP12-000002 +failing fibers: ([\d, ]+)")
        failing_fibers = [int(f) for f in failing.group(1).split(",")]
        term.expect(r"failing fibers: IL \(margin\) against the limit 0\.750 dB")
        for fiber in failing_fibers:
            term.expect(rf"fiber +{fiber} +1310 nm \d\.\d{{3}} dB \(-\d\.\d{{3}}\) +1550 nm")
        term.expect(r"2 cables, 2 attempts this session; latest: FAIL 1, PASS 1")

        term.expect("serial> ")
        term.sendline("MTP12-000003")
        term.expect("Connect cable MTP12-000003")
        term.sendline()
        term.expect(r"Testing MTP12-000003 +1310 nm +fiber +2/12")
        term.interrupt()  # Ctrl-C in the middle of the cable
        term.expect(r"MTP12-000003 aborted \(Ctrl-C\) and recorded as ABORTED")
        term.expect("Earlier results are kept")
        term.expect(r"3 cables, 3 attempts this session; latest: ABORTED 1, FAIL 1, PASS 1")

        term.expect("serial> ")
        term.sendline("q")
        term.expect("Session closed")
        assert term.wait() == 1  # a measured FAIL this session (bench.exit_codes)
    finally:
        term.close()

    # Each verdict was shown in the block font (the middle row of each word is distinctive).
    for word in ("PASS", "FAIL", "ABORTED"):
        assert big_text(word, width=100)[2].rstrip() in term.text, word

    results = load_results(tmp_path / "bench.h5")
    rows = {str(r["serial"]): r for r in results.cables}
    assert [str(s) for s in results.cables["serial"]] == ["MTP12-000001", "MTP12-000002", "MTP12-000003"]
    assert [str(o) for o in results.cables["outcome"]] == ["PASS", "FAIL", "ABORTED"]
    assert set(results.cables["operator"]) == {"alice"} and set(results.cables["lot"]) == {"LOT-PTY-1"}
    assert rows["MTP12-000003"]["n_fibers"] == 0 and "Ctrl-C" in str(rows["MTP12-000003"]["reason"])
    fail_index = int(rows["MTP12-000002"]["record_index"])
    stored_failing = sorted({int(f["fiber_position"]) for f in results.fibers
                             if f["record_index"] == fail_index and f["verdict"] != "PASS"})
    assert stored_failing == failing_fibers
    # A certificate for each measured cable, none for the aborted one.
    assert sorted(p.name for p in certificates.iterdir()) == ["MTP12-000001_attempt1.pdf",
                                                              "MTP12-000002_attempt1.pdf"]


def test_reference_expiry_interrupts_the_loop(tmp_path: Path) -> None:
    station = tmp_path / "station.toml"
    station.write_text(Path(STATION).read_text().replace("max_tests = 500", "max_tests = 1"))
    term = start(tmp_path, "--operator", "bob", "--lot", "LOT-PTY-2", station=str(station))
    try:
        term.expect(r"press Enter \(Q to quit\)")
        term.sendline()
        term.expect("serial> ")
        term.sendline("MTP12-000010")
        term.expect("Connect cable")
        term.sendline()
        term.expect(r"1 cable, 1 attempt this session; latest: PASS 1")
        # One cable per reference: the loop stops and says what to do.
        term.expect("the reference has expired")
        term.expect(r"Reference needed: 1 cables were tested on this reference \(limit 1\)")
        term.expect(r"Remove any cable, connect LCORD-0001 .*press Enter")
        term.sendline()
        term.expect("Reference stored")
        term.expect("serial> ")
        term.sendline("t")  # retest the last cable: one key
        term.expect("Connect cable MTP12-000010")
        term.sendline()
        term.expect(r"1 cable, 2 attempts this session; latest: PASS 1")
        term.expect("Reference needed")
        term.sendline("q")
        term.expect("Session closed")
        assert term.wait() == 0
    finally:
        term.close()
    references = load_references(tmp_path / "bench.h5")
    results = load_results(tmp_path / "bench.h5")
    assert len(references) == 2
    assert [int(a) for a in results.cables["attempt"]] == [1, 2]
    assert [str(r) for r in results.cables["reference_id"]] == [r.reference_id for r in references]


def test_run_needs_a_terminal(tmp_path: Path) -> None:
    done = subprocess.run(bench_command("run", "--station", STATION, "--recipe", RECIPE, "--store",
                                        str(tmp_path / "x.h5")), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, env=child_env(), cwd=str(REPO), timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: bench run is the interactive technician flow and needs a terminal")
    assert "bench line" in done.stderr
    assert not (tmp_path / "x.h5").exists()
