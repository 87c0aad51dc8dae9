"""A cable's causes on the virtual bench: each kind of failure gives its stable code, stored and read back."""

from __future__ import annotations

from pathlib import Path

from bench.config.recipe import Recipe
from bench.records import CauseCode, Outcome, reason_text
from bench.run.session import TestSession
from bench.run.station import Station
from bench.store import ResultStore, load_results
from sim_instruments.faults import Fault
from sim_instruments.physics import make_cable
from sim_instruments.virtual_bench import VirtualBench


def _codes(causes) -> list[str]:
    return [c.code for c in causes]


def test_each_kind_of_failure_is_stored_with_its_code(station: Station, demo_recipe: Recipe,
                                                     virtual_bench: VirtualBench, store_path: Path) -> None:
    with ResultStore(store_path) as store:
        session = TestSession(station, demo_recipe, store, operator="op", lot="L")
        virtual_bench.load_dut(None)
        session.take_reference()

        virtual_bench.load_dut(make_cable("MTP12-000001"))
        passed = session.test_cable("MTP12-000001").record
        virtual_bench.load_dut(make_cable("MTP12-000002", fail=True))
        failed = session.test_cable("MTP12-000002").record
        virtual_bench.load_dut(make_cable("MTP12-000003", polarity="A"))
        misrouted = session.test_cable("MTP12-000003").record
        virtual_bench.load_dut(make_cable("MTP12-000004"))
        virtual_bench.inject("meter1", Fault("scpi_error", phase="reading", times=None))
        faulted = session.test_cable("MTP12-000004").record
        virtual_bench.clear_faults()

    assert passed.outcome == Outcome.PASS and passed.causes == ()
    assert "all 24 readings within limits" in passed.reason

    assert failed.outcome == Outcome.FAIL
    assert set(_codes(failed.causes)) == {CauseCode.FIBER_OVER_LIMIT}
    assert failed.reason == reason_text(failed.causes)  # the prose is the causes' details, nothing else

    assert misrouted.outcome == Outcome.FAIL and _codes(misrouted.causes)[0] == CauseCode.POLARITY_MISMATCH
    assert misrouted.causes[0].detail.startswith("polarity A found, recipe requires B")

    assert faulted.outcome == Outcome.ERROR and _codes(faulted.causes) == [CauseCode.INSTRUMENT_ERROR]
    assert faulted.causes[0].detail.startswith("instrument fault:") and "Operator:" in faulted.causes[0].detail

    stored = load_results(store_path)
    by_serial = {str(s): int(i) for s, i in zip(stored.cables["serial"], stored.cables["record_index"], strict=True)}
    for record in (passed, failed, misrouted, faulted):
        index = by_serial[record.serial]
        assert stored.causes(index) == record.causes
        assert stored.cable_record(index).causes == record.causes
