"""The uncertainty budget: GUM combination against a hand computation, distributions, fixed
sensitivities, and every refusal where station and recipe meet (bench.grading.uncertainty)."""

from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.config.recipe import parse_recipe
from bench.config.station import StationConfig, parse_station
from bench.errors import ConfigError
from bench.grading.cable import grade_cable
from bench.grading.uncertainty import UncertaintyBudget, budget_for, with_budget

EXAMPLES = Path(__file__).resolve().parents[2] / "bench" / "examples"
STATION_TOML = tomllib.loads((EXAMPLES / "station_demo.toml").read_text(encoding="utf-8"))
RECIPE = {
    "recipe": {"name": "T12", "product": "test trunk"},
    "cable": {"fiber_count": 12, "polarity": "B", "fiber_type": "SM", "connector_a": "MTP-F",
              "connector_b": "MTP-F", "cable_type": "trunk", "length_m": 10.0},
    "test": {"wavelengths_nm": [1310, 1550]},
    "limits": {"max_il_db": 0.75},
    "decision_rule": {"kind": "guarded"},
}


def entry(value_db: float, distribution: str = "normal", basis: str = "test figure") -> dict[str, Any]:
    return {"value_db": value_db, "distribution": distribution, "basis": basis}


def station(uncertainty: dict[str, Any] | None) -> StationConfig:
    data = copy.deepcopy(STATION_TOML)
    data.pop("uncertainty", None)
    if uncertainty is not None:
        data["uncertainty"] = uncertainty
    return parse_station(data, "station.toml")


def recipe(*, budget: dict[str, Any] | None = None, connections: int = 2, kind: str = "guarded",
           uncertainty_db: float | None = None):
    data = copy.deepcopy(RECIPE)
    data["limits"]["connections"] = connections
    data["decision_rule"]["kind"] = kind
    if budget is not None:
        data["decision_rule"]["budget"] = budget
    if uncertainty_db is not None:
        data["decision_rule"]["uncertainty_db"] = uncertainty_db
    return parse_recipe(data, "recipe.toml")


DEMO_STATION = {"source_stability": entry(0.03, "rectangular"), "meter_linearity": entry(0.02, "rectangular"),
                "meter_noise": entry(0.003)}


def test_combination_matches_a_hand_computation() -> None:
    graded = with_budget(station(DEMO_STATION), recipe(budget={"connector_repeatability": entry(0.0085)}))
    # u_i: a/√3 for the two data-sheet limits, σ for the others; c: 1, 1, √2 (two readings), √2 (two connections)
    by_hand = math.sqrt((0.03 / math.sqrt(3)) ** 2 + (0.02 / math.sqrt(3)) ** 2
                        + (math.sqrt(2) * 0.003) ** 2 + (math.sqrt(2) * 0.0085) ** 2)
    rule = graded.decision_rule
    assert rule.budget.standard_uncertainty_db == pytest.approx(by_hand, rel=1e-12)
    assert rule.uncertainty_db == pytest.approx(2 * by_hand, rel=1e-12)
    assert rule.uncertainty_db == pytest.approx(0.0488, abs=1e-4)
    rows = {row["name"]: row for row in rule.budget.rows()}
    assert rows["source_stability"]["divisor"] == pytest.approx(math.sqrt(3))
    assert rows["meter_noise"]["contribution_db"] == pytest.approx(math.sqrt(2) * 0.003)
    assert rows["connector_repeatability"]["origin"] == "recipe T12 (recipe.toml) [decision_rule.budget]"
    assert rows["meter_linearity"]["origin"].startswith("station demo-bench-1 (station.toml)")
    assert rows["meter_linearity"]["basis"] == "test figure"


def test_coverage_factor_scales_u() -> None:
    data = copy.deepcopy(RECIPE)
    data["decision_rule"]["coverage_factor"] = 3.0
    graded = with_budget(station({"meter_noise": entry(0.01)}), parse_recipe(data, "recipe.toml"))
    assert graded.decision_rule.uncertainty_db == pytest.approx(3 * math.sqrt(2) * 0.01)


def test_a_rectangular_half_width_counts_one_over_root_three_of_a_normal_sigma() -> None:
    normal = budget_for(station({"source_stability": entry(0.03, "normal")}), recipe())
    rectangular = budget_for(station({"source_stability": entry(0.03, "rectangular")}), recipe())
    assert normal.standard_uncertainty_db == pytest.approx(0.03)
    assert rectangular.standard_uncertainty_db == pytest.approx(0.03 / math.sqrt(3))


@pytest.mark.parametrize(("name", "where", "connections", "sensitivity"), [
    ("source_stability", "station", 2, 1.0), ("meter_linearity", "station", 2, 1.0),
    ("meter_noise", "station", 2, math.sqrt(2)), ("reference_repeatability", "station", 2, 1.0),
    ("temperature", "station", 2, 1.0), ("temperature", "recipe", 2, 1.0),
    ("connector_repeatability", "recipe", 2, math.sqrt(2)), ("connector_repeatability", "recipe", 1, 1.0),
    ("connector_repeatability", "recipe", 0, 0.0)])
