"""The schema layer: hostile values are refused naming the file and the field; mutated files never crash."""

from __future__ import annotations

import copy
import dataclasses
import math
import tomllib
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.config.json_schema import SCHEMA_PATH, schema_text
from bench.config.recipe import parse_recipe
from bench.config.station import parse_station
from bench.errors import ConfigError
from bench.sim_launch import example_path

STATIONS = ("station_demo.toml", "station_32.toml", "station_mixed.toml")
RECIPES = ("recipe_demo.toml", "recipe_fanout8_mpo_lc.toml", "recipe_mm24_trunk.toml")


def _read(name: str) -> dict[str, Any]:
    return tomllib.loads(Path(example_path(name)).read_text(encoding="utf-8"))


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    target = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return changed


def test_the_json_schema_in_docs_is_current() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "docs/config-schema.json is stale: run python -m bench.config.json_schema")


# The values the issue found accepted or crashing, each with the field that must be named.
STATION_REFUSALS = [
    (("instruments", 1, "port_count"), "12", "instruments[1].port_count", "whole number"),
    (("instruments", 1, "module"), "one", "instruments[1].module", "whole number"),
    (("instruments", 0, "slot"), "🔥", "instruments[0].slot", "whole number"),
    (("instruments", 0, "slot"), "1", "instruments[0].slot", "whole number"),
    (("instruments", 0, "slot"), 18, "instruments[0].slot", "out of range"),
    (("instruments", 2, "slots"), [1, "x"], "instruments[2].slots[1]", "whole number"),
    (("instruments", 2, "slots"), [1, 9], "instruments[2].slots[1]", "out of range"),
    (("instruments", 0, "adress"), "TCPIP0::192.0.2.10::5025::SOCKET", "instruments[0].adress", "unknown key"),
    (("instruments", 0, "wavelengths_nm"), [1310, math.nan], "instruments[0].wavelengths_nm[1]", "finite"),
    (("instruments", 0, "driver"), "acme", "instruments[0].driver", "unknown value 'acme'"),
    (("instruments", 0, "timeout_s"), math.inf, "instruments[0].timeout_s", "finite"),
    (("reference", "max_age_h"), math.nan, "reference.max_age_h", "finite"),
    (("reference", "max_step_db"), math.nan, "reference.max_step_db", "finite"),
    (("reference", "max_spread_db"), math.inf, "reference.max_spread_db", "finite"),
    (("reference", "cord_loss_window_db"), [0.0, math.nan], "reference.cord_loss_window_db[1]", "finite"),
    (("reference", "cord_loss_window_db"), [1.0, 0.5], "reference.cord_loss_window_db", "[min, max]"),
    (("reference", "expected_power_dbm"), {"1310": math.inf}, "reference.expected_power_dbm.1310", "finite"),
    (("reference", "expected_power_dbm"), {"red": -2.0}, "reference.expected_power_dbm", "not a wavelength"),
    (("reference", "cord_retire_matings"), "1000", "reference.cord_retire_matings", "whole number"),
    (("station", "expired_calibration"), "ignore", "station.expired_calibration", "unknown value"),
    (("reference", "max_tests"), 0, "reference.max_tests", "out of range"),
    (("timing", "settle_tolerance_db"), math.inf, "timing.settle_tolerance_db", "finite"),
    (("timing", "averaging_time_s"), math.inf, "timing.averaging_time_s", "finite"),
    (("timing", "averaging_time_s"), 1e6, "timing.averaging_time_s", "out of range"),
    (("station", "name"), "bench\x00one", "station.name", "U+0000"),
    (("station", "name"), "bench\u202eeno", "station.name", "U+202E"),
    (("station", "name"), "   ", "station.name", "empty"),
    (("fixture", "launch_ports"), [1, True], "fixture.launch_ports[1]", "whole number"),
]


@pytest.mark.parametrize(("path", "value", "field", "words"), STATION_REFUSALS,
                         ids=[f"{'.'.join(map(str, p))}={v!r}" for p, v, _, _ in STATION_REFUSALS])
def test_hostile_station_values_are_refused_naming_the_field(path, value, field, words) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_station(_set(_read("station_demo.toml"), path, value), "line3-station.toml")
    assert refused.value.source == "line3-station.toml"
    assert refused.value.field == field
    assert words in refused.value.problem
    assert refused.value.fix


RECIPE_REFUSALS = [
    (("limits", "max_il_db"), 1e18, "limits.max_il_db", "out of range"),
    (("limits", "max_il_db"), {"1310": 0.75, "1550": math.inf}, "limits.max_il_db.1550", "finite"),
    (("limits", "max_il_db"), {"1310": 0.75, "abc": 0.75}, "limits.max_il_db.abc", "not a wavelength"),
    (("recipe", "name"), "MTP\x00", "recipe.name", "U+0000"),
    (("recipe", "product"), "trunk \u202e", "recipe.product", "U+202E"),
    (("cable", "length_m"), math.inf, "cable.length_m", "finite"),
    (("cable", "length_m"), 1e9, "cable.length_m", "out of range"),
    (("decision_rule", "uncertainty_db"), math.nan, "decision_rule.uncertainty_db", "finite"),
    (("test", "wavelengths_nm"), [1310, 1e9], "test.wavelengths_nm[1]", "out of range"),
    (("cable", "serial_pattern"), "", "cable.serial_pattern", "non-empty"),
]


