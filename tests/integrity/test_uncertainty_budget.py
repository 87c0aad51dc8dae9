"""The uncertainty budget on the virtual bench: the session grades with the budget's U, every
record stores the budget, the certificate prints it, and `bench uncertainty` prints the table,
its JSON, and a stored repeatability study's pooled σ as a line to paste."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pypdf
import pytest

from bench.cli.main import main
from bench.config.recipe import load_recipe, parse_recipe
from bench.config.station import StationConfig, load_station
from bench.grading.uncertainty import UncertaintyBudget
from bench.operator.line import load_station_and_recipe
from bench.report.certificate import CertificateData
from bench.report.certificate_pdf import render_certificate
from bench.run.golden import verify_golden
from bench.run.session import TestSession
from bench.run.station import Station, open_station
from bench.run.studies import repeatability_study
from bench.sim_launch import example_path
from bench.store import ResultStore, load_results
from procedures.repeatability import RepeatabilitySettings
from sim_instruments.physics import make_cable, with_mating_behaviour
from sim_instruments.virtual_bench import VirtualBench
from tests.e2e.conftest import GOLDEN, SimOperator, make_recipe

STATION = str(example_path("station_demo.toml"))
RECIPE = example_path("recipe_demo.toml")


def demo_budget_by_hand() -> float:
    """U of the demo station + demo recipe from the numbers in their files, without bench code."""
    station = tomllib.loads(Path(STATION).read_text(encoding="utf-8"))["uncertainty"]
    recipe = tomllib.loads(RECIPE.read_text(encoding="utf-8"))
    connector = recipe["decision_rule"]["budget"]["connector_repeatability"]
    divisor = {"normal": 1.0, "rectangular": math.sqrt(3)}
    terms = [station[name]["value_db"] / divisor[station[name]["distribution"]] for name in
             ("source_stability", "meter_linearity")]
    terms.append(math.sqrt(2) * station["meter_noise"]["value_db"])  # two readings
    terms.append(math.sqrt(recipe["limits"].get("connections", 2)) * connector["value_db"])
    return recipe["decision_rule"]["coverage_factor"] * math.sqrt(sum(t * t for t in terms))


def guarded_demo_recipe(*, uncertainty_db: float | None = None):
    data = copy.deepcopy(tomllib.loads(RECIPE.read_text(encoding="utf-8")))
    data["decision_rule"]["kind"] = "guarded"
    if uncertainty_db is not None:  # the declared form: no budget in the recipe
        del data["decision_rule"]["budget"]
        data["decision_rule"]["uncertainty_db"] = uncertainty_db
    return parse_recipe(data, "guarded.toml")


def near_limit_cable(serial: str, il_db: float):
    cable = make_cable(serial, seed=4)
    for wavelength in cable.insertion_loss_db:
        cable.insertion_loss_db[wavelength][4] = il_db  # fiber 5
    return cable


def run_study(station: Station, bench: VirtualBench, store_path: Path, serial: str, *, matings: int):
    """A repeatability study of a simulated cable with 0.02 dB mating variation, stored in `store_path`."""
    cable = with_mating_behaviour(make_cable(serial, seed=3), sigma_db=0.02, seed=5)
    with ResultStore(store_path) as store:
        session = TestSession(station, load_recipe(RECIPE), store, operator="gauge", lot="GAUGE")
        bench.load_dut(None)
        session.take_reference()
        return repeatability_study(session, cable.serial, SimOperator(bench, {cable.serial: cable}),
                                   RepeatabilitySettings(matings=matings))


def test_the_demo_budget_gives_the_u_computed_by_hand() -> None:
    _, recipe = load_station_and_recipe(STATION, RECIPE)
    assert recipe.decision_rule.uncertainty_db == pytest.approx(demo_budget_by_hand(), rel=1e-12)


def test_a_session_grades_with_the_budget_and_stores_it_with_the_verdict(
        station: Station, virtual_bench: VirtualBench, store_path: Path,
        demo_station_config: StationConfig) -> None:
    u_budget = demo_budget_by_hand()
    # 0.75 - 0.07 dB: CONDITIONAL with the 0.10 dB the recipe used to type, PASS with the budget's ~0.05 dB.
    il_db = 0.68
    assert 0.75 - 0.10 < il_db < 0.75 - u_budget
    cable = near_limit_cable("MTP12-000005", il_db)
    with ResultStore(store_path) as store:
        session = TestSession(station, guarded_demo_recipe(), store, operator="u", lot="U-1")
        assert session.recipe.decision_rule.uncertainty_db == pytest.approx(u_budget)
        virtual_bench.load_dut(None)
        session.take_reference()
        virtual_bench.load_dut(cable)
        outcome = session.test_cable(cable.serial)
    assert outcome.outcome == "PASS"
    fiber5 = [f for f in outcome.verdict.fibers if f.fiber_position == 5]
    assert all(f.verdict == "PASS" and 0.06 < f.margin_db < 0.08 for f in fiber5)

    stored = load_results(store_path)
    index = outcome.record_index
    assert float(stored.cables["uncertainty_db"][stored.cables["record_index"] == index][0]) == pytest.approx(u_budget)
    budget = UncertaintyBudget.from_dict(stored.extra(index)["uncertainty_budget"])
    assert budget.expanded_uncertainty_db == pytest.approx(u_budget)
    assert [c.name for c in budget.contributions] == [
        "source_stability", "meter_linearity", "meter_noise", "connector_repeatability"]

    text = " ".join(" ".join(page.extract_text().split()) for page in pypdf.PdfReader(
        _pdf(CertificateData.from_record(stored.cable_record(index), record_index=index), store_path.parent)).pages)
    assert f"U = {u_budget:.3f} dB expanded, k = 2" in text
    for expected in ("uncertainty budget below (GUM, JCGM 100:2008)", "Contribution Value Distribution",
                     "source stability",
                     "0.0300 dB rectangular (÷√3) 0.0173 dB", "meter noise 0.0030 dB normal 0.0030 dB × 1.41",
                     "connector repeatability", "bench repeatability study"):
        assert expected in text, expected


def test_the_declared_u_still_grades_and_says_so(tmp_path: Path, virtual_bench: VirtualBench, store_path: Path,
                                                  demo_station_config: StationConfig) -> None:
    # The same cable on the same bench, with the station's budget removed and U typed in the recipe.
    config = dataclasses.replace(demo_station_config, uncertainty=None)
    cable = near_limit_cable("MTP12-000006", 0.68)
    with open_station(config, addresses=virtual_bench.addresses) as opened, ResultStore(store_path) as store:
        session = TestSession(opened, guarded_demo_recipe(uncertainty_db=0.10), store, operator="u", lot="U-2")
        virtual_bench.load_dut(None)
        session.take_reference()
        virtual_bench.load_dut(cable)
        outcome = session.test_cable(cable.serial)
    assert outcome.outcome == "CONDITIONAL"
    stored = load_results(store_path)
    assert stored.extra(outcome.record_index)["uncertainty_budget"] == {
        "declared_u_db": 0.10, "contributions": [], "coverage_factor": 2.0,
        "note": "U declared in the recipe, no uncertainty budget"}
    data = CertificateData.from_record(stored.cable_record(outcome.record_index))
    text = " ".join(" ".join(p.extract_text().split()) for p in pypdf.PdfReader(_pdf(data, tmp_path)).pages)
    assert "U = 0.100 dB expanded, k = 2; U declared in the recipe, no uncertainty budget" in text
    assert "Contribution Value Distribution" not in text and "budget below" not in text


def test_a_typed_u_beside_the_stations_budget_is_refused_before_any_instrument(tmp_path: Path) -> None:
    text = RECIPE.read_text(encoding="utf-8").replace("coverage_factor = 2.0", "coverage_factor = 2.0\n"
                                                       "uncertainty_db = 0.10", 1)
    recipe = tmp_path / "typed.toml"
    recipe.write_text(text, encoding="utf-8")
    with pytest.raises(Exception) as refused:
        load_station_and_recipe(STATION, recipe)
    assert "field 'decision_rule.uncertainty_db'" in str(refused.value)
    assert str(recipe) in str(refused.value)
    assert f"remove it: the budget gives U = {demo_budget_by_hand():.4f} dB" in str(refused.value)


def test_bench_uncertainty_prints_the_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["uncertainty", "--station", STATION, "--recipe", str(RECIPE)]) == 0
    out = capsys.readouterr().out
    u_db = demo_budget_by_hand()
    for expected in ("source_stability", "meter_linearity", "meter_noise", "connector_repeatability",
                     "rectangular", f"expanded uncertainty U = k·u_c = 2 × {u_db / 2:.4f} = {u_db:.4f} dB"):
        assert expected in out, expected
    assert main(["uncertainty", "--station", STATION, "--recipe", str(RECIPE), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["uncertainty_db"] == pytest.approx(u_db)
    assert data["budget"]["expanded_uncertainty_db"] == pytest.approx(u_db)
    assert [row["name"] for row in data["budget"]["contributions"]][-1] == "connector_repeatability"


def test_bench_uncertainty_refuses_half_a_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["uncertainty", "--station", STATION]) == 2
    assert "--recipe" in capsys.readouterr().err
    assert main(["uncertainty", "--study", "abc"]) == 2
    assert "--store" in capsys.readouterr().err


def test_a_repeatability_study_becomes_the_pooled_sigma_to_paste(
        station: Station, virtual_bench: VirtualBench, store_path: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    study = run_study(station, virtual_bench, store_path, "MTP12-900001", matings=5)
    sigma = study.result.sigma_db
    pooled = float(np.sqrt(np.mean(sigma[np.isfinite(sigma)] ** 2)))
    assert main(["uncertainty", "--store", str(store_path), "--study", study.study_id, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["pooled_sigma_db"] == pytest.approx(pooled) and data["matings"] == 5
    assert data["value_db"] == pytest.approx(pooled / math.sqrt(2))  # per connection, 1-cord: two in a reading
    assert data["readings"] == 5 * 24
    assert main(["uncertainty", "--store", str(store_path), "--study", study.study_id,
                 "--as", "reference_repeatability"]) == 0
    out = capsys.readouterr().out
    assert "RMS over fibers and wavelengths" in out
    line = out.strip().splitlines()[-1]
    assert line.startswith("reference_repeatability = {") and f"bench repeatability study {study.study_id}" in line
    assert tomllib.loads(line)["reference_repeatability"]["value_db"] == pytest.approx(pooled, abs=5e-5)

    # The line pasted into the recipe is a valid budget entry and gives U with it.
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(RECIPE.read_text(encoding="utf-8").split("[decision_rule.budget]")[0]
                      + "[decision_rule.budget]\n" + data["toml"] + "\n", encoding="utf-8")
    _, graded = load_station_and_recipe(STATION, recipe)
    row = graded.decision_rule.budget.rows()[-1]
    assert row["name"] == "connector_repeatability" and row["value_db"] == pytest.approx(data["value_db"], abs=5e-5)
    assert main(["uncertainty", "--store", str(store_path), "--study", "no-such-study"]) == 2
    assert "no repeatability study 'no-such-study'" in capsys.readouterr().err


def test_study_records_carry_the_budget(station: Station, virtual_bench: VirtualBench, store_path: Path) -> None:
    study = run_study(station, virtual_bench, store_path, "MTP12-900002", matings=2)
    stored = load_results(store_path)
    for index in (*study.mating_records, study.summary_record):
        budget = stored.extra(index)["uncertainty_budget"]
        assert budget["expanded_uncertainty_db"] == pytest.approx(demo_budget_by_hand())


def _pdf(data: CertificateData, folder: Path) -> Path:
    path = folder / f"certificate-{data.serial}.pdf"
    path.write_bytes(render_certificate(data))
    return path


def test_golden_check_records_carry_the_budget(tmp_path: Path) -> None:
    config = load_station(example_path("station_32.toml"))
    store_path = tmp_path / "golden.h5"
    with VirtualBench(config, seed=5) as bench, open_station(config, addresses=bench.addresses) as opened, \
            ResultStore(store_path) as store:
        session = TestSession(opened, make_recipe(12, "B"), store, operator="g", lot="G")
        bench.load_dut(None)
        session.take_reference()
        verify_golden(session, SimOperator(bench, {GOLDEN.serial: GOLDEN}), accept_baseline=True)
        u_db = session.recipe.decision_rule.uncertainty_db
    stored = load_results(store_path)
    golden = [int(i) for i, kind in zip(stored.cables["record_index"], stored.cables["kind"], strict=True)
              if "golden" in str(kind)]
    assert golden
    for index in golden:
        assert stored.extra(index)["uncertainty_budget"]["expanded_uncertainty_db"] == pytest.approx(u_db)
        assert float(stored.cables["uncertainty_db"][index]) == pytest.approx(u_db)
