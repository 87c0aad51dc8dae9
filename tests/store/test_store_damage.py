"""Damage to a store file: told apart from a crash, reported record by record, repaired without
reusing a record number. The whole matrix (damage_matrix.py, docs/reliability.md) runs here."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from damage_matrix import cases, flip_in_chunk, run_case, truncate, zero_superblock
from store_fakes import fake_cable, fake_reference

from bench.cli import store as cli_store
from bench.errors import StoreError
from bench.store import SCHEMA_VERSION, ResultStore, StoreDamagedError, VerifyExit, load_results, verify_store
from bench.store.repair import repair_store
from bench.store.watchdog import verify_without_hanging

CABLES = 40


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench")
    cli_store.add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    path = tmp_path_factory.mktemp("base") / "base.h5"
    with ResultStore(path, fsync=False) as store:
        store.add_reference(fake_reference())
        for i in range(CABLES):
            store.append_cable(fake_cable(serial=f"SN{i:04d}", seed=i))
    return path


@pytest.fixture(scope="module")
def originals(base):
    return {int(r["record_index"]): tuple(r.tolist()) for r in load_results(base).cables}


def _damaged_copy(base, tmp_path, damage):
    path = tmp_path / "results.h5"
    shutil.copy(base, path)
    damage(path)
    return path


# (verify verdict, unreadable cable records, what the next writer does, original records kept in the end)
def _expected(name: str) -> tuple[str, int | None, str, int]:
    if name.startswith("truncated"):
        lost = 16 if "20000" in name else 8
        return "DAMAGED", lost, "refuses: damaged (truncated)", CABLES - lost
    if name.startswith("superblock"):
        return "DAMAGED", None, "refuses: damaged (superblock)", 0
    if name.startswith("appended"):
        return "OK", 0, "appends", CABLES
    table = name.rsplit(" of ", 1)[1]
    if table == "cables":
        writer = "refuses: damaged (unreadable records)" if "last chunk" in name else "appends"
        return "DAMAGED", 8, writer, CABLES - 8
    if table == "fibers":
        return "DAMAGED", 2, "appends", CABLES - 2  # a fibers chunk holds two cables' rows
    if table in ("references", "blob_index"):
        # The writer reads both whole on open; the blob index is rebuilt from the blob bytes.
        return "DAMAGED", 0, "refuses: damaged (unreadable records)", CABLES
    # Uncompressed tables: a flipped byte reads as data, so only the hashes can tell: an edit.
    return "TAMPERED", 0, "appends", CABLES


@pytest.mark.parametrize("name,damage", cases(), ids=[name for name, _ in cases()])
def test_damage_matrix_case(base, originals, tmp_path, name, damage):
    verdict, unreadable, writer, preserved = _expected(name)
    outcome = run_case(base, tmp_path / "case", name, damage, originals)
    assert outcome.verify == verdict and outcome.exit_code == int(VerifyExit[verdict])
    assert outcome.verify_s < 15, "verify must fail fast, never hang"
    if unreadable is not None:
        assert outcome.unreadable == unreadable + (1 if name.endswith("of references") else 0)
    assert outcome.writer.startswith(writer)
    assert outcome.preserved == preserved
    assert not outcome.index_reused
    if outcome.new_index is not None:
        assert outcome.new_index == CABLES  # the next number after every number ever given


def test_truncated_by_one_byte_names_the_eight_records_it_cut_off(base, tmp_path, capsys, caplog):
    """The silent loss of the issue: verify said "32 ... OK". Now every lost record is named."""
    path = _damaged_copy(base, tmp_path, truncate(1))
    report = verify_store(path)
    assert report.status == VerifyExit.DAMAGED and report.n_records == CABLES and report.n_readable == 32
    assert [(u.record_index, u.name) for u in report.unreadable] == [(i, f"SN{i:04d}") for i in range(32, 40)]
    assert run_cli(["verify", str(path)]) == 3
    out = capsys.readouterr().out
    assert "DAMAGED cables rows 32-39" in out and "record 39 (SN0039)" in out and "truncated" in out
    res = load_results(path)
    assert len(res) == 32 and [u.name for u in res.unreadable] == [f"SN{i:04d}" for i in range(32, 40)]
    caplog.clear()
    assert run_cli(["export", str(path), "--csv", str(tmp_path / "o.csv")]) == 0
    assert "8 stored record(s) matching the query cannot be read" in caplog.text  # stderr on the CLI


def test_a_truncated_file_is_not_blamed_on_a_lock(base, tmp_path):
    """HDF5's error for it says "sblock"; the old code matched "lock" and blamed HDFView."""
    path = _damaged_copy(base, tmp_path, truncate(100))
    with pytest.raises(StoreDamagedError) as refused:
        ResultStore(path)
    assert "truncated" in str(refused.value) and "HDFView" not in str(refused.value)


