"""`/annotations` (SUSPECT marks) through `bench repair` and `bench verify`."""

from __future__ import annotations

import json

import h5py
import numpy as np
from damage_matrix import build_store, flip_in_chunk
from test_store_damage import run_cli

from bench.store import ResultStore, VerifyExit, load_results, verify_store
from bench.store.annotations import ANNOTATION_DTYPE, SUSPECT
from bench.store.repair import repair_store

REASON = "SUSPECT: graded before golden check record 6 found the bench drifted (-0.3 dB); retest"


def _annotated_store(path, marked: list[int]) -> None:
    build_store(path, cables=40)
    with ResultStore(path, fsync=False) as store:
        store.annotate(marked, kind=SUSPECT, reason=REASON, check_record_index=6)


def test_repair_keeps_the_suspect_marks_of_every_kept_record_and_logs_the_rest(tmp_path) -> None:
    path = tmp_path / "results.h5"
    _annotated_store(path, [3, 4, 5, 20])
    before = load_results(path).annotations
    flip_in_chunk("cables", "middle")(path)  # loses records 16-23, so record 20's mark has nothing to mark
    report = repair_store(path)
    assert [u.record_index for u in report.lost] == list(range(16, 24))
    after = load_results(path)
    assert sorted(after.suspect) == [3, 4, 5] and set(after.suspect.values()) == {REASON}
    assert after.annotations == [a for a in before if a.record_index != 20]  # times, checks kept
    with h5py.File(path, "r") as f:
        logged = json.loads(f.attrs["repair_log"])[-1]["annotations"]
    assert logged["copied"] is True
    assert [a["record_index"] for a in logged["left_out_of_lost_records"]] == [20]
    assert verify_store(path).status == VerifyExit.OK
    with ResultStore(path, fsync=False) as store:  # the repaired file takes new marks
        store.annotate([7], kind=SUSPECT, reason=REASON, check_record_index=6)
    assert sorted(load_results(path).suspect) == [3, 4, 5, 7]


def _append_raw_row(path, record_index: int, check_record_index: int, kind: str = SUSPECT) -> None:
    """What an editor outside the bench could do to the table."""
    with h5py.File(path, "r+") as f:
        rows = f["annotations"]["rows"]
        row = np.zeros(1, dtype=ANNOTATION_DTYPE)
        row["record_index"], row["check_record_index"] = record_index, check_record_index
        row["kind"], row["reason"], row["annotated_utc"] = kind.encode(), b"x", b"2026-12-02T00:00:00Z"
        rows.resize((rows.shape[0] + 1,))
        rows[-1:] = row


def test_verify_passes_marks_on_held_records_and_refuses_marks_on_records_the_file_lacks(tmp_path, capsys) -> None:
    path = tmp_path / "results.h5"
    _annotated_store(path, [3, 4, 5])
    assert verify_store(path).status == VerifyExit.OK
    assert run_cli(["verify", str(path)]) == 0
    capsys.readouterr()

    _append_raw_row(path, record_index=99, check_record_index=98, kind="PASSED")
    report = verify_store(path)
    assert report.status == VerifyExit.TAMPERED and report.bad == []
    assert any("names record 99" in p for p in report.bad_annotations)
    assert any("check record 98" in p for p in report.bad_annotations)
    assert any("unknown kind 'PASSED'" in p for p in report.bad_annotations)
    assert run_cli(["verify", str(path)]) == int(VerifyExit.TAMPERED)
    out = capsys.readouterr().out
    assert "TAMPERED annotations: annotation row 3 (PASSED) names record 99" in out
    assert run_cli(["verify", str(path), "--json"]) == int(VerifyExit.TAMPERED)
    assert len(json.loads(capsys.readouterr().out)["bad_annotations"]) == 3
