"""Grading: recipe limits + a decision rule -> verdict per fiber, wavelength and cable.

Decision rules (ISO 14253-1 / ILAC-G8 style; U is the expanded uncertainty, k = 2):

* simple:  PASS if IL <= limit, else FAIL.
* guarded: PASS if IL <= limit - U, FAIL if IL > limit + U, otherwise CONDITIONAL
  (the reading is too close to the limit to decide either way).

Negative insertion loss is measured, stored signed and judged before the rule:
-U <= IL < 0 is noise and is graded like any other reading (it can pass);
IL < -U means the reference was wrong, so the reading is an ERROR, never a PASS.
A missing reading (NaN: no light, below the meter floor) is a FAIL, open fiber, unless
the polarity check saw that fiber's light arrive at another end-B position: then it is a
FAIL, misrouted, naming where the light went.

Cable verdict precedence: ERROR > FAIL > CONDITIONAL > PASS. A cable-mean
limit, when the recipe sets one, is judged with the same rule and reported with
its own reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bench.config.decision_rule import DecisionRule
from bench.config.recipe import WAVELENGTH_TOLERANCE_NM, Recipe
from bench.errors import ConfigError
from bench.records import Cause, CauseCode, Outcome, worst_verdict

NO_LIGHT_REASON = "no light (open fiber)"


@dataclass(frozen=True)
class FiberVerdict:
    """One fiber at one wavelength. margin_db = limit_db - insertion_loss_db (positive is good)."""

    fiber_position: int
    wavelength_nm: float
    insertion_loss_db: float
    limit_db: float
    margin_db: float
    verdict: Outcome
    reason: str
    cause: CauseCode | None = None  # None for a PASS


@dataclass(frozen=True)
class CableVerdict:
    """The verdict of one cable, with its causes (none for a PASS) and the rule that produced it."""

    verdict: Outcome
    causes: list[Cause]
    fibers: list[FiberVerdict]
    rule: DecisionRule
    mean_il_db: dict[float, float] = field(default_factory=dict)
    mean_limit_db: dict[float, float | None] = field(default_factory=dict)
    summary: str = ""  # a PASS's one line (smallest margin), shown where a failure shows its causes

    @property
    def reasons(self) -> list[str]:
        """One sentence per cause, or the PASS summary."""
        return [c.detail for c in self.causes] if self.causes else [self.summary]

    @property
    def failing_fibers(self) -> list[int]:
        """Sorted fiber positions with any wavelength not PASS."""
        return sorted({f.fiber_position for f in self.fibers if f.verdict != Outcome.PASS})

    @property
    def reason(self) -> str:
        """All reasons in one line, for a record's `reason` field."""
        return "; ".join(self.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "causes": [c.as_dict() for c in self.causes],
            "rule": self.rule.as_dict(),
            "mean_il_db": {f"{wl:g}": v for wl, v in self.mean_il_db.items()},
            "mean_limit_db": {f"{wl:g}": v for wl, v in self.mean_limit_db.items()},
            "fibers": [
                {
                    "fiber_position": f.fiber_position,
                    "wavelength_nm": f.wavelength_nm,
                    "insertion_loss_db": None if math.isnan(f.insertion_loss_db) else f.insertion_loss_db,
                    "limit_db": f.limit_db,
                    "margin_db": None if math.isnan(f.margin_db) else f.margin_db,
                    "verdict": f.verdict,
                    "reason": f.reason,
                }
                for f in self.fibers
            ],
        }


