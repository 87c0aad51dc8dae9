"""Round trip, filters, provenance and exports of the HDF5 results store."""

from __future__ import annotations

import csv
import dataclasses
import json
import math

import h5py
import numpy as np
import pytest
from store_fakes import INSTRUMENTS, RECIPE, fake_cable, fake_reference

from bench.errors import StoreError
from bench.store import (
    SCHEMA_VERSION,
    ResultStore,
    export_csv,
    export_json,
    load_references,
    load_results,
    verify_store,
)


@pytest.fixture
def filled(tmp_path):
    """A store with one reference and 6 cables over 2 lots, one FAIL, one retest."""
    path = tmp_path / "results.h5"
    with ResultStore(path, fsync=False) as store:
        store.add_reference(fake_reference())
        for i in range(6):
            store.append_cable(fake_cable(serial=f"SN{i}", lot="LOT-A" if i < 3 else "LOT-B", seed=i,
                                          started_utc=f"2024-05-0{i + 1}T08:00:00Z"))
        store.append_cable(fake_cable(serial="SN1", attempt=2, lot="LOT-A", seed=99, outcome="FAIL",
                                      started_utc="2024-05-09T08:00:00Z"))
    return path


def _assert_same_record(stored, original, matrix_dtype=np.float32):
    for field in dataclasses.fields(original):
        got, want = getattr(stored, field.name), getattr(original, field.name)
        if field.name == "power_matrix_dbm":
            assert got.dtype == matrix_dtype
            np.testing.assert_array_equal(got, np.asarray(want).astype(matrix_dtype))
        elif field.name in ("instruments", "wavelengths_nm", "fibers"):
            assert tuple(got) == tuple(want), field.name
        else:
            assert got == want, field.name


def test_every_field_round_trips(tmp_path):
    path = tmp_path / "results.h5"
    original = fake_cable(serial="SNü-1", extra={"ambient_c": 22.5, "nested": [1, None, "x"]})
    with ResultStore(path) as store:
        index = store.append_cable(original)
    res = load_results(path)
    assert index == 0
    _assert_same_record(res.cable_record(0), original)
    row = res.cables[0]
    assert row["serial"] == "SNü-1" and row["n_fibers"] == 12 and row["n_wavelengths"] == 2
    assert res.recipe_snapshot(0) == RECIPE
    assert res.instruments(0) == [dict(i) for i in INSTRUMENTS]
    assert res.fibers["serial"].tolist() == ["SNü-1"] * 24
    assert math.isnan(res.power_matrix(0)[0, 0, 0])


def test_float64_power_matrix_is_exact_when_asked(tmp_path):
    path = tmp_path / "results.h5"
    original = fake_cable()
    with ResultStore(path, power_matrix_dtype="float64") as store:
        store.append_cable(original)
    _assert_same_record(load_results(path).cable_record(0), original, np.float64)


def test_error_record_without_measurement(tmp_path):
    path = tmp_path / "results.h5"
    record = dataclasses.replace(fake_cable(), outcome="ERROR", fibers=(), power_matrix_dbm=np.zeros((2, 0, 0)),
                                 extra={"cycle_time_s": None})
    with ResultStore(path) as store:
        store.append_cable(record)
    res = load_results(path)
    assert res.cables["outcome"].tolist() == ["ERROR"] and len(res.fibers) == 0
    assert res.power_matrix(0).shape == (2, 0, 0)
    assert verify_store(path).ok


def test_reference_round_trip_and_idempotence(tmp_path):
    path = tmp_path / "results.h5"
    ref = fake_reference()
    with ResultStore(path) as store:
        assert store.add_reference(ref) == 0
        assert store.add_reference(ref) == 0  # same content: no-op
        with pytest.raises(StoreError, match="different content"):
            store.add_reference(dataclasses.replace(ref, operator="mallory"))
        store.add_reference(fake_reference("REF-2", taken_utc="2024-05-02T07:00:00Z", seed=2))
        store.add_reference(fake_reference("REF-OTHER", station="ST2", seed=3))
        assert store.latest_reference("ST1").reference_id == "REF-2"
        assert store.latest_reference("nowhere") is None
        assert store.reference("missing") is None
        stored = store.reference("REF-1")
    for got in (stored, load_references(path)[0]):
        for field in dataclasses.fields(ref):
            a, b = getattr(got, field.name), getattr(ref, field.name)
            if isinstance(b, np.ndarray):
                np.testing.assert_array_equal(a, b)
            else:
                assert tuple(a) == tuple(b) if isinstance(b, tuple) else a == b
    with ResultStore(path) as store:  # state rebuilt from the file
        assert store.latest_reference("ST1").reference_id == "REF-2"


def test_attempts_and_reference_counts(filled):
    with ResultStore(filled) as store:
        assert store.next_attempt("SN1") == 3
        assert store.next_attempt("new") == 1
        assert store.count_cables_since_reference("REF-1") == 7
        with pytest.raises(StoreError, match="already stored.*attempt 3"):
            store.append_cable(fake_cable(serial="SN1", attempt=2))
        assert len(store) == 7


