"""Property-based tests: grading is monotonic in IL and does not depend on fiber order."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.config.recipe import parse_recipe
from bench.grading.cable import grade_cable
from bench.records import VERDICTS

SEVERITY = {name: rank for rank, name in enumerate(VERDICTS)}
U_DB = 0.10


def _recipe(kind: str, fiber_count: int, with_mean: bool):
    limits = {"max_il_db": {"1310": 0.75, "1550": 0.60}}
    if with_mean:
        limits["max_mean_il_db"] = 0.40
    return parse_recipe(
        {
            "recipe": {"name": "P", "product": "property trunk"},
            "cable": {
                "fiber_count": fiber_count,
                "polarity": "A",
                "fiber_type": "SM",
                "connector_a": "MTP-F",
                "connector_b": "MTP-M",
                "cable_type": "trunk",
                "length_m": 10.0,
            },
            "test": {"wavelengths_nm": [1310, 1550]},
            "limits": limits,
            "decision_rule": {"kind": kind, "uncertainty_db": U_DB},
        }
    )


RECIPES = {
    (kind, n, mean): _recipe(kind, n, mean) for kind in ("simple", "guarded") for n in (8, 12) for mean in (False, True)
}

# Readings in the physically meaningful domain: from -U (noise floor of a good
# reference) upwards, with NaN (no light) as the largest possible loss. Below
# -U a reading is an ERROR by design (bad reference), and raising it out of
# that region *is* meant to change the verdict, so it is tested separately.
# A coarse grid makes exact hits on limit and limit ± U likely.
reading = st.one_of(
    st.floats(min_value=-U_DB, max_value=2.0, allow_nan=False),
    st.sampled_from([-U_DB, 0.0, 0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.85, 0.86]),
    st.just(float("nan")),
)


@st.composite
def cable_case(draw):
    key = draw(st.sampled_from(sorted(RECIPES)))
    recipe = RECIPES[key]
    values = draw(st.lists(reading, min_size=2 * recipe.fiber_count, max_size=2 * recipe.fiber_count))
    return recipe, np.array(values).reshape(2, recipe.fiber_count)


def _raise(il: float, step_db: float, to_dark: bool) -> float:
    if to_dark or np.isnan(il):
        return float("nan")  # no light: the loss became too large to measure
    return il + step_db


@settings(max_examples=300, deadline=None)
@given(cable_case(), st.data())
def test_raising_any_fibers_il_never_improves_any_verdict(case, data):
    recipe, il = case
    row = data.draw(st.integers(0, 1))
    col = data.draw(st.integers(0, recipe.fiber_count - 1))
    step_db = data.draw(st.floats(min_value=0.0, max_value=1.0))
    to_dark = data.draw(st.booleans())
    worse = il.copy()
    worse[row, col] = _raise(il[row, col], step_db, to_dark)

    before = grade_cable(recipe, il, [1310, 1550])
    after = grade_cable(recipe, worse, [1310, 1550])
    assert SEVERITY[after.verdict] >= SEVERITY[before.verdict]
    for old, new in zip(before.fibers, after.fibers, strict=True):
        assert SEVERITY[new.verdict] >= SEVERITY[old.verdict]


@settings(max_examples=300, deadline=None)
@given(cable_case(), st.randoms(use_true_random=False))
def test_fiber_order_does_not_change_the_verdicts(case, rnd):
    recipe, il = case
    order = list(range(recipe.fiber_count))
    rnd.shuffle(order)
    positions = recipe.fiber_positions
    shuffled_positions = [positions[i] for i in order]

    original = grade_cable(recipe, il, [1310, 1550])
    shuffled = grade_cable(recipe, il[:, order], [1310, 1550], fiber_positions=shuffled_positions)

    assert shuffled.verdict == original.verdict
    assert shuffled.failing_fibers == original.failing_fibers

    def as_multiset(verdict):
        return Counter((f.fiber_position, f.wavelength_nm, f.verdict, f.reason) for f in verdict.fibers)

    assert as_multiset(shuffled) == as_multiset(original)
    assert Counter(shuffled.reasons) == Counter(original.reasons)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=-5.0, max_value=-U_DB - 1e-6), st.sampled_from(["simple", "guarded"]))
def test_a_reading_below_minus_u_is_an_error_never_a_pass(il_db, kind):
    recipe = RECIPES[(kind, 12, True)]
    il = np.full((2, 12), 0.2)
    il[1, 5] = il_db
    verdict = grade_cable(recipe, il, [1310, 1550])
    assert verdict.verdict == "ERROR"
    assert verdict.fibers[12 + 5].verdict == "ERROR"
    assert verdict.fibers[12 + 5].insertion_loss_db == il_db