def grade_fiber(
    rule: DecisionRule, fiber_position: int, wavelength_nm: float, insertion_loss_db: float, limit_db: float
) -> FiberVerdict:
    """Judge one reading; the reason names fiber, wavelength, measured vs limit and margin."""
    where = f"fiber {fiber_position} at {wavelength_nm:g} nm"
    il = float(insertion_loss_db)
    if math.isnan(il) or il == math.inf:
        return FiberVerdict(fiber_position, wavelength_nm, math.nan, limit_db, math.nan, Outcome.FAIL,
                            f"{where}: {NO_LIGHT_REASON}", CauseCode.NO_LIGHT)
    margin = limit_db - il
    numbers = f"{il:.3f} dB {{}} limit {limit_db:.3f} dB (margin {margin:+.3f} dB)"
    if rule.is_bad_reference(il):
        return FiberVerdict(
            fiber_position,
            wavelength_nm,
            il,
            limit_db,
            margin,
            Outcome.ERROR,
            f"{where}: bad reference: IL {il:.3f} dB is below -U = {-rule.expanded_u_db:.3f} dB; "
            "set the reference again and retest",
            CauseCode.BAD_REFERENCE,
        )
    verdict = rule.judge(il, limit_db)
    cause = None
    if verdict == Outcome.PASS:
        text = numbers.format("<=")
        if il < 0:
            text += f", negative IL within U = {rule.expanded_u_db:.3f} dB is noise"
    elif verdict == Outcome.FAIL:
        text, cause = numbers.format(">"), CauseCode.FIBER_OVER_LIMIT
        if rule.kind == "guarded":
            text += f", beyond U = {rule.expanded_u_db:.3f} dB"
    else:
        text, cause = numbers.format(f"within U = {rule.expanded_u_db:.3f} dB of"), CauseCode.FIBER_NEAR_LIMIT
        text += ", too close to call (guarded)"
    return FiberVerdict(fiber_position, wavelength_nm, il, limit_db, margin, verdict, f"{where}: {text}", cause)


def _match_wavelength(recipe: Recipe, wavelength_nm: float) -> float | None:
    for wl in recipe.wavelengths_nm:
        if abs(wl - wavelength_nm) <= WAVELENGTH_TOLERANCE_NM:
            return wl
    return None


def grade_cable(
    recipe: Recipe,
    insertion_loss_db: np.ndarray,
    wavelengths_nm: Sequence[float],
    *,
    rule: DecisionRule | None = None,
    length_m: float | None = None,
    fiber_positions: Sequence[int] | None = None,
    light_went_to: Mapping[int, tuple[int, int]] | None = None,
) -> CableVerdict:
    """Grade one cable.

    `insertion_loss_db` is [n_wavelengths, n_fibers], columns in the order of
    `recipe.fiber_positions` (or `fiber_positions` when given); NaN means no
    light. `rule` defaults to the recipe's decision rule and `length_m` to its
    nominal length. A recipe wavelength that was not measured makes the cable
    an ERROR (it was not fully tested); a measured wavelength the recipe does
    not know is a programming error and raises ValueError. `light_went_to` (the polarity
    check's end-A position → (end-B position found, expected)) turns a dark reading of such
    a fiber into a misrouted one.
    """
    rule = recipe.decision_rule if rule is None else rule
    if rule.uncertainty_db is None:  # a budget's U is known only once the recipe meets its station
        raise ConfigError(recipe.source, "decision_rule", "U comes from the uncertainty budget, which needs the "
                          "station's contributions", "grade with the recipe the station gave it "
                          "(bench.grading.uncertainty.with_budget; sessions and load_station_and_recipe do)")
    il = np.asarray(insertion_loss_db, dtype=np.float64)
    positions = tuple(recipe.fiber_positions if fiber_positions is None else fiber_positions)
    wavelengths = [float(w) for w in wavelengths_nm]
    if il.ndim != 2 or il.shape != (len(wavelengths), len(positions)):
        raise ValueError(
            f"insertion_loss_db has shape {il.shape}, expected (n_wavelengths={len(wavelengths)}, "
            f"n_fibers={len(positions)})"
        )
    if len(set(positions)) != len(positions):
        raise ValueError(f"fiber positions {positions} repeat a position")

    fibers: list[FiberVerdict] = []
    cable_causes: list[tuple[Outcome, Cause]] = []
    mean_il: dict[float, float] = {}
    mean_limits: dict[float, float | None] = {}
    measured: set[float] = set()
    for row, wavelength in enumerate(wavelengths):
        recipe_wl = _match_wavelength(recipe, wavelength)
        if recipe_wl is None:
            raise ValueError(f"{wavelength:g} nm is not a wavelength of recipe '{recipe.name}'")
        if recipe_wl in measured:
            raise ValueError(f"{wavelength:g} nm is given twice")
        measured.add(recipe_wl)
        limit = recipe.max_il_db(recipe_wl, length_m)
        fibers.extend(
            _misrouted_or(grade_fiber(rule, position, wavelength, il[row, col], limit), light_went_to or {})
            for col, position in enumerate(positions)
        )
        mean_limit = recipe.max_mean_il_db(recipe_wl, length_m)
        mean_limits[wavelength] = mean_limit
        finite = il[row][np.isfinite(il[row])]
        if finite.size:
            # fsum is exactly rounded, so the mean (and a verdict at its limit)
            # cannot depend on the order in which fibers are listed.
            mean_il[wavelength] = math.fsum(finite.tolist()) / finite.size
        if mean_limit is not None and finite.size:
            mean_cause = _judge_mean(
                rule, wavelength, mean_il[wavelength], mean_limit, finite.size, len(positions)
            )
            if mean_cause is not None:
                cable_causes.append(mean_cause)

    missing = [wl for wl in recipe.wavelengths_nm if wl not in measured]
    errors = [Cause(CauseCode.WAVELENGTH_NOT_MEASURED, f"{wl:g} nm required by recipe '{recipe.name}' was not measured")
              for wl in missing]
    causes = [*errors, *(Cause(f.cause, f.reason) for f in fibers if f.cause is not None),
              *(cause for _, cause in cable_causes)]
    verdict = worst_verdict(
        [Outcome.ERROR] * len(errors) + [f.verdict for f in fibers] + [v for v, _ in cable_causes]
    )
    summary = _pass_summary(fibers) if verdict == Outcome.PASS else ""
    return CableVerdict(verdict, causes, fibers, rule, mean_il, mean_limits, summary)


