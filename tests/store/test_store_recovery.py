"""The pieces of crash recovery: superblock patching, torn tails, the copy fallback."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from store_fakes import fake_cable, fake_reference

from bench.store import ResultStore, StoreDamagedError, load_results, verify_store
from bench.store.repair import repair_store
from bench.store.superblock import clear_consistency_flags, consistency_flags, lookup3


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


def _store_with_cables(tmp_path, cables: int):
    """A closed store holding one reference and `cables` committed cables SN0, SN1, …"""
    path = tmp_path / "results.h5"
    with ResultStore(path, fsync=False) as store:
        store.add_reference(fake_reference())
        for i in range(cables):
            store.append_cable(fake_cable(serial=f"SN{i}", seed=i))
    return path


def test_copy_fallback_keeps_the_original_and_every_committed_record(tmp_path):
    path = _store_with_cables(tmp_path, 5)
    before = load_results(path)
    report = repair_store(path)
    assert report.n_kept == 5 and not report.lost and report.next_record_index == 5
    damaged = list(tmp_path.glob("results.h5.damaged-*"))
    assert len(damaged) == 1 and len(load_results(damaged[0])) == 5
    after = load_results(path)
    assert np.array_equal(after.cables, before.cables) and np.array_equal(after.fibers, before.fibers)
    assert verify_store(path).ok
    with ResultStore(path) as store:
        assert store.latest_reference("ST1").reference_id == "REF-1"
        assert store.next_attempt("SN4") == 2


def _superblock_v2(fh) -> tuple[int, bytearray]:
    """(offset, bytes) of the file's version 2/3 superblock, found as the HDF5 file format
    specification says (signature at 0, 512, 1024, 2048, ...), independently of bench.store."""
    signature, offset = b"\x89HDF\r\n\x1a\n", 0
    while True:
        fh.seek(offset)
        head = fh.read(10)
        assert len(head) == 10, "no HDF5 superblock signature in the file"
        if head[:8] == signature:
            assert head[8] in (2, 3), f"superblock version {head[8]}, not 2 or 3"
            fh.seek(offset)
            # signature 8, version, size of offsets, size of lengths, flags; four addresses; checksum 4
            return offset, bytearray(fh.read(12 + 4 * head[9] + 4))
        offset = 512 if offset == 0 else offset * 2


def _as_left_by_a_killed_writer(path, allocation_short_by: int) -> None:
    """Consistency flags set (SWMR writer) and an end-of-allocation address short of the
    file's end: a writer killed after it extended the file but before it closed."""
    with open(path, "r+b") as fh:
        offset, block = _superblock_v2(fh)
        size_of_offsets = block[9]
        eoa_at = 12 + 2 * size_of_offsets
        end_of_allocation = int.from_bytes(block[eoa_at : eoa_at + size_of_offsets], "little")
        block[11] = 0x05
        block[eoa_at : eoa_at + size_of_offsets] = (end_of_allocation - allocation_short_by).to_bytes(
            size_of_offsets, "little")
        block[-4:] = lookup3(bytes(block[:-4])).to_bytes(4, "little")
        fh.seek(offset)
        fh.write(block)


def test_a_stale_end_of_allocation_is_raised_to_the_file_end_on_open(tmp_path):
    """Seen in the SIGKILL test: after the flags were cleared, HDF5 refused to read or resize
    beyond the stale address ("addr overflow") and the store would not open."""
    path = tmp_path / "results.h5"
    with ResultStore(path, fsync=False) as store:
        for i in range(3):
            store.append_cable(fake_cable(serial=f"SN{i}", seed=i))
    before = load_results(path)
    _as_left_by_a_killed_writer(path, allocation_short_by=1000)
    assert consistency_flags(str(path)) == 0x05
    with ResultStore(path, fsync=False) as store:
        assert store.append_cable(fake_cable(serial="SN3", seed=3)) == 3
    after = load_results(path)
    assert np.array_equal(after.cables[:3], before.cables) and after.cables["serial"].tolist()[-1] == "SN3"
    assert verify_store(path).ok and consistency_flags(str(path)) == 0


CABLE_CHUNK_ROWS = 8  # bench.store.schema.CHUNK_ROWS["cables"]: row 8 starts the second chunk


