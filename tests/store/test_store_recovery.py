"""The pieces of crash recovery: superblock patching, torn tails, the copy fallback."""

from __future__ import annotations

import h5py
import numpy as np
from store_fakes import fake_cable, fake_reference

from bench.store import ResultStore, load_results, verify_store
from bench.store.recovery import rebuild_from_committed
from bench.store.superblock import clear_consistency_flags, consistency_flags, lookup3
from bench.store.writer import LIBVER


def test_lookup3_matches_the_checksum_hdf5_wrote(tmp_path):
    path = tmp_path / "results.h5"
    ResultStore(path).close()
    block = path.read_bytes()[:48]
    assert block[8] in (2, 3)
    assert lookup3(block[:44]).to_bytes(4, "little") == block[44:48]
    assert lookup3(b"") == 0xDEADBEEF
    assert consistency_flags(str(path)) == 0 and clear_consistency_flags(str(path)) is None


def test_torn_tail_rows_are_dropped_on_open(tmp_path):
    """What a writer killed mid-append leaves: fiber rows and a half-written cable row."""
    path = tmp_path / "results.h5"
    with ResultStore(path, fsync=False) as store:
        store.append_cable(fake_cable(serial="SN0"))
    with h5py.File(path, "r+") as f:
        f["fibers"].resize((f["fibers"].shape[0] + 10,))
        f["cables"].resize((2,))  # fill value: record_index -1, no sha256
    assert load_results(path).cables["serial"].tolist() == ["SN0"]  # readers ignore the tail
    with ResultStore(path, fsync=False) as store:
        assert store.append_cable(fake_cable(serial="SN1", seed=1)) == 1
    with h5py.File(path, "r") as f:
        assert f["fibers"].shape == (48,) and f["cables"].shape == (2,)
    assert verify_store(path).ok


def test_copy_fallback_keeps_the_original_and_every_committed_record(tmp_path):
    path = tmp_path / "results.h5"
    with ResultStore(path, fsync=False) as store:
        store.add_reference(fake_reference())
        for i in range(5):
            store.append_cable(fake_cable(serial=f"SN{i}", seed=i))
    before = load_results(path)
    rebuild_from_committed(str(path), LIBVER)
    damaged = list(tmp_path.glob("results.h5.damaged-*"))
    assert len(damaged) == 1 and len(load_results(damaged[0])) == 5
    after = load_results(path)
    assert np.array_equal(after.cables, before.cables) and np.array_equal(after.fibers, before.fibers)
    assert verify_store(path).ok
    with ResultStore(path) as store:
        assert store.latest_reference("ST1").reference_id == "REF-1"
        assert store.next_attempt("SN4") == 2
