"""Seeded drift scenarios on the virtual bench: how many cables are graded on a drifted bench.

    python -m tests.integrity.drift_scenarios [--cables 100] [--seed 11]

prints, per scenario, side by side in one run: the flow without the integrity checks (no golden
check in the flow and no reference plausibility: what `bench line` did before bench.run.drift)
and the flow with them (`LineBench`, default cadence and limits of `bench/examples/station_32.toml`).
"Drifted" is the simulator's truth: the source has moved by more than the golden tolerance since
the reference, or the reference itself was taken through a dirty cord. The tests in tests/integrity/
run the same scenarios.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.config.recipe import load_recipe
from bench.config.station import StationConfig, load_station
from bench.run.reference_health import BenchDrifted
from bench.run.session import ReferenceRequired
from bench.sim_launch import SimOptions, example_path, open_virtual_line_bench
from bench.store import load_results
from procedures.reference import ReferenceProblem

DriftProfile = Callable[[int, int], float]  # (cable number from 1, cables) -> source drift in dB


@dataclass(frozen=True)
class Scenario:
    name: str
    source_drift_db: DriftProfile
    dirty_cord_db: float = 0.0  # extra loss at one launch position during the second reference
    dirty_position: int = 5


SCENARIOS = (
    Scenario("ramp -0.3 dB over the lot", lambda i, n: -0.3 * i / n),
    Scenario("ramp +0.3 dB over the lot", lambda i, n: +0.3 * i / n),
    Scenario("step -0.3 dB at cable 30", lambda i, n: -0.3 if i >= 30 else 0.0),
    Scenario("dirty reference cord 0.12 dB at position 5", lambda i, n: 0.0, dirty_cord_db=0.12),
    Scenario("dirty reference cord 0.08 dB at position 5", lambda i, n: 0.0, dirty_cord_db=0.08),
)


@dataclass
class ScenarioResult:
    scenario: str
    watched: bool
    tested: int = 0
    graded_on_drifted: int = 0  # graded while the truth was beyond the tolerance
    unmarked_on_drifted: int = 0  # ... of them not marked SUSPECT
    suspect: int = 0
    stopped_at: int | None = None  # cable number whose turn it was when testing stopped
    retest: list[str] = field(default_factory=list)


def station_without_watch(config: StationConfig) -> StationConfig:
    """The station as the toolkit used it before: no golden cable in the flow, no plausibility limits."""
    return dataclasses.replace(config, reference=dataclasses.replace(
        config.reference, golden=None, max_step_db=1e3, max_spread_db=1e3))


def run_scenario(scenario: Scenario, *, watched: bool, folder: Path, cables: int = 100, seed: int = 11,
                 station: StationConfig | None = None) -> ScenarioResult:
    config = station or load_station(example_path("station_32.toml"))
    tolerance_db = config.reference.golden.tolerance_db if config.reference.golden else 0.10
    if not watched:
        config = station_without_watch(config)
    recipe = load_recipe(example_path("recipe_demo.toml"), station_wavelengths_nm=config.wavelengths_nm,
                         station_fiber_capacity=config.fiber_capacity)
    store = folder / f"{'watched' if watched else 'unwatched'}-{abs(hash(scenario.name))}.h5"
    result = ScenarioResult(scenario.name, watched)
    drifted_records: list[int] = []
    with open_virtual_line_bench(config, recipe, operator="drift", lot="DRIFT", store=store,
                                 sim=SimOptions(seed=seed), accept_golden_baseline=True) as bench:
        model = bench.fixture.virtual_bench.model
        first = 1
        try:
            bench.take_reference()
            if scenario.dirty_cord_db:
                # A clean shift start vouches for the baseline; a later reference goes through a dirty cord.
                first = _test_range(bench, 1, 10, cables, scenario, result, drifted_records, tolerance_db)
                model.reference_connection_loss_db[scenario.dirty_position] = scenario.dirty_cord_db
                result.stopped_at = first
                bench.take_reference()
                result.stopped_at = None
                model.reference_connection_loss_db.clear()
            _test_range(bench, first, cables, cables, scenario, result, drifted_records, tolerance_db)
            bench.finish()
        except (BenchDrifted, ReferenceRequired, ReferenceProblem):
            pass  # testing stopped: golden check, negative IL (bad reference) or an implausible reference
        result.retest = bench.drift.retest_serials
    marked = load_results(store).suspect
    result.suspect = len(marked)
    result.unmarked_on_drifted = sum(index not in marked for index in drifted_records)
    return result


def _test_range(bench, first: int, last: int, cables: int, scenario: Scenario, result: ScenarioResult,
                drifted_records: list[int], tolerance_db: float) -> int:
    dirty_reference = scenario.dirty_cord_db > 0 and first > 1  # this range follows the dirty reference
    for number in range(first, last + 1):
        drift_db = scenario.source_drift_db(number, cables)
        bench.fixture.virtual_bench.set_source_drift(drift_db)
        result.stopped_at = number
        outcome = bench.test(f"MTP12-{number:06d}").outcome
        result.tested += 1
        result.stopped_at = None
        if abs(drift_db) > tolerance_db or dirty_reference:
            result.graded_on_drifted += 1
            drifted_records.append(outcome.record_index)
    return last + 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cables", type=int, default=100)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    print(f"{'scenario':<44} {'without checks':>22} {'with drift watch + plausibility':>40}")
    print(f"{'':<44} {'graded on drifted':>22} {'graded on drifted / unmarked / SUSPECT':>40}  stopped at")
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in SCENARIOS:
            before = run_scenario(scenario, watched=False, folder=Path(tmp), cables=args.cables, seed=args.seed)
            after = run_scenario(scenario, watched=True, folder=Path(tmp), cables=args.cables, seed=args.seed)
            print(f"{scenario.name:<44} {before.graded_on_drifted:>22} "
                  f"{f'{after.graded_on_drifted} / {after.unmarked_on_drifted} / {after.suspect}':>40}  "
                  f"{after.stopped_at if after.stopped_at else '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