def _misrouted_or(fiber: FiberVerdict, light_went_to: Mapping[int, tuple[int, int]]) -> FiberVerdict:
    """A dark reading of a fiber whose light the polarity check found elsewhere: misrouted, not open."""
    if fiber.cause != CauseCode.NO_LIGHT or fiber.fiber_position not in light_went_to:
        return fiber
    found, expected = light_went_to[fiber.fiber_position]
    return replace(fiber, cause=CauseCode.FIBER_MISROUTED,
                   reason=f"fiber {fiber.fiber_position} at {fiber.wavelength_nm:g} nm: misrouted, its light arrives "
                          f"at end-B position {found} instead of {expected}")


def _judge_mean(
    rule: DecisionRule, wavelength_nm: float, mean_db: float, limit_db: float, n_used: int, n_fibers: int
) -> tuple[Outcome, Cause] | None:
    # A mean cannot be judged low when a fiber has a bad reference, but that
    # fiber already makes the cable an ERROR; the mean is judged as measured.
    verdict = rule.judge(mean_db, limit_db)
    if verdict == Outcome.PASS:
        return None
    margin = limit_db - mean_db
    over = f" of {n_used} lit fibers" if n_used != n_fibers else ""
    failed = verdict == Outcome.FAIL
    relation = ">" if failed else f"within U = {rule.expanded_u_db:.3f} dB of"
    code = CauseCode.MEAN_OVER_LIMIT if failed else CauseCode.MEAN_NEAR_LIMIT
    return verdict, Cause(code, f"cable mean at {wavelength_nm:g} nm{over}: {mean_db:.3f} dB {relation} mean limit "
                                f"{limit_db:.3f} dB (margin {margin:+.3f} dB)")


def _pass_summary(fibers: Sequence[FiberVerdict]) -> str:
    if not fibers:
        return "nothing to grade"
    worst = min(fibers, key=lambda f: f.margin_db)
    return (
        f"all {len(fibers)} readings within limits; smallest margin {worst.margin_db:+.3f} dB "
        f"at fiber {worst.fiber_position}, {worst.wavelength_nm:g} nm"
    )
