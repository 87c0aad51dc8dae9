"""The superblock patch that replaces h5clear gives the bytes the real h5clear gives.

Runs where h5clear (Debian's hdf5-tools) is installed. Under CI (CI set) a missing h5clear is a
failure, not a skip: .ci/install-hdf5-tools installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from store_fakes import fake_cable
from test_store_recovery import _as_left_by_a_killed_writer

from bench.store import ResultStore
from bench.store.superblock import clear_consistency_flags, read_superblock


def _h5clear() -> str:
    exe = shutil.which("h5clear")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("h5clear is not installed although CI is set: run .ci/install-hdf5-tools before the tests")
        pytest.skip("h5clear (Debian hdf5-tools) is not installed; CI installs it with .ci/install-hdf5-tools")
    return exe


def _store(tmp_path, n: int = 5):
    path = tmp_path / "results.h5"
    with ResultStore(path, fsync=False) as store:
        for i in range(n):
            store.append_cable(fake_cable(serial=f"SN{i}", seed=i))
    return path


def _killed_swmr_writer(path) -> None:
    """A real writer process that switched to SWMR, grew a table and died without closing."""
    code = (f"import h5py, os; f = h5py.File({str(path)!r}, 'r+', libver=('v110', 'v110')); f.swmr_mode = True; "
            "f['fibers'].resize((f['fibers'].shape[0] + 100,)); f.flush(); os._exit(0)")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("left_by", ["killed SWMR writer", "stale end of allocation"])
def test_superblock_patch_matches_h5clear(tmp_path, left_by):
    exe = _h5clear()
    path = _store(tmp_path)
    if left_by == "killed SWMR writer":
        _killed_swmr_writer(path)
    else:
        _as_left_by_a_killed_writer(path, allocation_short_by=1000)
    assert read_superblock(str(path)).flags != 0
    ours, theirs = tmp_path / "ours.h5", tmp_path / "theirs.h5"
    shutil.copy(path, ours)
    shutil.copy(path, theirs)
    assert clear_consistency_flags(str(ours)) is not None
    done = subprocess.run([exe, "-s", "-i", "0", str(theirs)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    facts = read_superblock(str(ours))
    assert facts.flags == 0 and facts.checksum_ok and facts.stored_eof == facts.file_size
    assert ours.read_bytes() == theirs.read_bytes()