def test_a_file_another_program_holds_is_blamed_on_that_program(base, tmp_path):
    path = tmp_path / "results.h5"
    shutil.copy(base, path)
    holder = subprocess.Popen([sys.executable, "-c", f"import h5py, sys; f = h5py.File({str(path)!r}, 'r'); "
                               "print('open', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreError, match="another program that holds the HDF5 file lock"):
            ResultStore(path)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_a_damaged_superblock_fails_at_once(base, tmp_path, capsys):
    """8 zero bytes at offset 20 made a SWMR open retry for 400 s; now every entry point refuses."""
    path = _damaged_copy(base, tmp_path, zero_superblock)
    started = time.monotonic()
    assert run_cli(["verify", str(path)]) == 3
    assert "superblock" in capsys.readouterr().err
    with pytest.raises(StoreDamagedError, match="superblock"):
        load_results(path)
    with pytest.raises(StoreDamagedError, match="superblock"):
        ResultStore(path)
    with pytest.raises(StoreDamagedError, match="superblock"):
        repair_store(path)
    assert time.monotonic() - started < 15


def test_an_hdf5_file_of_another_program_is_refused_not_called_damaged(tmp_path, capsys):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:  # HDF5's default (version 0) superblock, no checksum
        f["x"] = [1, 2, 3]
    assert run_cli(["verify", str(path)]) == 2
    assert "not an mpo-bench results store" in capsys.readouterr().err


def test_repair_keeps_a_tampered_record_as_it_is_and_says_so(base, tmp_path):
    path = _damaged_copy(base, tmp_path, flip_in_chunk("power_matrix_dbm", "middle"))
    bad_before = [i for i, _, _ in verify_store(path).bad]
    report = repair_store(path)
    assert report.n_tampered_kept == 1 and not report.lost and "fail their hash" in report.summary()
    assert [i for i, _, _ in verify_store(path).bad] == bad_before


def test_verify_stops_a_read_that_makes_no_progress(base, tmp_path, monkeypatch):
    """Damaged metadata other than the superblock can make HDF5 retry for minutes; the watchdog
    reports DAMAGED instead of hanging."""
    import bench.store.watchdog as watchdog

    monkeypatch.setattr(watchdog, "verify_store", lambda path, progress: time.sleep(600))
    started = time.monotonic()
    report, refused = verify_without_hanging(base, stall_s=1.0)
    assert report is None and refused.status == VerifyExit.DAMAGED and "no progress" in refused.message
    assert time.monotonic() - started < 10


def test_repair_of_a_middle_chunk_keeps_numbers_and_quarantines_the_rest(base, tmp_path, capsys):
    path = _damaged_copy(base, tmp_path, flip_in_chunk("cables", "middle"))  # rows 16-23
    before = load_results(path)
    assert run_cli(["repair", str(path), "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert [u["record_index"] for u in done["lost"]] == list(range(16, 24))
    assert [u["serial"] for u in done["lost"]] == [f"SN{i:04d}" for i in range(16, 24)]
    manifest = json.loads((tmp_path / os.path.basename(done["quarantine"]) / "manifest.json").read_text())
    raw = manifest["damaged_ranges"][0]["raw"][0]
    assert raw["bytes"] > 0 and (tmp_path / os.path.basename(done["quarantine"]) / raw["file"]).stat().st_size
    assert manifest["lost_records"][0]["cable_keys"]["serial"] == "SN0016"
    after = load_results(path)
    assert np.array_equal(after.cables, before.cables) and np.array_equal(after.fibers, before.fibers)
    with h5py.File(path, "r") as f:
        log = json.loads(f.attrs["repair_log"])
        assert log[-1]["lost"]["cables"]["record_indexes"] == list(range(16, 24))
    with ResultStore(path, fsync=False) as store:
        assert store.append_cable(fake_cable(serial="NEW", seed=99)) == CABLES
        # A lost serial's next attempt is 1 again: the lost attempt is not in the file any more.
    report = verify_store(path)
    assert report.status == VerifyExit.OK and report.lost_in_repairs == list(range(16, 24))
    assert [i for i, _, _ in report.unverifiable] == [24]  # its hash chains to lost record 23
    assert run_cli(["verify", str(path)]) == 0
    assert "lost in an earlier repair (never reused): 16-23" in capsys.readouterr().out
    assert len(list(tmp_path.glob("results.h5.damaged-*"))) == 1


def test_record_numbers_survive_a_repair_that_lost_the_tail_and_a_second_repair(base, tmp_path):
    path = _damaged_copy(base, tmp_path, truncate(1))
    repair_store(path)
    with ResultStore(path, fsync=False) as store:
        assert store.append_cable(fake_cable(serial="NEW1", seed=1)) == 40
    repair_store(path)  # nothing lost this time; the numbers still go on
    with ResultStore(path, fsync=False) as store:
        assert store.append_cable(fake_cable(serial="NEW2", seed=2)) == 41
    res = load_results(path)
    assert res.cables["record_index"].tolist() == [*range(32), 40, 41]
    assert verify_store(path).ok


def test_a_version_1_file_is_read_and_migrated(base, tmp_path):
    """Version 1 had no next_record_index / repair_log; readers take it as it is, the writer adds them."""
    path = tmp_path / "results.h5"
    shutil.copy(base, path)
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = 1
        for name in ("next_record_index", "next_reference_index", "repair_log"):
            del f.attrs[name]
    assert verify_store(path).ok and len(load_results(path)) == CABLES
    with ResultStore(path, fsync=False) as store:
        assert store.append_cable(fake_cable(serial="NEW", seed=7)) == CABLES
    with h5py.File(path, "r") as f:
        assert f.attrs["schema_version"] == SCHEMA_VERSION and json.loads(f.attrs["repair_log"]) == []
        assert f.attrs["next_record_index"] == CABLES  # written on open, before the append
    assert verify_store(path).ok
