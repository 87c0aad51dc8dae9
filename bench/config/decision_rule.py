"""A recipe's decision rule: how one reading is compared with its upper limit.

It lives with the configuration because a recipe file declares it and is validated against it;
grading (one floor up) applies it to every fiber and cable mean.

* simple:  PASS if IL <= limit, else FAIL.
* guarded: PASS if IL <= limit - U, FAIL if IL > limit + U, otherwise CONDITIONAL
  (the reading is too close to the limit to decide either way; ISO 14253-1 / ILAC-G8, k = 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from bench.records import Outcome

DECISION_RULE_KINDS = ("simple", "guarded")

# Comparisons allow this slack so that a reading of 0.65 dB against
# 0.75 - 0.10 dB lands where a person expects despite binary floating point.
# It is far below any meter's resolution (0.001 dB), so it never decides a cable.
COMPARISON_SLACK_DB = 1e-9


class Budget(Protocol):
    """What a rule needs of the uncertainty budget its U came from (bench.grading.uncertainty)."""

    @property
    def expanded_uncertainty_db(self) -> float: ...

    def as_dict(self) -> dict[str, Any]: ...


class UncertaintyPending(ValueError):
    """U comes from an uncertainty budget that has not met its station yet."""


@dataclass(frozen=True)
class DecisionRule:
    """How a reading is compared with its limit; stored with every verdict.

    `uncertainty_db` is the expanded uncertainty U (= k·u) of an IL reading.
    The simple rule ignores U for acceptance but still uses it to tell noise
    (-U <= IL < 0) from a bad reference (IL < -U).

    `uncertainty_db` is None for a recipe whose U comes from an uncertainty budget, until
    the recipe meets its station (`bench.grading.uncertainty.with_budget`, which every
    session and `load_station_and_recipe` apply); `budget` is then the budget U came from.
    """

    kind: str
    uncertainty_db: float | None
    coverage_factor: float = 2.0
    budget: Budget | None = None

    def __post_init__(self) -> None:
        if self.kind not in DECISION_RULE_KINDS:
            raise ValueError(f"decision rule kind {self.kind!r} is not one of {DECISION_RULE_KINDS}")
        if self.uncertainty_db is not None and not (math.isfinite(self.uncertainty_db) and self.uncertainty_db >= 0):
            raise ValueError(f"expanded uncertainty U = {self.uncertainty_db!r} dB must be finite and >= 0")
        if not (math.isfinite(self.coverage_factor) and self.coverage_factor > 0):
            raise ValueError(f"coverage factor k = {self.coverage_factor!r} must be positive")
        if self.budget is not None and (self.uncertainty_db is None or abs(
                self.budget.expanded_uncertainty_db - self.uncertainty_db) > COMPARISON_SLACK_DB):
            raise ValueError(f"U = {self.uncertainty_db!r} dB is not the budget's "
                             f"{self.budget.expanded_uncertainty_db!r} dB")

    @property
    def expanded_u_db(self) -> float:
        """U, or UncertaintyPending while the budget has not met its station."""
        if self.uncertainty_db is None:
            raise UncertaintyPending("U comes from the uncertainty budget, which needs the station: load the "
                                     "recipe with its station (bench.operator.line.load_station_and_recipe) or "
                                     "apply bench.grading.uncertainty.with_budget")
        return self.uncertainty_db

    @property
    def standard_uncertainty_db(self) -> float:
        """u = U / k."""
        return self.expanded_u_db / self.coverage_factor

    def describe(self) -> str:
        name = "simple acceptance" if self.kind == "simple" else "guarded acceptance"
        if self.uncertainty_db is None:
            return f"{name} (U from the uncertainty budget, k = {self.coverage_factor:g})"
        return f"{name} (U = {self.uncertainty_db:.3f} dB, k = {self.coverage_factor:g})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "uncertainty_db": self.uncertainty_db,
            "coverage_factor": self.coverage_factor,
        }

    def judge(self, value_db: float, limit_db: float) -> Outcome:
        """PASS / CONDITIONAL / FAIL of a finite reading (or mean) against an upper limit."""
        margin_db = limit_db - value_db
        if self.kind == "simple":
            return Outcome.PASS if margin_db >= -COMPARISON_SLACK_DB else Outcome.FAIL
        u_db = self.expanded_u_db
        if margin_db >= u_db - COMPARISON_SLACK_DB:
            return Outcome.PASS
        if -margin_db > u_db + COMPARISON_SLACK_DB:
            return Outcome.FAIL
        return Outcome.CONDITIONAL

    def is_bad_reference(self, insertion_loss_db: float) -> bool:
        """A loss more negative than -U cannot be noise: the reference was set wrong."""
        return insertion_loss_db < -self.expanded_u_db - COMPARISON_SLACK_DB