@pytest.mark.parametrize(
    ("filters", "serials"),
    [
        ({"serial": "SN1"}, ["SN1", "SN1"]),
        ({"lot": "LOT-B"}, ["SN3", "SN4", "SN5"]),
        ({"since_utc": "2024-05-03", "until_utc": "2024-05-05T08:00:00Z"}, ["SN2", "SN3"]),
        ({"outcome": "FAIL"}, ["SN1"]),
        ({"lot": "LOT-A", "outcome": ["PASS", "FAIL"], "since_utc": "2024-05-02T00:00:00+00:00"},
         ["SN1", "SN2", "SN1"]),
        ({"serial": "nope"}, []),
    ],
)
def test_filters(filled, filters, serials):
    res = load_results(filled, **filters)
    assert res.cables["serial"].tolist() == serials
    assert sorted(set(res.fibers["record_index"].tolist())) == sorted(res.cables["record_index"].tolist())
    assert len(res.fibers) == 24 * len(serials)


def test_filter_rejects_non_utc_bounds(filled):
    with pytest.raises(StoreError, match="UTC"):
        load_results(filled, since_utc="2024-05-01T00:00:00+02:00")


def test_export_csv(filled, tmp_path):
    out = tmp_path / "lot.csv"
    assert export_csv(filled, out, lot="LOT-B") == 72
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    res = load_results(filled, lot="LOT-B")
    assert [r["serial"] for r in rows[:24]] == ["SN3"] * 24
    assert [float(r["insertion_loss_db"]) for r in rows] == res.fibers["insertion_loss_db"].tolist()
    assert rows[0]["station_name"] == "ST1" and rows[0]["sha256"] == res.cables["sha256"][0]


def test_export_json(filled, tmp_path):
    out = tmp_path / "sn1.json"
    assert export_json(filled, out, serial="SN1") == 2
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert [c["attempt"] for c in doc["cables"]] == [1, 2]
    first = doc["cables"][0]
    assert first["recipe_snapshot"] == RECIPE and len(first["fibers"]) == 24
    assert first["power_matrix_dbm"][0][0][0] is None  # NaN below floor becomes null
    res = load_results(filled, serial="SN1")
    assert first["fibers"][3]["insertion_loss_db"] == res.fibers["insertion_loss_db"][3]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"serial": "S" * 65}, "field 'serial' is 65 bytes"),
        ({"operator": "x\x00y"}, "'operator' contains a NUL"),
        ({"started_utc": "2024-05-01T08:00:00"}, "'started_utc'.*UTC"),
        ({"outcome": "MAYBE"}, "'outcome'"),
        ({"attempt": 0}, "'attempt'"),
        ({"recipe_snapshot": {"f": object()}}, "'recipe_snapshot'"),
        ({"power_matrix_dbm": np.zeros((3, 2, 2))}, "power_matrix_dbm"),
    ],
)
def test_invalid_records_are_refused_before_writing(tmp_path, change, message):
    path = tmp_path / "results.h5"
    with ResultStore(path) as store:
        with pytest.raises(StoreError, match=message):
            store.append_cable(dataclasses.replace(fake_cable(), **change))
        assert store.append_cable(fake_cable()) == 0
    assert verify_store(path).ok


def test_long_fiber_reason_names_the_fiber(tmp_path):
    record = fake_cable()
    fibers = list(record.fibers)
    fibers[5] = dataclasses.replace(fibers[5], reason="r" * 200)
    with ResultStore(tmp_path / "r.h5") as store, pytest.raises(StoreError, match=r"fibers\[5\]\.reason"):
        store.append_cable(dataclasses.replace(record, fibers=tuple(fibers)))


def test_plain_h5py_layout(filled):
    """What a user sees with plain h5py / pandas: versioned, units, one row per cable / fiber."""
    with h5py.File(filled, "r") as f:
        assert f.attrs["schema_version"] == SCHEMA_VERSION
        assert f["cables"].shape == (7,) and f["fibers"].shape == (7 * 24,)
        assert json.loads(f["fibers"].attrs["units"])["insertion_loss_db"] == "dB"
        assert f["cables"]["serial"][0] == b"SN0"


def test_recipe_snapshot_is_stored_once(tmp_path):
    path = tmp_path / "results.h5"
    with ResultStore(path, fsync=False) as store:
        for i in range(20):
            store.append_cable(fake_cable(serial=f"SN{i}", seed=i))
    with h5py.File(path, "r") as f:
        assert f["blob_index"].shape[0] == 6  # recipe, instruments, wavelengths, extra, reason, causes


def test_long_cable_reason_is_kept_whole(tmp_path):
    """A cable reason lists every failing fiber: no length limit, the column keeps a marked prefix."""
    path = tmp_path / "results.h5"
    reason = "; ".join(f"fiber {p} at 1310 nm: 1.624 dB > limit 0.75 dB (ü)" for p in range(1, 25))
    record = dataclasses.replace(fake_cable(outcome="FAIL"), reason=reason)
    with ResultStore(path) as store:
        store.append_cable(record)
        store.append_cable(fake_cable(serial="SN2", seed=2))
    res = load_results(path)
    assert res.cables["reason"].tolist() == [reason, ""]
    assert res.cable_record(0).reason == reason
    with h5py.File(path, "r") as f:
        column = f["cables"]["reason"][0].decode()
    assert column.endswith(" [...]") and reason.startswith(column[: -len(" [...]")])
    assert verify_store(path).ok
