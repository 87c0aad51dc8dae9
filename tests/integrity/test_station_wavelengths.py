"""A recipe wavelength names a station wavelength exactly: 1310.4 nm on a station that writes 1310 is
refused when station and recipe are loaded (before any instrument is opened or the store file created),
where it used to pass validation and then fail inside the source's driver at the reference."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bench.cli.main import main
from bench.config.recipe import parse_recipe
from bench.errors import ConfigError
from bench.operator.line import load_station_and_recipe
from bench.sim_launch import SimOptions, example_path, open_virtual_line_bench

STATION = example_path("station_demo.toml")  # its source lists wavelengths_nm = [1310, 1550]
RECIPE = example_path("recipe_demo.toml")


def _recipe_file(tmp_path: Path, wavelengths: str) -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(RECIPE.read_text(encoding="utf-8").replace("wavelengths_nm = [1310, 1550]",
                                                               f"wavelengths_nm = [{wavelengths}]"), encoding="utf-8")
    return path


def _assert_names_the_fix(error: ConfigError, wavelength: str) -> None:
    assert error.field == "test.wavelengths_nm"
    assert f"{wavelength} nm is not one of the station's wavelengths (1310, 1550 nm)" in error.problem
    assert error.fix.startswith("write 1310")


def test_a_wavelength_0_4_nm_off_the_station_is_refused_at_load_time(tmp_path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_station_and_recipe(STATION, _recipe_file(tmp_path, "1310.4, 1550"))
    _assert_names_the_fix(refused.value, "1310.4")
    assert refused.value.source.endswith("recipe.toml")


def test_a_recipe_object_parsed_without_the_station_is_refused_before_the_store_exists(tmp_path) -> None:
    # The reproduction: parsed alone, 1310.4 nm passes validation (it is a valid SM wavelength) ...
    data = tomllib.loads(_recipe_file(tmp_path, "1310.4, 1550").read_text(encoding="utf-8"))
    recipe = parse_recipe(data, "recipe.toml", station_fiber_capacity=12)
    assert recipe.wavelengths_nm == (1310.4, 1550)
    store = tmp_path / "r.h5"
    # ... and on the virtual bench it used to open the store, then fail in the source's driver at the
    # reference ("1310.4 nm is not one of this source's wavelengths"); now the station refuses it.
    with pytest.raises(ConfigError) as refused, \
            open_virtual_line_bench(STATION, recipe, operator="op", lot="L", store=store, sim=SimOptions(seed=1)):
        pass
    _assert_names_the_fix(refused.value, "1310.4")
    assert not store.exists()


def test_bench_line_refuses_it_with_exit_2_and_creates_no_store(tmp_path, capsys) -> None:
    store = tmp_path / "r.h5"
    code = main(["line", "--station", str(STATION), "--recipe", str(_recipe_file(tmp_path, "1310, 1549.6")),
                 "--operator", "op", "--lot", "L", "--store", str(store), "MTP12-000001"])
    assert code == 2
    err = capsys.readouterr().err
    assert "test.wavelengths_nm" in err and "1549.6 nm is not one of the station's wavelengths" in err
    assert "write 1550" in err
    assert not store.exists()


def test_the_station_value_as_written_runs_and_is_what_the_source_is_set_to(tmp_path) -> None:
    store = tmp_path / "r.h5"
    with open_virtual_line_bench(STATION, _recipe_file(tmp_path, "1310, 1550"), operator="op", lot="L",
                                 store=store, sim=SimOptions(seed=1)) as bench:
        reference = bench.take_reference()
        assert bench.test("MTP12-000001").verdict == "PASS"
        assert bench.fixture.virtual_bench.model.source.wavelength_nm in (1310.0, 1550.0)  # the simulated laser
    assert tuple(reference.wavelengths_nm) == (1310.0, 1550.0)


def test_a_wavelength_far_from_every_station_wavelength_keeps_its_own_message(tmp_path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_station_and_recipe(STATION, _recipe_file(tmp_path, "1310, 1625"))
    assert "the station cannot produce 1625 nm" in refused.value.problem
    assert "write" not in refused.value.fix