def test_a_leg_position_is_a_whole_number_not_true() -> None:
    data = _set(_read("recipe_fanout8_mpo_lc.toml"), ("cable", "leg_map", "L1"), True)
    with pytest.raises(ConfigError) as refused:
        parse_recipe(data, "fo.toml")
    assert refused.value.field == "cable.leg_map.L1" and "whole number" in refused.value.problem


def test_a_certificate_due_date_is_a_date_not_a_number() -> None:
    data = _set(_read("station_mm24.toml"), ("launch_conditioner", "certificate_due"), 12)
    with pytest.raises(ConfigError) as refused:
        parse_station(data, "mm.toml")
    assert refused.value.field == "launch_conditioner.certificate_due"


@pytest.mark.parametrize(("path", "value", "field", "words"), RECIPE_REFUSALS,
                         ids=[f"{'.'.join(map(str, p))}={v!r}" for p, v, _, _ in RECIPE_REFUSALS])
def test_hostile_recipe_values_are_refused_naming_the_field(path, value, field, words) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_recipe(_set(_read("recipe_demo.toml"), path, value), "line3-recipe.toml")
    assert (refused.value.source, refused.value.field) == ("line3-recipe.toml", field)
    assert words in refused.value.problem and refused.value.fix


def test_an_instrument_table_may_name_its_driver_by_model() -> None:
    data = _set(_read("station_demo.toml"), ("instruments", 2, "driver"), "auto")
    assert parse_station(data).instruments[2].options == {"slots": (1, 2, 3, 4, 5, 6, 7, 8)}
    with pytest.raises(ConfigError) as refused:
        parse_station(_set(data, ("instruments", 2, "slots"), [1, "x"]))
    assert refused.value.field == "instruments[2].slots[1]"


# -- property: any single mutation of a shipped file is either accepted clean or refused with file and field


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", "\x00", "\u202e", "1", "12", "nan", "🔥", "1310", "meter1:1", "auto"]),
    st.lists(st.one_of(st.integers(-3, 40), st.text(max_size=3), st.floats()), max_size=4),
    st.dictionaries(st.text(max_size=6), st.one_of(st.integers(), st.floats(), st.text(max_size=3)), max_size=3),
)


@st.composite
def mutations(draw: st.DrawFn, files: tuple[str, ...]) -> tuple[str, dict[str, Any], tuple[Any, ...]]:
    name = draw(st.sampled_from(files))
    data = _read(name)
    path = draw(st.sampled_from(_paths(data)))
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    changed = copy.deepcopy(data)
    parent = changed
    for part in path[:-1]:
        parent = parent[part]
    if action == "delete":
        del parent[path[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=8))] = draw(HOSTILE)
    else:
        parent[path[-1]] = draw(HOSTILE)
    return name, changed, path


def _assert_clean(value: Any) -> None:
    """An accepted configuration holds only finite numbers and printable text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            _assert_clean(getattr(value, item.name))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _assert_clean(key)
            _assert_clean(item)
    elif isinstance(value, tuple | list):
        for item in value:
            _assert_clean(item)
    elif isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, str):
        assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in value), value


def _check_refusal(error: ConfigError, source: str, top_keys: set[str]) -> None:
    assert error.source == source
    first = error.field.split(".")[0].split("[")[0]
    assert first in top_keys | {"<root>"} or error.field.startswith('"'), error.field
    assert error.problem and error.fix


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(mutations(STATIONS))
def test_a_mutated_station_file_never_crashes(mutation) -> None:
    name, data, _path = mutation
    try:
        config = parse_station(data, name)
    except ConfigError as error:
        _check_refusal(error, name, set(_read(name)) | {"station", "instruments", "fixture", "reference",
                                                        "retest", "timing"} | set(data))
    else:
        _assert_clean(config)


@SETTINGS
@given(mutations(RECIPES))
def test_a_mutated_recipe_file_never_crashes(mutation) -> None:
    name, data, _path = mutation
    try:
        recipe = parse_recipe(data, name)
    except ConfigError as error:
        _check_refusal(error, name, {"recipe", "cable", "test", "limits", "decision_rule"} | set(data))
    else:
        _assert_clean(recipe)


@pytest.mark.parametrize(("path", "value", "field", "words"), [
    (("reference", "uncertainty_db"), 0.05, "reference.uncertainty_db", "was removed"),
    (("reference", "cord_warning_matings"), 1000, "reference.cord_warning_matings", "retirement at 1000"),
])
def test_removed_and_contradictory_reference_keys_are_refused_with_the_fix(path, value, field, words) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_station(_set(_read("station_demo.toml"), path, value), "s.toml")
    assert refused.value.field == field and words in refused.value.problem and refused.value.fix


@pytest.mark.parametrize(("golden", "field", "words"), [
    ({"check_every_tests": 5}, "reference.golden.check_every_tests", "renamed check_every_cables"),
    ({"check_every_cables": 0, "check_every_min": 0}, "reference.golden", "both 0"),
    ({"check_every_min": math.nan}, "reference.golden.check_every_min", "finite"),
    ({"check_every_cables": -1}, "reference.golden.check_every_cables", "negative"),
])
def test_golden_cadence_is_checked(golden, field, words) -> None:
    data = _read("station_demo.toml")
    data["reference"]["golden"] = {"serial": "GOLD-1", **golden}
    with pytest.raises(ConfigError) as refused:
        parse_station(data, "s.toml")
    assert refused.value.field == field and words in refused.value.problem
