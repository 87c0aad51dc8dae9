"""One writer, refused paths, tamper detection, SWMR reading while a writer appends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from store_fakes import fake_cable, fake_reference

from bench.errors import StoreError
from bench.store import ResultStore, load_results, verify_store

HERE = Path(__file__).parent


def spawn_writer(path: Path, prefix: str, limit: int | None = None) -> subprocess.Popen:
    args = [sys.executable, str(HERE / "store_writer_proc.py"), str(path), prefix]
    if limit is not None:
        args.append(str(limit))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def stop(proc: subprocess.Popen, kill: bool = False) -> None:
    """End a writer process and close its pipes (no ResourceWarning later)."""
    if kill:
        proc.kill()
    elif proc.stdin and not proc.stdin.closed:
        proc.stdin.close()
    proc.wait(timeout=30)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe and not pipe.closed:
            pipe.close()


def _write(path: Path, n: int = 3) -> None:
    with ResultStore(path, fsync=False) as store:
        store.add_reference(fake_reference())
        for i in range(n):
            store.append_cable(fake_cable(serial=f"SN{i}", seed=i))


def test_second_writer_in_same_process_is_refused(tmp_path):
    path = tmp_path / "results.h5"
    with ResultStore(path):
        with pytest.raises(StoreError, match=rf"already open for writing by pid {os.getpid()}"):
            ResultStore(path)
    with ResultStore(path):  # released on close
        pass


def test_second_writer_in_other_process_is_refused_and_nothing_is_overwritten(tmp_path):
    path = tmp_path / "results.h5"
    proc = spawn_writer(path, "A", limit=2)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].strip() == "ready", proc.stderr.read()
        with pytest.raises(StoreError, match=rf"already open for writing by pid {proc.pid}"):
            ResultStore(path)
        assert load_results(path).cables["serial"].tolist() == ["A-0", "A-1"]
    finally:
        stop(proc)
    assert proc.returncode == 0
    assert verify_store(path).ok


def test_directory_is_refused(tmp_path):
    with pytest.raises(StoreError, match="is a directory.*results.h5"):
        ResultStore(tmp_path)


def test_read_only_file_is_refused(tmp_path):
    path = tmp_path / "results.h5"
    _write(path)
    os.chmod(path, 0o444)
    try:
        with pytest.raises(StoreError, match="read-only.*chmod u\\+w"):
            ResultStore(path)
        assert len(load_results(path)) == 3  # still readable
    finally:
        os.chmod(path, 0o644)


def test_not_a_store_is_refused_and_kept(tmp_path):
    path = tmp_path / "results.h5"
    path.write_text("my notes")
    with pytest.raises(StoreError, match="not an HDF5 file; refusing to overwrite"):
        ResultStore(path)
    assert path.read_text() == "my notes"


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "results.h5"
    _write(path)
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = 99
    for action in (lambda: ResultStore(path), lambda: load_results(path), lambda: verify_store(path)):
        with pytest.raises(StoreError, match="schema version 99.*upgrade mpo-bench"):
            action()


def _tamper(path: Path, dataset: str, index: int, field: str, value) -> None:
    with h5py.File(path, "r+") as f:
        row = f[dataset][index]
        row[field] = value
        f[dataset][index] = row


@pytest.mark.parametrize(
    ("dataset", "row", "field", "value", "bad_index"),
    [
        ("fibers", 30, "insertion_loss_db", 0.01, 1),  # record 1, fiber row 6
        ("cables", 2, "serial", b"SN-FORGED", 2),
        ("cables", 0, "outcome", b"FAIL", 0),
    ],
)
def test_verify_detects_tampering(tmp_path, dataset, row, field, value, bad_index):
    path = tmp_path / "results.h5"
    _write(path)
    assert verify_store(path).ok
    _tamper(path, dataset, row, field, value)
    report = verify_store(path)
    assert not report.ok and report.n_records == 3
    assert [b[0] for b in report.bad] == [bad_index]
    assert "sha256" in report.bad[0][2]


def test_verify_detects_tampered_blob_and_matrix(tmp_path):
    path = tmp_path / "results.h5"
    _write(path)
    with h5py.File(path, "r+") as f:
        f["power_matrix_dbm"][300] += 1.0  # in record 1 (288 values per cable)
        data = f["blob_bytes"][:]
        blob = data.tobytes()
        at = blob.index(b"MPO12")
        f["blob_bytes"][at] = ord("X")  # the recipe snapshot, shared by all cables
    report = verify_store(path)
    assert sorted(b[0] for b in report.bad) == [0, 1, 2]
    assert any("JSON document" in b[2] for b in report.bad)


def test_verify_detects_deleted_middle_record(tmp_path):
    """Each hash chains the previous one, so removing a record shows up."""
    path = tmp_path / "results.h5"
    _write(path, 4)
    with h5py.File(path, "r+") as f:
        rows = f["cables"][:]
        rows[2:3] = rows[3:4]
        rows["record_index"][2] = 2
        f["cables"].resize((3,))
        f["cables"][:] = rows[:3]
    assert [b[0] for b in verify_store(path).bad] == [2]


def test_reader_reads_while_writer_appends(tmp_path):
    path = tmp_path / "results.h5"
    proc = spawn_writer(path, "W")
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        seen = []
        for _ in range(5):
            reported = [proc.stdout.readline().split() for _ in range(5)]
            res = load_results(path)
            serials = res.cables["serial"].tolist()
            assert all(s in serials for _, s in reported)  # everything reported is visible
            assert len(res.fibers) == 24 * len(serials)
            assert np.all(res.cables["record_index"] == np.arange(len(serials)))
            seen.append(len(serials))
        assert seen == sorted(seen) and seen[-1] > seen[0]
        assert verify_store(path).ok  # verify also works mid-write
    finally:
        stop(proc, kill=True)


def test_verify_detects_an_edited_query_index(tmp_path):
    """Editing cable_keys could hide a record from queries; verify reports it."""
    path = tmp_path / "results.h5"
    _write(path)
    _tamper(path, "cable_keys", 1, "serial", b"HIDDEN")
    assert load_results(path, serial="SN1").cables.size == 0
    assert [(b[0], "cable_keys" in b[2]) for b in verify_store(path).bad] == [(1, True)]
