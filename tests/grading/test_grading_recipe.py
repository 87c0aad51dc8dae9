"""Recipes: loading, limits, serial numbers, and refusal of every kind of bad field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.config.decision_rule import DecisionRule
from bench.config.recipe import load_recipe, parse_recipe
from bench.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "bench" / "examples"


def test_demo_recipe_describes_the_demo_trunk(demo_recipe):
    r = demo_recipe
    assert (r.fiber_count, r.polarity, r.fiber_type, r.cable_type) == (12, "B", "SM", "trunk")
    assert r.wavelengths_nm == (1310.0, 1550.0)
    assert r.max_il_db(1310) == pytest.approx(0.75)
    assert r.max_il_db(1550) == pytest.approx(0.75)
    assert r.max_mean_il_db(1550) is None
    assert r.decision_rule == DecisionRule("simple", 0.10, 2.0)
    assert r.fiber_positions == tuple(range(1, 13))


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("recipe_*.toml")), ids=lambda p: p.name)
def test_every_example_recipe_loads_and_snapshots_to_json(path):
    recipe = load_recipe(path)
    snapshot = json.loads(json.dumps(recipe.as_dict()))
    assert snapshot["name"] == recipe.name
    assert snapshot["source_sha256"] and len(snapshot["source_sha256"]) == 64
    assert set(snapshot["applied_limits_db"]) == {f"{w:g}" for w in recipe.wavelengths_nm}


def test_limit_follows_length_and_connections():
    recipe = load_recipe(EXAMPLES / "recipe_mm24_trunk.toml")
    # 2 x 0.35 dB connections + 3.0 dB/km x 30 m at 850 nm
    assert recipe.max_il_db(850) == pytest.approx(0.70 + 0.090)
    assert recipe.max_il_db(1300) == pytest.approx(0.70 + 0.045)
    assert recipe.max_il_db(850, length_m=100) == pytest.approx(0.70 + 0.300)
    assert recipe.with_length(100).max_il_db(850) == pytest.approx(1.0)
    assert recipe.max_mean_il_db(850) == pytest.approx(0.45 + 0.090)


def test_wavelength_lookup_tolerates_sub_nm_offsets_but_not_other_wavelengths(demo_recipe):
    assert demo_recipe.max_il_db(1550.3) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="1625"):
        demo_recipe.max_il_db(1625)


def test_fanout_leg_map_uses_ferrule_positions_of_an_8_fiber_mpo():
    recipe = load_recipe(EXAMPLES / "recipe_fanout8_mpo_lc.toml")
    assert recipe.fiber_positions == (1, 2, 3, 4, 9, 10, 11, 12)
    assert sorted(recipe.leg_map.values()) == list(recipe.fiber_positions)


def test_check_serial(demo_recipe):
    demo_recipe.check_serial("MTP12-004217")
    with pytest.raises(ConfigError) as err:
        demo_recipe.check_serial("MTP12-4217")
    assert err.value.field == "serial" and "rescan" in err.value.fix
    with pytest.raises(ConfigError):
        demo_recipe.check_serial("  ")


def test_station_checks_accept_a_recipe_the_station_can_run():
    recipe = load_recipe(
        EXAMPLES / "recipe_demo.toml", station_wavelengths_nm=[1310.0, 1550.0], station_fiber_capacity=24
    )
    assert recipe.fiber_count == 12
    assert load_recipe(EXAMPLES / "recipe_demo.toml", station_fiber_capacity=(8, 12)).fiber_count == 12


# ---------------------------------------------------------------- refusals, one broken field each


def _breaks(data, field_path, value):
    *parents, last = field_path.split(".")
    table = data
    for key in parents:
        table = table.setdefault(key, {})
    if value is _DELETE:
        del table[last]
    else:
        table[last] = value
    return data


_DELETE = object()

BAD_FIELDS = [
    # (field to break, value, field named in the error, words in the problem)
    ("limits.max_il_db", -0.75, "limits.max_il_db", "negative"),
    ("limits.max_il_db", {"1310": 0.75, "1550": -0.1}, "limits.max_il_db.1550", "negative"),
    ("limits.max_il_db", {"1310": 0.75}, "limits.max_il_db", "1550"),
    ("limits.max_il_db", {"1310": 0.75, "1550": 0.75, "1625": 0.8}, "limits.max_il_db.1625", "not a test"),
    ("limits.max_il_db", 0.0, "limits.max_il_db", "0 dB"),
    ("limits.max_il_db", "0.75", "limits.max_il_db", "expected a number"),
    ("limits.max_il_db", _DELETE, "limits.max_il_db", "no per-fiber limit"),
    ("limits.per_connection_db", -0.35, "limits.per_connection_db", "negative"),
    ("limits.connections", 2.5, "limits.connections", "whole number"),
    ("limits.connections", 9, "limits.connections", "out of range"),
    ("limits.max_mean_il_db", 0.9, "limits.max_mean_il_db", "never bind"),
    (
        "limits.attenuation_db_per_km",
        {"1310": "x", "1550": 0.3},
        "limits.attenuation_db_per_km.1310",
        "number",
    ),
    ("limits.typo_db", 1.0, "limits.typo_db", "unknown key"),
    ("cable.polarity", "D", "cable.polarity", "unknown value"),
    ("cable.polarity", "B-row-keeping", "cable.polarity", "unknown value"),
    ("cable.fiber_count", 10, "cable.fiber_count", "not an MPO/MTP fiber count"),
    ("cable.fiber_count", "12", "cable.fiber_count", "whole number"),
    ("cable.fiber_count", True, "cable.fiber_count", "whole number"),
    ("cable.fiber_type", "OM4", "cable.fiber_type", "unknown value"),
    ("cable.length_m", -1.0, "cable.length_m", "not positive"),
    ("cable.length_m", float("nan"), "cable.length_m", "finite"),
    ("cable.connector_a", "LC", "cable.connector_a", "not an MPO/MTP"),
    ("cable.connector_b", "LC", "cable.connector_b", "trunk needs"),
    ("cable.connector_b", "MTP", "cable.connector_b", "unknown connector"),
    ("cable.cable_type", "patch", "cable.cable_type", "unknown value"),
    ("cable.serial_pattern", "^MTP([0-9]$", "cable.serial_pattern", "regular expression"),
    ("cable.leg_map", {"L1": 1}, "cable.leg_map", "trunk has no legs"),
    ("cable.colour", "aqua", "cable.colour", "unknown key"),
    ("cable.polarity", _DELETE, "cable.polarity", "missing"),
    ("test.wavelengths_nm", [850, 1300], "test.wavelengths_nm", "outside the SM"),
    ("test.wavelengths_nm", [], "test.wavelengths_nm", "non-empty"),
    ("test.wavelengths_nm", [1310, 1310.2], "test.wavelengths_nm", "twice"),
    ("decision_rule.kind", "strict", "decision_rule.kind", "unknown value"),
    ("decision_rule.uncertainty_db", -0.1, "decision_rule.uncertainty_db", "negative"),
    ("decision_rule.coverage_factor", 0, "decision_rule.coverage_factor", "not positive"),
    ("decision_rule.uncertainty_db", _DELETE, "decision_rule.uncertainty_db", "missing"),
    ("recipe.name", "", "recipe.name", "non-empty"),
    ("extra", {"a": 1}, "extra", "unknown key"),
]


@pytest.mark.parametrize(
    ("field_path", "value", "named", "words"), BAD_FIELDS, ids=[f"{b[0]}={b[1]!r}" for b in BAD_FIELDS]
)
def test_bad_field_is_refused_naming_source_field_and_fix(recipe_dict, field_path, value, named, words):
    data = _breaks(recipe_dict, field_path, value)
    with pytest.raises(ConfigError) as err:
        parse_recipe(data, "line3.toml")
    assert err.value.source == "line3.toml"
    assert err.value.field == named
    assert words in err.value.problem
    assert err.value.fix


def test_guarded_rule_without_uncertainty_is_refused(recipe_dict):
    recipe_dict["decision_rule"] = {"kind": "guarded", "uncertainty_db": 0.0}
    with pytest.raises(ConfigError, match="uncertainty_db"):
        parse_recipe(recipe_dict)


def test_fanout_leg_map_must_cover_each_fiber_once(recipe_dict):
    recipe_dict["cable"].update(fiber_count=8, cable_type="fanout", connector_b="LC")
    recipe_dict["cable"]["leg_map"] = {"L1": 1, "L2": 2, "L3": 3, "L4": 4, "L5": 5}
    with pytest.raises(ConfigError) as err:
        parse_recipe(recipe_dict)
    assert err.value.field == "cable.leg_map.L5" and "does not carry a fiber" in err.value.problem
    recipe_dict["cable"]["leg_map"] = {"L1": 1, "L2": 1}
    with pytest.raises(ConfigError, match="already leg 'L1'"):
        parse_recipe(recipe_dict)
    recipe_dict["cable"]["leg_map"] = {"L1": 1, "L2": 2}
    with pytest.raises(ConfigError, match="2 legs for 8 fibers"):
        parse_recipe(recipe_dict)


def test_wavelength_the_station_cannot_produce_is_refused(recipe_dict):
    with pytest.raises(ConfigError) as err:
        parse_recipe(recipe_dict, "r.toml", station_wavelengths_nm=[1310])
    assert err.value.field == "test.wavelengths_nm" and "cannot produce 1550 nm" in err.value.problem


def test_fiber_count_the_fixture_cannot_take_is_refused(recipe_dict):
    recipe_dict["cable"]["fiber_count"] = 24
    with pytest.raises(ConfigError) as err:
        parse_recipe(recipe_dict, "r.toml", station_fiber_capacity=12)
    assert err.value.field == "cable.fiber_count" and "at most 12" in err.value.problem
    with pytest.raises(ConfigError, match="8, 12-fiber"):
        parse_recipe(recipe_dict, "r.toml", station_fiber_capacity=[8, 12])


def test_malformed_toml_is_refused_with_the_file_named(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('[recipe]\nname = "x\n')
    with pytest.raises(ConfigError) as err:
        load_recipe(path)
    assert err.value.source == str(path) and err.value.field == "<toml>" and "malformed TOML" in err.value.problem


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_recipe(tmp_path / "nope.toml")


def test_recipe_is_immutable(demo_recipe):
    with pytest.raises(AttributeError):
        demo_recipe.length_m = 20.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        demo_recipe.limits.max_il_db[1310.0] = 9.0  # type: ignore[index]
