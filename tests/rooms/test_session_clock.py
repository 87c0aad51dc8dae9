"""The session's clock: a reference ages by the clock it is given, so expiry is tested without waiting."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bench.clock import iso_utc, utc_now
from bench.config.recipe import Recipe
from bench.run.session import ReferenceRequired, TestSession
from bench.run.station import Station
from bench.store import ResultStore, load_results
from sim_instruments.physics import make_cable
from sim_instruments.virtual_bench import VirtualBench


class FakeClock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return utc_now() + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += dt.timedelta(**delta)


def test_reference_expires_by_the_sessions_clock(station: Station, demo_recipe: Recipe, virtual_bench: VirtualBench,
                                                 store_path: Path) -> None:
    clock = FakeClock()
    max_age_h = station.config.reference.max_age_h
    with ResultStore(store_path) as store:
        session = TestSession(station, demo_recipe, store, operator="op", lot="L", clock=clock)
        virtual_bench.load_dut(None)
        session.take_reference()
        assert session.reference_problem() is None

        clock.advance(hours=max_age_h - 0.1)
        virtual_bench.load_dut(make_cable("MTP12-000001"))
        outcome = session.test_cable("MTP12-000001")
        assert outcome.outcome == "PASS"

        clock.advance(hours=0.2)
        problem = session.reference_problem()
        assert problem is not None and f"limit {max_age_h:g} h" in problem
        with pytest.raises(ReferenceRequired, match="take a new reference"):
            session.test_cable("MTP12-000002")
    stored = load_results(store_path)
    assert len(stored) == 1  # the refused cable left no record
    # the record's stamps come from the same clock
    started = dt.datetime.fromisoformat(str(stored.cables["started_utc"][0]).replace("Z", "+00:00"))
    assert started - utc_now() > dt.timedelta(hours=max_age_h - 0.2)


def test_iso_utc_is_the_stored_form() -> None:
    moment = dt.datetime(2026, 12, 2, 11, 30, 5, 120, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert iso_utc(moment) == "2026-12-02T10:30:05.000120Z"
