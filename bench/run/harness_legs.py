"""Per-leg results of a harness: each connector at either end, with the verdict of its fibers."""

from __future__ import annotations

import math
from typing import Any

from bench.config.harness import HarnessPlan
from bench.config.recipe import Recipe
from bench.grading.cable import CableVerdict
from procedures.polarity import PolarityResult

_WORST_FIRST = ("ERROR", "FAIL", "CONDITIONAL", "PASS")


def _miswired(polarity: PolarityResult | None) -> set[int]:
    if polarity is None:
        return set()
    return ({a for pair in polarity.crossed_pairs for a in pair} | {a for a, _ in polarity.misrouted}
            | set(polarity.dark_positions) | set(polarity.low_isolation_positions))


def leg_results(recipe: Recipe, plan: HarnessPlan | None, verdict: CableVerdict | None,
                polarity: PolarityResult | None = None) -> dict[str, Any]:
    """{"legs": [...]} for a harness record's cable_setup, or {} for a one-connector-per-end cable.

    A leg FAILs when any of its fibers fails on loss or is miswired, dark or leaking.
    """
    if recipe.harness is None or plan is None:
        return {}
    miswired = _miswired(polarity)
    by_fiber: dict[int, list[Any]] = {}
    for fiber in verdict.fibers if verdict is not None else ():
        by_fiber.setdefault(fiber.fiber_position, []).append(fiber)
    legs = []
    for end, connector, numbers in recipe.harness.legs():
        rows = [row for number in numbers for row in by_fiber.get(number, [])]
        verdicts = {row.verdict for row in rows} | ({"FAIL"} if miswired & set(numbers) else set())
        finite = [row.insertion_loss_db for row in rows if math.isfinite(row.insertion_loss_db)]
        legs.append({"end": end, "label": connector.label, "connector": connector.connector,
                     "port": plan.port_of(connector.label).label, "fibers": list(numbers),
                     "verdict": next((v for v in _WORST_FIRST if v in verdicts), "") if rows else "",
                     "worst_il_db": round(max(finite), 4) if finite else None,
                     "failing_fibers": sorted({row.fiber_position for row in rows if row.verdict != "PASS"}),
                     "miswired_fibers": sorted(miswired & set(numbers))})
    return {"legs": legs}