def test_sensitivities_are_fixed_by_the_contribution_name(name, where, connections, sensitivity) -> None:
    station_part = {name: entry(0.01)} if where == "station" else {"meter_noise": entry(0.001)}
    budget = budget_for(station(station_part), recipe(budget={name: entry(0.01)} if where == "recipe" else None,
                                                      connections=connections))
    row = next(row for row in budget.rows() if row["name"] == name)
    assert row["sensitivity"] == pytest.approx(sensitivity)
    assert row["contribution_db"] == pytest.approx(sensitivity * 0.01)


def test_a_typed_u_beside_a_budget_is_refused_naming_the_field_and_the_budgets_u() -> None:
    with pytest.raises(ConfigError) as refused:
        with_budget(station(DEMO_STATION), recipe(uncertainty_db=0.10))
    assert refused.value.field == "decision_rule.uncertainty_db" and refused.value.source == "recipe.toml"
    expected = 2 * math.sqrt(0.03 ** 2 / 3 + 0.02 ** 2 / 3 + 2 * 0.003 ** 2)
    assert f"remove it: the budget gives U = {expected:.4f} dB" in str(refused.value)


def test_temperature_from_both_files_is_refused_naming_the_recipe_field() -> None:
    with pytest.raises(ConfigError) as refused:
        with_budget(station({"temperature": entry(0.01)}), recipe(budget={"temperature": entry(0.01)}))
    assert refused.value.field == "decision_rule.budget.temperature"
    assert "already gives [uncertainty] temperature" in str(refused.value)


def test_without_budget_data_a_typed_u_stays_valid_and_is_recorded_as_declared() -> None:
    graded = with_budget(station(None), recipe(uncertainty_db=0.10))
    assert graded.decision_rule.uncertainty_db == 0.10
    stored = graded.decision_rule.budget.as_dict()
    assert stored["declared_u_db"] == 0.10 and stored["contributions"] == []
    assert "U declared in the recipe, no uncertainty budget" in graded.decision_rule.budget.format_table()


def test_no_u_anywhere_is_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        with_budget(station(None), recipe())
    assert refused.value.field == "decision_rule.uncertainty_db" and "no U" in str(refused.value)


def test_a_guarded_rule_whose_budget_gives_zero_is_refused() -> None:
    # A 3-cord reference leaves no connection in the reading: the connector term has sensitivity 0.
    with pytest.raises(ConfigError) as refused:
        with_budget(station(None), recipe(budget={"connector_repeatability": entry(0.01)}, connections=0))
    assert refused.value.field == "decision_rule.budget" and "U = 0" in str(refused.value)


def test_applying_the_budget_twice_or_on_another_station_recomputes_it() -> None:
    graded = with_budget(station(DEMO_STATION), recipe())
    assert with_budget(station(DEMO_STATION), graded) == graded
    other = with_budget(station({"meter_noise": entry(0.01)}), graded)
    assert other.decision_rule.uncertainty_db == pytest.approx(2 * math.sqrt(2) * 0.01)
    declared = with_budget(station(None), recipe(uncertainty_db=0.08))
    assert with_budget(station(None), declared).decision_rule.uncertainty_db == 0.08


def test_a_stored_budget_reads_back() -> None:
    budget = budget_for(station(DEMO_STATION), recipe(budget={"connector_repeatability": entry(0.0085)}))
    again = UncertaintyBudget.from_dict(budget.as_dict())
    assert again == budget and again.expanded_uncertainty_db == budget.expanded_uncertainty_db
    declared = UncertaintyBudget((), 2.0, 0.1)
    assert UncertaintyBudget.from_dict(declared.as_dict()) == declared


def test_the_budgets_u_decides_a_reading_between_the_two_guard_bands() -> None:
    il = np.full((2, 12), 0.30)
    il[0, 4] = 0.68  # margin 0.07 dB: within a declared U of 0.10, outside the budget's 0.049
    declared = with_budget(station(None), recipe(uncertainty_db=0.10))
    budgeted = with_budget(station(DEMO_STATION), recipe(budget={"connector_repeatability": entry(0.0085)}))
    assert grade_cable(declared, il, [1310, 1550]).fibers[4].verdict == "CONDITIONAL"
    assert grade_cable(budgeted, il, [1310, 1550]).fibers[4].verdict == "PASS"


def test_a_budgeted_recipe_is_not_graded_before_it_meets_its_station() -> None:
    with pytest.raises(ConfigError) as refused:
        grade_cable(recipe(budget={"connector_repeatability": entry(0.0085)}), np.full((2, 12), 0.3), [1310, 1550])
    assert refused.value.field == "decision_rule" and "needs the station" in str(refused.value)


@pytest.mark.parametrize(("table", "field"), [
    ({"meter_noise": {"value_db": 0.003, "distribution": "normal"}}, "uncertainty.meter_noise.basis"),
    ({"meter_noise": entry(0.0)}, "uncertainty.meter_noise.value_db"),
    ({"meter_noise": entry(0.003, "triangular")}, "uncertainty.meter_noise.distribution"),
    ({"connector_repeatability": entry(0.003)}, "uncertainty.connector_repeatability"),
    ({"meter_noise": {**entry(0.003), "sensitivity": 2.0}}, "uncertainty.meter_noise.sensitivity")])
def test_a_malformed_station_contribution_is_refused_naming_it(table, field) -> None:
    with pytest.raises(ConfigError) as refused:
        station(table)
    assert refused.value.field == field
