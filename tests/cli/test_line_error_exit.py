"""`bench line` as a line controller runs it: a cable ended ERROR by an instrument fault → exit status 2.

The fault is injected on the virtual station by the CLI's own option (`--sim-laser-off`: the source's
laser goes off while that cable is measured, as an interlock would). The process runs as a child, so
the exit status is the one a shell or a PLC sees, and its JSON Lines stream is read as a script would.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from bench.store import load_results
from tests.cli.conftest import RECIPE, STATION, bench_command, child_env

CLEAN, FAULTY, FAILING = "MTP12-000001", "MTP12-000002", "MTP12-000003"


def test_a_cable_ended_error_by_an_instrument_fault_makes_bench_line_exit_2(tmp_path: Path) -> None:
    store = tmp_path / "line.h5"
    done = subprocess.run(
        bench_command("line", "--station", STATION, "--recipe", RECIPE, "--operator", "line-3", "--lot", "L-ERR",
                      "--store", str(store), "--json", "--sim-laser-off", FAULTY, "--sim-fail", FAILING,
                      CLEAN, FAULTY, FAILING),
        capture_output=True, text=True, env=child_env(), cwd=str(tmp_path), timeout=120)

    # ERROR outranks the FAIL measured after it (bench.exit_codes): the bench, not the cables, needs a look.
    assert done.returncode == 2, done.stderr
    documents = [json.loads(line) for line in done.stdout.splitlines()]
    cables, summary = documents[:-1], documents[-1]
    assert [d["type"] for d in cables] == ["cable"] * 3 and summary["type"] == "summary"
    assert [(c["serial"], c["outcome"]) for c in cables] == [(CLEAN, "PASS"), (FAULTY, "ERROR"), (FAILING, "FAIL")]
    faulty = cables[1]
    assert faulty["reason"].startswith("bench fault: no light") and "Operator:" in faulty["reason"]
    # An ERROR grades nothing: no fiber is failed and no IL is claimed for the cable.
    assert faulty["failing_fibers"] == [] and faulty["max_il_db"] is None and faulty["worst_margin_db"] is None
    assert summary["exit_code"] == 2 and summary["error"] is None
    assert summary["counts"] == {"PASS": 1, "ERROR": 1, "FAIL": 1}

    # The stream says what the store holds.
    stored = load_results(store)
    assert stored.cables["outcome"].tolist() == ["PASS", "ERROR", "FAIL"]
    assert stored.cables["serial"].tolist() == [CLEAN, FAULTY, FAILING]
    assert [c["record_sha256"] for c in cables] == [str(h) for h in stored.cables["sha256"]]


def test_bench_line_exits_0_when_the_same_cables_meet_no_fault(tmp_path: Path) -> None:
    """The control: without the injected fault the same serials PASS and the status is 0."""
    done = subprocess.run(
        bench_command("line", "--station", STATION, "--recipe", RECIPE, "--operator", "line-3", "--lot", "L-OK",
                      "--store", str(tmp_path / "ok.h5"), "--json", CLEAN, FAULTY),
        capture_output=True, text=True, env=child_env(), cwd=str(tmp_path), timeout=120)
    assert done.returncode == 0, done.stderr
    cables = [json.loads(line) for line in done.stdout.splitlines()][:-1]
    assert [c["outcome"] for c in cables] == ["PASS", "PASS"]
