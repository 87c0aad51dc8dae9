"""Multimode launch conditioner and APC/UPC polish: refused before any instrument is opened when the
station cannot test the cable, carried through record, certificate and lot report when it can."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest

from bench.config.cable_fit import check_recipe_on_station
from bench.config.recipe import load_recipe, parse_recipe
from bench.config.station import load_station, parse_station
from bench.errors import ConfigError
from bench.operator.line import load_station_and_recipe
from bench.report.certificate import CertificateData
from bench.report.lot_report import load_lot_report_data, summary_rows
from bench.run.session import TestSession
from bench.sim_launch import example_path
from bench.store import ResultStore, load_results
from sim_instruments.physics import make_cable

from .conftest import referenced_session


def _station_data(name: str) -> dict:
    return tomllib.loads(example_path(name).read_text(encoding="utf-8"))


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_multimode_recipe_on_a_station_without_launch_conditioner_is_refused_before_opening(tmp_path) -> None:
    text = example_path("station_mm24.toml").read_text(encoding="utf-8")
    start = text.index("[launch_conditioner]")
    bare = text[:start] + text[text.index("[reference]"):]
    station_path = _write(tmp_path, "no_ef.toml", bare.replace('backend = "virtual"', 'backend = "visa"'))
    with pytest.raises(ConfigError) as refused:
        load_station_and_recipe(station_path, example_path("recipe_om5_trunk24.toml"))
    assert refused.value.source == str(station_path) and refused.value.field == "launch_conditioner"
    assert "IEC 61280-4-1" in str(refused.value) and "[launch_conditioner]" in refused.value.fix


def test_the_session_refuses_a_multimode_recipe_too(station72, store72) -> None:
    mm = parse_recipe({"recipe": {"name": "MM12", "product": "p"},
                       "cable": {"fiber_count": 12, "polarity": "B", "fiber_family": "OM4", "connector_a": "MTP-F",
                                 "connector_b": "MTP-F", "cable_type": "trunk", "length_m": 3.0},
                       "test": {"wavelengths_nm": [850]}, "limits": {"max_il_db": 0.75},
                       "decision_rule": {"kind": "simple"}}, "mm12.toml")  # U: station_72's [uncertainty]
    with pytest.raises(ConfigError, match="names no launch conditioner"):
        TestSession(station72, mm, store72, operator="cables", lot="X")


@pytest.mark.parametrize(("kind", "words"), [("mandrel", "not an encircled-flux launch"), ("ef", "unknown kind")])
def test_a_launch_conditioner_that_is_not_ef_compliant_is_refused(kind, words) -> None:
    data = _station_data("station_mm24.toml")
    data["launch_conditioner"]["kind"] = kind
    with pytest.raises(ConfigError, match=words) as refused:
        parse_station(data, "mm.toml")
    assert refused.value.field == "launch_conditioner.kind"


def test_missing_serial_or_certificate_is_refused() -> None:
    data = _station_data("station_mm24.toml")
    del data["launch_conditioner"]["certificate"]
    with pytest.raises(ConfigError) as refused:
        parse_station(data, "mm.toml")
    assert refused.value.field == "launch_conditioner.certificate"


def test_om5_record_certificate_and_lot_report_carry_the_launch_conditioner(station_mm24_config, station_mm24,
                                                                             bench_mm24_clean, tmp_path) -> None:
    recipe = load_recipe(example_path("recipe_om5_trunk24.toml"),
                         station_wavelengths_nm=station_mm24_config.wavelengths_nm)
    with ResultStore(tmp_path / "ef.h5", fsync=False) as store:
        session = referenced_session(station_mm24, recipe, store, bench_mm24_clean, lot="EF-LOT")
        bench_mm24_clean.load_dut(make_cable("MTP24-OM5-000010", fiber_count=24, polarity="A",
                                             wavelengths_nm=(850, 953), seed=5))
        outcome = session.test_cable("MTP24-OM5-000010")
    assert outcome.outcome == "PASS"
    stored = load_results(tmp_path / "ef.h5", serial="MTP24-OM5-000010")
    index = int(stored.cables["record_index"][0])
    setup = stored.extra(index)["cable_setup"]
    assert setup["launch_conditioner"] == station_mm24_config.launch_conditioner.as_dict()
    certificate = CertificateData.from_record(stored.cable_record(index))
    rows = dict(certificate.test_setup)
    assert "EFMC-MM24-0001" in rows["Launch condition"] and "EF-CERT-2026-0117" in rows["Launch condition"]
    report = dict(summary_rows(load_lot_report_data(tmp_path / "ef.h5", "EF-LOT")))
    assert "EFMC-MM24-0001" in report["Launch condition"]


def test_a_single_mode_record_has_no_launch_conditioner(station72, store72, bench72_clean) -> None:
    from .conftest import trunk_recipe
    session = referenced_session(station72, trunk_recipe(12, "B"), store72, bench72_clean)
    bench72_clean.load_dut(make_cable("T12-SM-1", fiber_count=12, polarity="B", seed=1))
    record = session.test_cable("T12-SM-1").record
    assert record.extra["cable_setup"]["launch_conditioner"] is None
    assert record.extra["cable_setup"]["fixture_polish"] == {"a": "UPC", "b": "UPC"}


# -- APC / UPC ---------------------------------------------------------------------------------


def test_an_apc_cable_on_a_upc_fixture_is_refused_naming_both() -> None:
    upc = load_station(example_path("station_72.toml"))
    apc_recipe = load_recipe(example_path("recipe_demo.toml"))  # MTP-F-APC at both ends
    with pytest.raises(ConfigError) as refused:
        check_recipe_on_station(apc_recipe, upc)
    assert refused.value.field == "fixture.polish_a"
    assert "APC connectors at end A" in str(refused.value) and "fixture is UPC" in str(refused.value)


def test_upc_and_unstated_cables_are_refused_on_an_apc_fixture() -> None:
    apc = load_station(example_path("station_sm12_apc.toml"))
    check_recipe_on_station(load_recipe(example_path("recipe_demo.toml")), apc)  # APC on APC: fine
    data = tomllib.loads(example_path("recipe_demo.toml").read_text(encoding="utf-8"))
    upc = copy.deepcopy(data)
    upc["cable"]["connector_b"] = "MTP-F-UPC"
    with pytest.raises(ConfigError, match="UPC connectors at end B") as refused:
        check_recipe_on_station(parse_recipe(upc, "upc.toml"), apc)
    assert refused.value.field == "fixture.polish_b"
    unstated = copy.deepcopy(data)
    unstated["cable"]["connector_a"] = "MTP-F"
    with pytest.raises(ConfigError, match="does not say its polish") as refused:
        check_recipe_on_station(parse_recipe(unstated, "plain.toml"), apc)
    assert refused.value.field == "cable.connector_a" and refused.value.fix == 'write the polish, e.g. "MTP-F-APC"'


def test_per_end_polish_for_an_apc_mpo_to_upc_lc_fanout() -> None:
    data = _station_data("station_sm12_apc.toml")
    data["fixture"]["polish_b"] = "UPC"
    station = parse_station(data, "fanout.toml")
    assert station.fixture_polish == ("APC", "UPC")
    recipe = tomllib.loads(example_path("recipe_fanout8_mpo_lc.toml").read_text(encoding="utf-8"))
    recipe["cable"]["connector_a"] = "MPO-M-APC"
    check_recipe_on_station(parse_recipe(recipe, "fo.toml"), station)
    data["fixture"]["polish_b"] = "SPC"
    with pytest.raises(ConfigError, match="unknown polish 'SPC'"):
        parse_station(data, "fanout.toml")


def test_apc_cable_on_the_apc_station_end_to_end(tmp_path) -> None:
    from bench.run.station import open_station
    from sim_instruments.virtual_bench import VirtualBench
    config = load_station(example_path("station_sm12_apc.toml"))
    config, recipe = load_station_and_recipe(config, example_path("recipe_demo.toml"))
    with VirtualBench(config, seed=9) as bench, open_station(config, addresses=bench.addresses) as station, \
            ResultStore(tmp_path / "apc.h5", fsync=False) as store:
        session = referenced_session(station, recipe, store, bench, lot="APC")
        serial = "MTP12-000777"
        bench.load_dut(make_cable(serial, fiber_count=12, polarity=recipe.polarity, seed=7))
        outcome = session.test_cable(serial)
    assert outcome.outcome == "PASS", outcome.record.reason
    stored = load_results(tmp_path / "apc.h5", serial=serial)
    record = stored.cable_record(int(stored.cables["record_index"][0]))
    assert record.extra["cable_setup"]["connector_polish"] == {"a": "APC", "b": "APC"}
    assert dict(CertificateData.from_record(record).test_setup)["Polish"] == "end A APC, end B APC (fixture APC / APC)"