def _damage_chunk_of_cable_row(path, row: int) -> None:
    """Overwrite the middle of the gzip chunk holding cables row `row`: HDF5 can no longer inflate it."""
    with h5py.File(path, "r") as f:
        assert f["cables"].chunks == (CABLE_CHUNK_ROWS,) and f["cables"].compression == "gzip"
        chunk = f["cables"].id.get_chunk_info_by_coord((row,))
    with open(path, "r+b") as fh:
        fh.seek(chunk.byte_offset + 4)
        fh.write(b"\xff" * (chunk.size - 8))
    with h5py.File(path, "r") as f, pytest.raises(OSError):
        f["cables"][row]


def test_a_clean_file_whose_tail_cannot_be_read_is_refused_not_rebuilt(tmp_path):
    """Closed cleanly, yet unreadable: damage, not a crash. The writer refuses it, names the
    commands, and writes nothing; the file is unchanged."""
    path = _store_with_cables(tmp_path, CABLE_CHUNK_ROWS + 1)
    _damage_chunk_of_cable_row(path, CABLE_CHUNK_ROWS)  # the last committed record's chunk
    data = path.read_bytes()
    with pytest.raises(StoreDamagedError, match="bench repair") as refused:
        ResultStore(path, fsync=False)
    assert "bench verify" in str(refused.value) and "Nothing was written" in str(refused.value)
    assert path.read_bytes() == data and not list(tmp_path.glob("results.h5.damaged-*"))


def test_a_crashed_file_whose_tail_cannot_be_read_is_repaired_on_open(tmp_path):
    """The last writer died (flags set) in the middle of appending a record whose chunk cannot
    be read: the crash case, so the writer repairs on open (every committed record kept), keeps
    the original, and numbers go on past the torn one."""
    path = _store_with_cables(tmp_path, CABLE_CHUNK_ROWS)
    before = load_results(path)
    with h5py.File(path, "r+") as f:  # the torn append: a row in a new chunk, never committed
        cables = f["cables"]
        cables.resize((CABLE_CHUNK_ROWS + 1,))
        torn = cables[CABLE_CHUNK_ROWS - 1]
        torn["record_index"] = CABLE_CHUNK_ROWS
        cables[CABLE_CHUNK_ROWS] = torn
    _damage_chunk_of_cable_row(path, CABLE_CHUNK_ROWS)
    _as_left_by_a_killed_writer(path, allocation_short_by=0)
    as_left = path.read_bytes()
    with ResultStore(path, fsync=False) as store:
        assert store.repair is not None and store.repair.n_kept == CABLE_CHUNK_ROWS
        assert [lost.position for lost in store.repair.lost] == [CABLE_CHUNK_ROWS]  # the torn row only
        assert store.repair.n_tampered_kept == 0  # every record kept verifies
        # Writable again; the torn row's number is not given again.
        assert store.append_cable(fake_cable(serial="SN-NEXT", seed=99)) == CABLE_CHUNK_ROWS + 1
    after = load_results(path)
    assert after.cables["serial"].tolist() == [*before.cables["serial"].tolist(), "SN-NEXT"]
    assert np.array_equal(after.fibers[: len(before.fibers)], before.fibers)
    damaged = list(tmp_path.glob("results.h5.damaged-*"))
    assert len(damaged) == 1
    kept = damaged[0].read_bytes()
    with open(path, "rb") as fh:
        offset, block = _superblock_v2(fh)
    superblock_end = offset + len(block)  # its flags were cleared before the copy was kept
    assert len(kept) == len(as_left) and kept[superblock_end:] == as_left[superblock_end:]  # the original
    assert verify_store(path).ok


def test_a_writer_killed_before_switching_to_swmr_leaves_a_store_the_next_writer_opens(tmp_path):
    """A writer dying between opening the file for writing and switching it to SWMR (a kill
    while a writer opens) leaves the "open for writing" flag without the SWMR one; HDF5 then
    refuses even a SWMR read. The next writer clears the flags and carries on."""
    import subprocess
    import sys

    path = _store_with_cables(tmp_path, 2)
    opened_and_died = (f"import h5py, os; store = h5py.File({str(path)!r}, 'r+', libver=('v110', 'v110')); "
                       "os._exit(0)")  # held open, never closed: what SIGKILL leaves
    subprocess.run([sys.executable, "-c", opened_and_died], check=True)
    assert consistency_flags(str(path)) == 0x01  # open for writing, not SWMR
    with ResultStore(path, fsync=False) as store:
        assert store.append_cable(fake_cable(serial="SN2", seed=2)) == 2
    assert load_results(path).cables["serial"].tolist() == ["SN0", "SN1", "SN2"]
    assert verify_store(path).ok
    assert not list(tmp_path.glob("results.h5.damaged-*"))  # cleared in place, no copy needed
