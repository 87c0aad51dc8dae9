"""Schema versions: causes stored as (code, detail) in version 3; version 1 and 2 files read as they
are and migrate on a writer's open, every record still verifying.

`fixtures/store-v2.h5` was written by the version-2 store (mpo-bench before causes): one reference
and three cables, V2-PASS, V2-FAIL (reason "fiber 3 ...; polarity A found ...") and V2-ERROR.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import pytest
from store_fakes import fake_cable, fake_reference

from bench.errors import StoreError
from bench.records import Cause, CauseCode, Outcome
from bench.store import SCHEMA_VERSION, ResultStore, load_results, verify_store
from bench.store.export import export_json
from bench.store.repair import repair_store
from bench.store.schema import MIGRATING_CABLES

V2_FIXTURE = Path(__file__).parent / "fixtures" / "store-v2.h5"
V2_FAIL_REASON = ("fiber 3 at 1310 nm: 0.412 dB > limit 0.350 dB (margin -0.062 dB); "
                  "polarity A found, recipe requires B")
CAUSES = (Cause(CauseCode.FIBER_OVER_LIMIT, "fiber 3 at 1310 nm: 0.412 dB > limit 0.350 dB"),
          Cause(CauseCode.MEAN_NEAR_LIMIT, "cable mean at 1310 nm: too close to call"))


def _v2_copy(tmp_path: Path) -> Path:
    path = tmp_path / "results.h5"
    shutil.copy(V2_FIXTURE, path)
    return path


def _serials(path: Path) -> dict[str, int]:
    res = load_results(path)
    return {str(s): int(i) for s, i in zip(res.cables["serial"], res.cables["record_index"], strict=True)}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_causes_round_trip_and_reach_the_json_export(tmp_path: Path) -> None:
    path = tmp_path / "results.h5"
    record = fake_cable(serial="SN1", outcome=Outcome.FAIL)
    record = type(record)(**{**record.__dict__, "causes": CAUSES})
    with ResultStore(path, fsync=False) as store:
        store.add_reference(fake_reference())
        index = store.append_cable(record)
        store.append_cable(fake_cable(serial="SN2", seed=2))
    res = load_results(path)
    assert res.causes(index) == CAUSES and res.cable_record(index).causes == CAUSES
    assert res.causes(_serials(path)["SN2"]) == ()
    assert verify_store(path).ok
    export_json(path, tmp_path / "out.json")
    documents = {d["serial"]: d for d in json.loads((tmp_path / "out.json").read_text())["cables"]}
    assert documents["SN1"]["causes"] == [{"code": "fiber_over_limit", "detail": CAUSES[0].detail},
                                          {"code": "mean_near_limit", "detail": CAUSES[1].detail}]
    assert documents["SN2"]["causes"] == []


def test_an_unknown_cause_code_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "results.h5"
    record = fake_cable(serial="SN1", outcome=Outcome.FAIL)
    bad = type(record)(**{**record.__dict__, "causes": (Cause("fiber_too_lossy", "made up"),)})  # type: ignore[arg-type]
    with ResultStore(path, fsync=False) as store:
        with pytest.raises(StoreError, match=r"causes\[0\]\.code.*'fiber_too_lossy'.*CauseCode"):
            store.append_cable(bad)
        with pytest.raises(StoreError, match=r"field 'causes' must be a tuple"):
            store.append_cable(type(record)(**{**record.__dict__, "causes": "fiber over limit"}))  # type: ignore[arg-type]
    assert len(load_results(path)) == 0


def test_a_version_2_file_is_read_as_it_is(tmp_path: Path) -> None:
    path = _v2_copy(tmp_path)
    before = _sha256(path)
    report = verify_store(path)
    assert report.ok and report.n_records == 3
    res = load_results(path)
    serials = _serials(path)
    assert res.causes(serials["V2-PASS"]) == ()
    assert res.causes(serials["V2-FAIL"]) == (
        Cause(CauseCode.UNCLASSIFIED, "fiber 3 at 1310 nm: 0.412 dB > limit 0.350 dB (margin -0.062 dB)"),
        Cause(CauseCode.UNCLASSIFIED, "polarity A found, recipe requires B"))
    assert res.cable_record(serials["V2-FAIL"]).reason == V2_FAIL_REASON
    assert [c.code for c in res.causes(serials["V2-ERROR"])] == [CauseCode.UNCLASSIFIED]
    assert _sha256(path) == before  # readers never migrate


def test_a_writer_migrates_a_version_2_file_and_every_record_still_verifies(tmp_path: Path) -> None:
    path = _v2_copy(tmp_path)
    old = {s: load_results(path).cable_record(i) for s, i in _serials(path).items()}
    record = fake_cable(serial="V3-FAIL", outcome=Outcome.FAIL, seed=9)
    with ResultStore(path, fsync=False) as store:
        store.append_cable(type(record)(**{**record.__dict__, "causes": CAUSES}))
    with h5py.File(path, "r") as f:
        assert f.attrs["schema_version"] == SCHEMA_VERSION == 3
        assert "causes_blob" in f["cables"].dtype.names and MIGRATING_CABLES not in f
        assert json.loads(f["cables"].attrs["units"])["uncertainty_db"] == "dB"
    report = verify_store(path)
    assert report.ok and report.n_records == 4
    res = load_results(path)
    serials = _serials(path)
    for serial, before in old.items():
        after = res.cable_record(serials[serial])
        assert (after.outcome, after.reason, after.causes, after.extra) == (before.outcome, before.reason,
                                                                            before.causes, before.extra)
    assert res.causes(serials["V3-FAIL"]) == CAUSES


def test_a_version_1_file_migrates_through_2_to_3(tmp_path: Path) -> None:
    """Version 1 is version 2 without the record-number attributes."""
    path = _v2_copy(tmp_path)
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = 1
        for name in ("next_record_index", "next_reference_index", "repair_log"):
            del f.attrs[name]
    assert verify_store(path).ok
    with ResultStore(path, fsync=False) as store:
        assert store.append_cable(fake_cable(serial="NEW", seed=7)) == 3
    with h5py.File(path, "r") as f:
        assert f.attrs["schema_version"] == 3 and f.attrs["next_record_index"] == 3  # set on open
    assert verify_store(path).ok and len(load_results(path)) == 4


@pytest.mark.parametrize("killed_after", ["new table written", "old table deleted"])
def test_a_migration_killed_half_way_is_finished_on_the_next_open(tmp_path: Path, killed_after: str) -> None:
    path = _v2_copy(tmp_path)
    with h5py.File(path, "r+") as f:  # what a killed migration leaves (the version still says 2)
        if killed_after == "new table written":
            f.copy("cables", MIGRATING_CABLES)
        else:
            f.move("cables", MIGRATING_CABLES)
    with ResultStore(path, fsync=False) as store:
        store.append_cable(fake_cable(serial="NEW", seed=7))
    with h5py.File(path, "r") as f:
        assert MIGRATING_CABLES not in f and f.attrs["schema_version"] == 3
    report = verify_store(path)
    assert report.ok and report.n_records == 4


def test_repair_of_a_version_2_file_writes_the_current_layout(tmp_path: Path) -> None:
    path = _v2_copy(tmp_path)
    repair_store(path, why="test: repair an old file")
    with h5py.File(path, "r") as f:
        assert f.attrs["schema_version"] == 3 and "causes_blob" in f["cables"].dtype.names
    assert verify_store(path).ok
    assert set(_serials(path)) == {"V2-PASS", "V2-FAIL", "V2-ERROR"}
    assert [c.code for c in load_results(path).causes(_serials(path)["V2-ERROR"])] == [CauseCode.UNCLASSIFIED]


def test_every_cause_code_is_documented() -> None:
    text = (Path(__file__).parents[2] / "docs" / "causes.md").read_text(encoding="utf-8")
    assert [code.value for code in CauseCode if f"`{code.value}`" not in text] == []
