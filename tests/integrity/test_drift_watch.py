"""The drift watch on the virtual bench: seeded drift is caught within the station's cadence and
every cable graded on the drifted bench is marked SUSPECT, in the store and in every view of it."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json

import h5py
import pytest

from bench.cli.main import main as bench_main
from bench.config.station import load_station
from bench.run.drift import DriftWatch
from bench.run.golden import GoldenBaselineRequired
from bench.run.reference_health import BenchDrifted
from bench.run.session import TestSession
from bench.run.station import open_station
from bench.sim_launch import SimOptions, example_path, open_virtual_line_bench
from bench.store import ResultStore, export_csv, load_results
from bench.store.annotations import GROUP
from procedures.reference import ReferenceProblem
from sim_instruments.physics import make_cable, make_golden_cable
from sim_instruments.virtual_bench import VirtualBench

from .drift_scenarios import SCENARIOS, run_scenario

STATION = str(example_path("station_32.toml"))
RECIPE = str(example_path("recipe_demo.toml"))
CADENCE = 10  # check_every_cables of station_32.toml


def _first_beyond(scenario, cables: int, tolerance_db: float = 0.10) -> int:
    return next(i for i in range(1, cables + 1) if abs(scenario.source_drift_db(i, cables)) > tolerance_db)


@pytest.mark.parametrize("scenario", SCENARIOS[:3], ids=["ramp-down", "ramp-up", "step-down"])
def test_drift_stops_testing_within_the_cadence_and_leaves_no_drifted_cable_unmarked(scenario, tmp_path) -> None:
    result = run_scenario(scenario, watched=True, folder=tmp_path, cables=100)
    assert result.stopped_at is not None, "testing went on over a drifted bench"
    assert result.stopped_at <= _first_beyond(scenario, 100) + CADENCE
    assert result.unmarked_on_drifted == 0
    assert 1 <= result.suspect <= CADENCE and len(result.retest) == result.suspect


def test_without_the_watch_the_same_ramp_grades_many_cables_on_a_drifted_bench(tmp_path) -> None:
    before = run_scenario(SCENARIOS[0], watched=False, folder=tmp_path, cables=100)
    assert before.stopped_at is None and before.graded_on_drifted > 50 and before.suspect == 0


def test_suspect_marks_are_appended_and_shown_by_every_reader(tmp_path, capsys) -> None:
    store = tmp_path / "line.h5"
    with open_virtual_line_bench(STATION, RECIPE, operator="op", lot="LOT-S", store=store, sim=SimOptions(seed=3),
                                 accept_golden_baseline=True) as bench:
        bench.take_reference()
        outcomes = [bench.test(f"MTP12-{n:06d}").outcome for n in range(1, 4)]
        before = load_results(store)
        stored_rows = before.cables.copy()
        bench.fixture.virtual_bench.set_source_drift(-0.3)
        with pytest.raises(BenchDrifted, match="retest the cables marked SUSPECT"):
            bench.finish()
        assert bench.drift.retest_serials == [o.record.serial for o in outcomes]
    after = load_results(store)
    indexes = [o.record_index for o in outcomes]
    assert sorted(after.suspect) == indexes
    assert all("SUSPECT" in after.suspect[i] and "golden check record" in after.suspect[i] for i in indexes)
    golden_fail = after.cables[(after.cables["kind"] == "golden_check") & (after.cables["outcome"] == "FAIL")]
    assert all(a.check_record_index == int(golden_fail["record_index"][-1]) for a in after.annotations)
    # Committed rows are unchanged: the mark lives beside them.
    kept = after.cables[[int(i) in set(stored_rows["record_index"].tolist()) for i in after.cables["record_index"]]]
    assert (kept == stored_rows).all()

    out = tmp_path / "rows.csv"
    export_csv(store, out)
    with open(out, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {int(r["record_index"]) for r in rows if r["suspect"]} == set(indexes)

    assert bench_main(["query", str(store), "--json"]) == 0
    docs = json.loads(capsys.readouterr().out)["cables"]
    assert {d["record_index"] for d in docs if d["suspect"]} == set(indexes)
    assert bench_main(["query", str(store)]) == 0
    text = capsys.readouterr().out
    assert text.count("SUSPECT") == len(indexes) + 1 and "3 SUSPECT" in text


def test_bench_line_json_lists_suspect_cables_and_the_retest_list(tmp_path, capsys, monkeypatch) -> None:
    import bench.cli.line as line_cli

    store = tmp_path / "cli.h5"
    real_test = line_cli.LineBench.test

    def drifting_test(self, serial, progress=None):  # the source sags after the third cable
        if serial.endswith("4"):
            self.fixture.virtual_bench.set_source_drift(-0.3)
        return real_test(self, serial, progress)

    monkeypatch.setattr(line_cli.LineBench, "test", drifting_test)
    serials = [f"MTP12-{n:06d}" for n in range(1, 9)]
    code = bench_main(["line", "--station", STATION, "--recipe", RECIPE, "--operator", "op", "--lot", "L1",
                       "--store", str(store), "--accept-golden-baseline", "--json", *serials])
    *cables, summary = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 2 and "drifted" in summary["error"]
    # The cables were streamed as they were stored; the summary names those the failed check put in doubt.
    assert summary["retest"] == serials[:8] and len(summary["suspect"]) == 8
    assert {c["record_index"] for c in cables} == {s["record_index"] for s in summary["suspect"]}


def test_uncertified_golden_cable_needs_an_accepted_baseline(tmp_path) -> None:
    with pytest.raises(GoldenBaselineRequired, match="--accept-golden-baseline"):
        with open_virtual_line_bench(STATION, RECIPE, operator="op", lot="L", store=tmp_path / "b.h5") as bench:
            bench.take_reference()
    # Accepted once, the baseline is in the store: the next run's references are checked against it.
    with open_virtual_line_bench(STATION, RECIPE, operator="op", lot="L", store=tmp_path / "b.h5",
                                 accept_golden_baseline=True) as bench:
        bench.take_reference()
    with open_virtual_line_bench(STATION, RECIPE, operator="op", lot="L", store=tmp_path / "b.h5") as bench:
        bench.fixture.virtual_bench.model.reference_connection_loss_db[2] = 0.2  # a bad reference
        with pytest.raises(ReferenceProblem, match="launch position 2"):  # plausibility sees it first
            bench.take_reference()
    # With the step check relaxed, the golden cable's stored baseline still catches it.
    config = load_station(STATION)
    relaxed = dataclasses.replace(config, reference=dataclasses.replace(config.reference, max_step_db=1.0))
    with open_virtual_line_bench(relaxed, RECIPE, operator="op", lot="L", store=tmp_path / "b.h5") as bench:
        bench.fixture.virtual_bench.model.reference_connection_loss_db[2] = 0.2
        with pytest.raises(BenchDrifted, match="fiber 2"):
            bench.take_reference()


class FakeClock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


class Connector:
    def __init__(self, virtual_bench: VirtualBench) -> None:
        self.virtual_bench = virtual_bench
        self.golden = make_golden_cable("GOLD-0001", wavelengths_nm=(1310.0, 1550.0))

    def prompt(self, prompt) -> None:
        self.virtual_bench.load_dut(self.golden)


def test_minutes_cadence_on_a_bare_session_with_a_fake_clock(tmp_path) -> None:
    from bench.config.recipe import load_recipe

    config = load_station(STATION)
    golden = dataclasses.replace(config.reference.golden, check_every_cables=0, check_every_min=30)
    config = dataclasses.replace(config, reference=dataclasses.replace(config.reference, golden=golden))
    recipe = load_recipe(RECIPE, station_wavelengths_nm=config.wavelengths_nm, station_fiber_capacity=32)
    clock = FakeClock()
    with VirtualBench(config, seed=5) as virtual_bench, \
            open_station(config, addresses=virtual_bench.addresses) as station, \
            ResultStore(tmp_path / "s.h5", fsync=False) as store:
        session = TestSession(station, recipe, store, operator="op", lot="L", clock=clock)
        watch = DriftWatch(session, Connector(virtual_bench), accept_baseline=True)
        virtual_bench.load_dut(None)
        session.take_reference()
        watch.after_reference()
        for n in range(1, 4):
            assert watch.before_cable() is None  # not due: no cable count, 30 min not reached
            virtual_bench.load_dut(make_cable(f"MTP12-{n:06d}", seed=n))
            watch.cable_stored(session.test_cable(f"MTP12-{n:06d}"))
            clock.now += dt.timedelta(minutes=11)
        assert "min since the last golden-cable check" in session.reference_problem()
        virtual_bench.set_source_drift(-0.3)
        with pytest.raises(BenchDrifted):
            watch.before_cable()
        assert len(load_results(store.path).suspect) == 3


def test_a_store_written_before_annotations_is_migrated_on_open(tmp_path) -> None:
    path = tmp_path / "old.h5"
    with ResultStore(path, fsync=False):
        pass
    with h5py.File(path, "r+") as f:  # what a file from before annotations looks like
        del f[GROUP]
    assert load_results(path).suspect == {}
    with ResultStore(path, fsync=False) as store:
        assert store.annotate([], kind="SUSPECT", reason="nothing") == 0
    with h5py.File(path, "r") as f:
        assert GROUP in f
