"""Decision rules at and around the limit: exact boundary, limit ± U, negative IL, no light."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.config.decision_rule import DecisionRule
from bench.config.recipe import parse_recipe
from bench.grading.cable import grade_cable, grade_fiber
from bench.records import worst_verdict

LIMIT = 0.75
U = 0.10
SIMPLE = DecisionRule("simple", U)
GUARDED = DecisionRule("guarded", U)
TINY = 1e-6  # well above the comparison slack, well below a meter's resolution


@pytest.mark.parametrize(
    ("il_db", "expected"),
    [
        (LIMIT - U - TINY, "PASS"),
        (LIMIT - TINY, "PASS"),
        (LIMIT, "PASS"),  # exact boundary: IL <= limit passes
        (LIMIT + TINY, "FAIL"),
        (LIMIT + U, "FAIL"),
        (0.0, "PASS"),
        (-U, "PASS"),  # negative within U is noise
        (-U - TINY, "ERROR"),  # below -U: bad reference
    ],
)
def test_simple_acceptance(il_db, expected):
    assert grade_fiber(SIMPLE, 1, 1550, il_db, LIMIT).verdict == expected


@pytest.mark.parametrize(
    ("il_db", "expected"),
    [
        (LIMIT - U - TINY, "PASS"),
        (LIMIT - U, "PASS"),  # exactly limit - U passes (0.75 - 0.10 in binary floating point)
        (0.65, "PASS"),  # the same boundary as a person types it
        (LIMIT - U + TINY, "CONDITIONAL"),
        (LIMIT, "CONDITIONAL"),
        (LIMIT + U - TINY, "CONDITIONAL"),
        (LIMIT + U, "CONDITIONAL"),  # exactly limit + U is not yet beyond U
        (0.85, "CONDITIONAL"),
        (LIMIT + U + TINY, "FAIL"),
        (-U, "PASS"),
        (-U - TINY, "ERROR"),
    ],
)
def test_guarded_acceptance(il_db, expected):
    assert grade_fiber(GUARDED, 1, 1550, il_db, LIMIT).verdict == expected


def test_guarded_rule_with_a_limit_smaller_than_u_never_passes_a_positive_reading():
    rule = DecisionRule("guarded", 0.2)
    assert grade_fiber(rule, 1, 1310, 0.05, 0.15).verdict == "CONDITIONAL"
    assert grade_fiber(rule, 1, 1310, -0.05, 0.15).verdict == "PASS"


def test_simple_rule_with_zero_uncertainty_takes_any_negative_reading_as_bad_reference():
    rule = DecisionRule("simple", 0.0)
    assert grade_fiber(rule, 1, 1310, 0.0, LIMIT).verdict == "PASS"
    assert grade_fiber(rule, 1, 1310, -0.001, LIMIT).verdict == "ERROR"


def test_no_light_is_an_open_fiber_fail():
    verdict = grade_fiber(GUARDED, 5, 1310, math.nan, LIMIT)
    assert verdict.verdict == "FAIL"
    assert verdict.reason == "fiber 5 at 1310 nm: no light (open fiber)"
    assert math.isnan(verdict.insertion_loss_db) and math.isnan(verdict.margin_db)
    assert grade_fiber(GUARDED, 5, 1310, math.inf, LIMIT).verdict == "FAIL"


def test_reasons_name_fiber_wavelength_measured_limit_and_margin():
    assert grade_fiber(SIMPLE, 7, 1550, 0.912, LIMIT).reason == (
        "fiber 7 at 1550 nm: 0.912 dB > limit 0.750 dB (margin -0.162 dB)"
    )
    conditional = grade_fiber(GUARDED, 3, 1310, 0.70, LIMIT)
    assert conditional.reason.startswith("fiber 3 at 1310 nm: 0.700 dB within U = 0.100 dB of limit 0.750 dB")
    assert "margin +0.050 dB" in conditional.reason
    bad = grade_fiber(GUARDED, 2, 1310, -0.3, LIMIT)
    assert "bad reference" in bad.reason and "set the reference again" in bad.reason
    noise = grade_fiber(GUARDED, 2, 1310, -0.04, LIMIT)
    assert "noise" in noise.reason
    assert noise.insertion_loss_db == -0.04  # raw signed IL is kept


def test_margin_is_limit_minus_il():
    verdict = grade_fiber(GUARDED, 1, 1310, 0.30, LIMIT)
    assert verdict.margin_db == pytest.approx(0.45)
    assert verdict.limit_db == LIMIT


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        (["PASS", "PASS"], "PASS"),
        (["PASS", "CONDITIONAL"], "CONDITIONAL"),
        (["CONDITIONAL", "FAIL", "PASS"], "FAIL"),
        (["FAIL", "ERROR", "CONDITIONAL"], "ERROR"),
        ([], "PASS"),
    ],
)
def test_cable_verdict_precedence(verdicts, expected):
    assert worst_verdict(verdicts) == expected


# ---------------------------------------------------------------- whole cables


def _il(demo_recipe, value=0.30):
    return np.full((len(demo_recipe.wavelengths_nm), demo_recipe.fiber_count), value)


def test_grade_cable_pass_has_a_summary_reason_and_wavelength_major_fibers(demo_recipe):
    verdict = grade_cable(demo_recipe, _il(demo_recipe), [1310, 1550])
    assert verdict.verdict == "PASS"
    assert verdict.failing_fibers == []
    assert len(verdict.reasons) == 1 and "all 24 readings within limits" in verdict.reasons[0]
    assert [(f.wavelength_nm, f.fiber_position) for f in verdict.fibers][:13] == [
        *[(1310.0, p) for p in range(1, 13)],
        (1550.0, 1),
    ]
    assert verdict.rule == demo_recipe.decision_rule


def test_grade_cable_fail_lists_failing_fibers_and_reasons(demo_recipe):
    il = _il(demo_recipe)
    il[1, 6] = 0.912
    il[0, 3] = np.nan
    verdict = grade_cable(demo_recipe, il, [1310, 1550])
    assert verdict.verdict == "FAIL"
    assert verdict.failing_fibers == [4, 7]
    assert verdict.reasons == [
        "fiber 4 at 1310 nm: no light (open fiber)",
        "fiber 7 at 1550 nm: 0.912 dB > limit 0.750 dB (margin -0.162 dB)",
    ]


def test_grade_cable_bad_reference_is_error_even_with_failing_fibers(demo_recipe):
    il = _il(demo_recipe)
    il[0, 0] = 2.0
    il[1, 11] = -0.5
    verdict = grade_cable(demo_recipe, il, [1310, 1550])
    assert verdict.verdict == "ERROR"
    assert any("fiber 12 at 1550 nm: bad reference" in r for r in verdict.reasons)


def test_grade_cable_uses_given_rule_over_recipe_rule(demo_recipe):
    il = _il(demo_recipe)
    il[0, 0] = 0.70
    assert grade_cable(demo_recipe, il, [1310, 1550]).verdict == "PASS"
    assert grade_cable(demo_recipe, il, [1310, 1550], rule=GUARDED).verdict == "CONDITIONAL"


def test_unmeasured_recipe_wavelength_makes_the_cable_an_error(demo_recipe):
    verdict = grade_cable(demo_recipe, _il(demo_recipe)[:1], [1310])
    assert verdict.verdict == "ERROR"
    assert verdict.reasons == ["1550 nm required by recipe 'MTP12-SM-B-TRUNK-DEMO' was not measured"]


def test_grade_cable_refuses_wrong_shapes_and_unknown_wavelengths(demo_recipe):
    with pytest.raises(ValueError, match="shape"):
        grade_cable(demo_recipe, np.zeros((2, 8)), [1310, 1550])
    with pytest.raises(ValueError, match="1625 nm"):
        grade_cable(demo_recipe, _il(demo_recipe), [1310, 1625])


def _mean_recipe(kind: str):
    return parse_recipe(
        {
            "recipe": {"name": "M", "product": "mean-limited trunk"},
            "cable": {
                "fiber_count": 12,
                "polarity": "A",
                "fiber_type": "SM",
                "connector_a": "MTP-F",
                "connector_b": "MTP-M",
                "cable_type": "trunk",
                "length_m": 5.0,
            },
            "test": {"wavelengths_nm": [1310]},
            "limits": {"max_il_db": 0.75, "max_mean_il_db": 0.35},
            "decision_rule": {"kind": kind, "uncertainty_db": 0.05},
        }
    )


@pytest.mark.parametrize(
    ("kind", "mean_db", "expected"),
    [
        ("simple", 0.35, "PASS"),
        ("simple", 0.36, "FAIL"),
        ("guarded", 0.30, "PASS"),
        ("guarded", 0.35, "CONDITIONAL"),
        ("guarded", 0.40, "CONDITIONAL"),
        ("guarded", 0.41, "FAIL"),
    ],
)
def test_cable_mean_limit_is_judged_with_the_rule_and_its_own_reason(kind, mean_db, expected):
    recipe = _mean_recipe(kind)
    # every fiber individually passes; only the mean can decide
    il = np.full((1, 12), mean_db)
    verdict = grade_cable(recipe, il, [1310])
    assert verdict.verdict == expected
    assert verdict.mean_il_db[1310.0] == pytest.approx(mean_db)
    if expected != "PASS":
        assert verdict.reasons[-1].startswith("cable mean at 1310 nm: ")
        assert "mean limit 0.350 dB" in verdict.reasons[-1]
    assert verdict.failing_fibers == []


def test_length_override_moves_the_limit():
    from pathlib import Path

    from bench.config.recipe import load_recipe
    from bench.config.station import load_station
    from bench.grading.uncertainty import with_budget

    examples = Path(__file__).resolve().parents[2] / "bench" / "examples"
    recipe = with_budget(load_station(examples / "station_mm24.toml"), load_recipe(examples / "recipe_mm24_trunk.toml"))
    u_db = recipe.decision_rule.uncertainty_db
    il = np.full((2, 24), 0.2)
    il[0, 0] = recipe.max_il_db(850, 100.0) - u_db / 2  # within U of the 100 m limit, beyond the 30 m one + U
    assert il[0, 0] > recipe.max_il_db(850) + u_db
    assert grade_cable(recipe, il, [850, 1300]).verdict == "FAIL"
    assert grade_cable(recipe, il, [850, 1300], length_m=100.0).fibers[0].verdict == "CONDITIONAL"


def test_cable_verdict_serialises(demo_recipe):
    import json

    il = _il(demo_recipe)
    il[0, 0] = np.nan
    data = json.loads(json.dumps(grade_cable(demo_recipe, il, [1310, 1550]).as_dict()))
    assert data["verdict"] == "FAIL" and data["fibers"][0]["insertion_loss_db"] is None


@pytest.mark.parametrize("rule", [SIMPLE, GUARDED], ids=["simple", "guarded"])
@pytest.mark.parametrize("il_db", [-12.345, -0.05, 0.70, 0.80, 12.345, math.nan])
def test_fiber_reasons_fit_the_stores_128_byte_field(rule, il_db):
    reason = grade_fiber(rule, 32, 1625.5, il_db, 10.125).reason
    assert len(reason.encode("utf-8")) <= 128


def test_untrustworthy_readings_do_not_condemn_the_reference(demo_recipe):
    """A cable whose readings never settled is an ERROR on its own; its (noise) losses below -U
    must not flag the reference, which would refuse every later cable until a re-reference.
    Seen: an unsettled-reading fault left the next cable refused ("bad reference ... -0.100 dB")."""
    from bench.run.reference_health import ReferenceHealth

    il = _il(demo_recipe)
    il[1, 9] = -0.5
    verdict = grade_cable(demo_recipe, il, [1310, 1550])
    health = ReferenceHealth(None)
    health.cable_tested(verdict, readings_trustworthy=False)
    assert health.problem() is None and health.tests_since_check == 1
    health.cable_tested(verdict)
    assert "bad reference: fiber 10 at 1550 nm" in health.problem() and health.tests_since_check == 2
