"""Refused before any instrument is touched: a recipe written for another reference method, an
instrument past its calibration date (or tested with it named in every record, where the station says so)."""

from __future__ import annotations

import tomllib

import pytest

from bench.errors import ConfigError
from bench.sim_launch import SimOptions, example_path, open_virtual_line_bench
from bench.store import load_results
from sim_instruments import virtual_bench

STATION = example_path("station_demo.toml")
RECIPE = example_path("recipe_demo.toml")


def _write_station(tmp_path, *, method: str = "1-cord", due: str | None = None, policy: str | None = None):
    text = STATION.read_text(encoding="utf-8").replace('method = "1-cord"', f'method = "{method}"')
    if due is not None:
        text = text.replace('calibration_date = "2026-03-31"\ncalibration_due = "2027-03-31"',
                            f'calibration_date = "2019-01-31"\ncalibration_due = "{due}"', 1)
    if policy is not None:
        text = text.replace('store_path = "results/bench.h5"', f'store_path = "results/bench.h5"\n'
                            f'expired_calibration = "{policy}"')
    path = tmp_path / "station.toml"
    path.write_text(text, encoding="utf-8")
    tomllib.loads(text)
    return path


def _no_instrument_started(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the virtual bench was started before the refusal")

    monkeypatch.setattr(virtual_bench.VirtualBench, "__enter__", refuse)


@pytest.mark.parametrize(("method", "expected"), [("2-cord", 1), ("3-cord", 0)])
def test_recipe_for_a_1_cord_reference_is_refused_on_another_method(method, expected, tmp_path,
                                                                     monkeypatch) -> None:
    station = _write_station(tmp_path, method=method)
    _no_instrument_started(monkeypatch)
    with pytest.raises(ConfigError) as refused:
        with open_virtual_line_bench(station, RECIPE, operator="op", lot="L", store=tmp_path / "s.h5"):
            pass
    error = refused.value
    assert error.field == "limits.connections" and method in error.problem
    assert f"connections = {expected}" in error.fix
    assert not (tmp_path / "s.h5").exists()


def test_matching_connections_are_accepted(tmp_path) -> None:
    station = _write_station(tmp_path, method="2-cord")
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(RECIPE.read_text(encoding="utf-8").replace(
        "max_il_db = { 1310 = 0.75, 1550 = 0.75 }", "max_il_db = { 1310 = 0.75, 1550 = 0.75 }\nconnections = 1"),
        encoding="utf-8")
    with open_virtual_line_bench(station, recipe, operator="op", lot="L", store=tmp_path / "s.h5") as bench:
        bench.take_reference()
        assert bench.test("MTP12-000001").verdict == "PASS"


def test_expired_calibration_is_refused_naming_the_instrument(tmp_path, monkeypatch) -> None:
    station = _write_station(tmp_path, due="2020-01-31")
    _no_instrument_started(monkeypatch)
    with pytest.raises(ConfigError, match="meter1 was due for calibration on 2020-01-31") as refused:
        with open_virtual_line_bench(station, RECIPE, operator="op", lot="L", store=tmp_path / "s.h5"):
            pass
    assert "expired_calibration" in refused.value.fix and not (tmp_path / "s.h5").exists()


def test_expired_calibration_warned_is_recorded_in_every_record(tmp_path) -> None:
    station = _write_station(tmp_path, due="2020-01-31", policy="warn")
    with open_virtual_line_bench(station, RECIPE, operator="op", lot="L", store=tmp_path / "s.h5",
                                 sim=SimOptions(seed=2)) as bench:
        bench.take_reference()
        index = bench.test("MTP12-000001").outcome.record_index
    assert load_results(tmp_path / "s.h5").extra(index)["calibration_overdue"] == {"meter1": "2020-01-31"}


def test_unknown_calibration_policy_is_refused(tmp_path) -> None:
    station = _write_station(tmp_path, policy="ignore")
    with pytest.raises(ConfigError, match="station.expired_calibration"):
        with open_virtual_line_bench(station, RECIPE, operator="op", lot="L", store=tmp_path / "s.h5"):
            pass
