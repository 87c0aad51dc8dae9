"""Every exit code of bench.exit_codes, produced by the command a line script runs, and the stream's
promises: lines written as records commit (checked against the store after a SIGTERM), a closed
stdout ends the run without a traceback."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from bench.cli.line import LineRun
from bench.cli.main import main, terminate_as_interrupt
from bench.exit_codes import ExitCode
from bench.operator.interrupt import DeferredInterrupt
from bench.sim_launch import SimOptions, open_virtual_line_bench
from bench.store import ResultStore, VerifyExit, load_results
from bench.store.export import export_csv
from tests.cli.conftest import RECIPE, STATION, bench_command, child_env
from tests.store.damage_matrix import zero_superblock


def line(store: Path, *serials: str, extra: tuple[str, ...] = ()) -> list[str]:
    return ["line", "--station", STATION, "--recipe", RECIPE, "--operator", "line-3", "--lot", "L1",
            "--store", str(store), "--json", *extra, *serials]


def documents(text: str) -> list[dict]:
    return [json.loads(row) for row in text.splitlines() if row.strip()]


def test_verify_codes_are_the_common_codes() -> None:
    assert (VerifyExit.OK, VerifyExit.TAMPERED, VerifyExit.REFUSED, VerifyExit.DAMAGED) == (
        ExitCode.PASS, ExitCode.FAIL, ExitCode.REFUSED, ExitCode.DAMAGED)


def test_0_every_cable_passed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(line(tmp_path / "r.h5", "MTP12-000001")) == ExitCode.PASS
    assert documents(capsys.readouterr().out)[-1]["exit_code"] == 0


def test_1_a_measured_cable_failed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(line(tmp_path / "r.h5", "MTP12-000001", "MTP12-000002", extra=("--sim-fail", "MTP12-000002")))
    assert code == ExitCode.FAIL
    assert [d["outcome"] for d in documents(capsys.readouterr().out)[:-1]] == ["PASS", "FAIL"]


def test_2_refused_input_touches_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    station = tmp_path / "station.toml"
    station.write_text(Path(STATION).read_text(encoding="utf-8").replace("port_count = 12", 'port_count = "12"'),
                       encoding="utf-8")
    store = tmp_path / "r.h5"
    args = line(store, "MTP12-000001")
    args[args.index(STATION)] = str(station)
    assert main(args) == ExitCode.REFUSED
    captured = capsys.readouterr()
    summary = documents(captured.out)[-1]
    assert summary["type"] == "summary" and "instruments[1].port_count" in summary["error"]
    assert "Traceback" not in captured.err and not store.exists()


def test_3_a_damaged_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "r.h5"
    assert main(line(store, "MTP12-000001")) == ExitCode.PASS
    zero_superblock(store)
    capsys.readouterr()
    assert main(["verify", str(store)]) == ExitCode.DAMAGED


def test_4_an_internal_error_is_never_a_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: LineRun, bench: object, serials: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(LineRun, "test_serials", broken)
    store = tmp_path / "r.h5"
    assert main(line(store, "MTP12-000001")) == ExitCode.INTERNAL
    captured = capsys.readouterr()
    assert "internal error" in captured.err and "ZeroDivisionError" in captured.err
    summary = documents(captured.out)[-1]
    assert summary["exit_code"] == 4 and summary["error"].startswith("internal error")
    with ResultStore(store):  # the writer lock was released
        pass


def test_130_sigterm_mid_lot_acknowledges_what_is_stored(tmp_path: Path) -> None:
    """Kill `bench line --json` with SIGTERM mid-lot: the lines already written match the store,
    the cable under test is ABORTED with its record, the summary is written, the lock released."""
    store = tmp_path / "r.h5"
    serials = [f"MTP12-{n:06d}" for n in range(1, 41)]
    child = subprocess.Popen(bench_command(*line(store, *serials, extra=("--sim-latency", "0.01"))),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
                             cwd=str(tmp_path))
    assert child.stdout is not None
    written = [json.loads(child.stdout.readline()) for _ in range(3)]  # three cables committed
    child.send_signal(signal.SIGTERM)
    rest, err = child.communicate(timeout=120)
    assert child.returncode == ExitCode.INTERRUPTED, err
    assert "Traceback" not in err
    written += documents(rest)
    cables, summary = written[:-1], written[-1]
    assert summary["type"] == "summary" and summary["interrupted"] and summary["exit_code"] == 130
    assert 3 <= len(cables) < len(serials)
    stored = load_results(store)
    by_index = {int(i): k for k, i in enumerate(stored.cables["record_index"])}
    assert len(by_index) == len(cables), "every stored record was acknowledged, and only those"
    for cable in cables:
        k = by_index[cable["record_index"]]
        assert cable["serial"] == str(stored.cables["serial"][k])
        assert cable["outcome"] == str(stored.cables["outcome"][k])
        assert cable["record_sha256"] == str(stored.cables["sha256"][k])
        assert cable["finished_utc"] == str(stored.cables["finished_utc"][k])
    assert all(c["outcome"] == "PASS" for c in cables[:-1])
    # Mid-cable, the cable is stored ABORTED and acknowledged with its record; between two cables
    # (right after a line) the run stops before the next one starts.
    if cables[-1]["outcome"] != "PASS":
        aborted = cables[-1]
        assert aborted["outcome"] == "ABORTED" and aborted["record_index"] is not None and aborted["fibers"] == []
    with ResultStore(store):
        pass


def test_sigterm_mid_cable_is_ctrl_c_the_cable_stored_aborted(tmp_path: Path) -> None:
    store = tmp_path / "r.h5"
    with open_virtual_line_bench(STATION, RECIPE, operator="op", lot="L", store=store, sim=SimOptions()) as bench:
        bench.take_reference()
        with terminate_as_interrupt(), DeferredInterrupt() as guard, pytest.raises(KeyboardInterrupt):
            def terminate(*_: int) -> None:
                os.kill(os.getpid(), signal.SIGTERM)

            bench.test("MTP12-000001", progress=guard.wrap(terminate))
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        aborted = bench.results[-1].as_dict()
    assert aborted["outcome"] == "ABORTED" and aborted["record_index"] == 0
    assert aborted["record_sha256"] == str(load_results(store).cables["sha256"][0])


def test_a_closed_stdout_ends_the_run_cleanly(tmp_path: Path) -> None:
    """`bench line --json ... | head -1`: no traceback, the run stops, what was measured is stored."""
    store = tmp_path / "r.h5"
    serials = [f"MTP12-{n:06d}" for n in range(1, 31)]
    child = subprocess.Popen(bench_command(*line(store, *serials)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=child_env(), cwd=str(tmp_path))
    assert child.stdout is not None and child.stderr is not None
    first = json.loads(child.stdout.readline())
    child.stdout.close()
    err = child.stderr.read()
    child.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert child.returncode == ExitCode.PASS
    stored = load_results(store)
    assert first["record_index"] in {int(i) for i in stored.cables["record_index"]}
    assert len(stored) < len(serials), "the run stopped once nobody read its output"


def test_csv_export_keeps_an_aborted_attempt(tmp_path: Path) -> None:
    store = tmp_path / "r.h5"
    with open_virtual_line_bench(STATION, RECIPE, operator="op", lot="L", store=store, sim=SimOptions()) as bench:
        bench.take_reference()
        bench.test("MTP12-000001")
        with DeferredInterrupt() as guard, pytest.raises(KeyboardInterrupt):
            def interrupt(*_: int) -> None:
                os.kill(os.getpid(), signal.SIGINT)

            bench.test("MTP12-000002", progress=guard.wrap(interrupt))
    rows = export_csv(store, tmp_path / "r.csv")
    with open(tmp_path / "r.csv", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert rows == len(table) == 12 * 2 + 1
    aborted = [row for row in table if row["outcome"] == "ABORTED"]
    assert len(aborted) == 1 and aborted[0]["serial"] == "MTP12-000002" and aborted[0]["record_index"] == "1"
