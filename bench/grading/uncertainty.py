"""The uncertainty budget of one IL reading, GUM-style (JCGM 100:2008), and the U it gives.

Measurement model: IL = P_ref − P_dut (dB). Each contribution i has a value, a distribution
that turns the value into a standard uncertainty u_i ("normal": the value is u, 1 σ;
"rectangular": the value is the half-width a of a ± limit, u = a/√3), a sensitivity c_i fixed
by its name (`SENSITIVITIES`), and a basis (where the figure comes from). The contributions are
taken as uncorrelated: u_c = sqrt(Σ (c_i·u_i)²), U = k·u_c with k the recipe's
`[decision_rule] coverage_factor`.

The station's `[uncertainty]` and the recipe's `[decision_rule.budget]` are combined when
station and recipe meet (`with_budget`, applied by every session and by
`load_station_and_recipe`); the effective decision rule then carries U and its budget. Without
budget data anywhere, the U typed in the recipe stays valid and is recorded as declared.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.config.decision_rule import DecisionRule
from bench.config.recipe import Recipe
from bench.config.station import StationConfig
from bench.config.uncertainty_sections import ContributionEntry
from bench.errors import ConfigError

MODEL = "IL = P_ref - P_dut; u_c = sqrt(sum (c_i u_i)^2), U = k u_c (JCGM 100:2008)"
DIVISORS = {"normal": 1.0, "rectangular": math.sqrt(3.0)}
DECLARED_TEXT = "U declared in the recipe, no uncertainty budget"


def _one(_: Recipe) -> float:
    return 1.0


# Sensitivity (multiplicity) of each contribution to one IL reading, and why (docs/grading.md).
SENSITIVITIES: dict[str, tuple[Callable[[Recipe], float], str]] = {
    "source_stability": (_one, "1: the source drifts between the reference and the measurement"),
    "meter_linearity": (_one, "1: the meter reads P_ref and P_dut at different power levels"),
    "meter_noise": (lambda _: math.sqrt(2.0), "√2: an IL is two readings (P_ref and P_dut), each with noise"),
    "reference_repeatability": (_one, "1: the reference every reading is taken against"),
    "temperature": (_one, "1: the bench's temperature swing during a reference's life"),
    "connector_repeatability": (lambda recipe: math.sqrt(recipe.limits.connections),
                                "√(limits.connections): each mated connection in the reading varies on its own"),
}
STATION_CONTRIBUTIONS = ("source_stability", "meter_linearity", "meter_noise", "reference_repeatability",
                         "temperature")
RECIPE_CONTRIBUTIONS = ("connector_repeatability", "temperature")


@dataclass(frozen=True)
class Contribution:
    """One row of the budget: `value_db` as written, turned into u_i by its distribution."""

    name: str
    value_db: float
    distribution: str
    sensitivity: float
    basis: str
    origin: str  # the file and table it was read from

    def __post_init__(self) -> None:
        if self.distribution not in DIVISORS:
            raise ValueError(f"distribution {self.distribution!r} is not one of {tuple(DIVISORS)}")
        if not (math.isfinite(self.value_db) and self.value_db >= 0):
            raise ValueError(f"{self.name}: value {self.value_db!r} dB must be finite and >= 0")
        if not (math.isfinite(self.sensitivity) and self.sensitivity >= 0):
            raise ValueError(f"{self.name}: sensitivity {self.sensitivity!r} must be finite and >= 0")

    @property
    def divisor(self) -> float:
        return DIVISORS[self.distribution]

    @property
    def standard_uncertainty_db(self) -> float:
        """u_i."""
        return self.value_db / self.divisor

    @property
    def contribution_db(self) -> float:
        """c_i·u_i."""
        return self.sensitivity * self.standard_uncertainty_db


@dataclass(frozen=True)
class UncertaintyBudget:
    """The contributions and k; or, with no contributions, a U declared in the recipe."""

    contributions: tuple[Contribution, ...]
    coverage_factor: float = 2.0
    declared_u_db: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.coverage_factor) and self.coverage_factor > 0):
            raise ValueError(f"coverage factor k = {self.coverage_factor!r} must be positive")
        if (self.declared_u_db is None) == (not self.contributions):
            raise ValueError("a budget has contributions or a declared U, exactly one of them")

    @property
    def declared(self) -> bool:
        return self.declared_u_db is not None

    @property
    def standard_uncertainty_db(self) -> float:
        """u_c (a declared U: U/k)."""
        if self.declared_u_db is not None:
            return self.declared_u_db / self.coverage_factor
        return math.sqrt(math.fsum(c.contribution_db ** 2 for c in self.contributions))

    @property
    def expanded_uncertainty_db(self) -> float:
        """U = k·u_c (a declared U as typed)."""
        if self.declared_u_db is not None:
            return self.declared_u_db
        return self.coverage_factor * self.standard_uncertainty_db

    def rows(self) -> list[dict[str, Any]]:
        """The GUM table: name, value, distribution, divisor, sensitivity, u_i·c_i, basis, origin."""
        return [{"name": c.name, "value_db": c.value_db, "distribution": c.distribution, "divisor": c.divisor,
                 "standard_uncertainty_db": c.standard_uncertainty_db, "sensitivity": c.sensitivity,
                 "contribution_db": c.contribution_db, "basis": c.basis, "origin": c.origin}
                for c in self.contributions]

    def as_dict(self) -> dict[str, Any]:
        """JSON-able; stored as `extra["uncertainty_budget"]` with every graded record."""
        if self.declared_u_db is not None:
            return {"declared_u_db": self.declared_u_db, "contributions": [],
                    "coverage_factor": self.coverage_factor, "note": DECLARED_TEXT}
        return {"model": MODEL, "contributions": self.rows(), "coverage_factor": self.coverage_factor,
                "standard_uncertainty_db": self.standard_uncertainty_db,
                "expanded_uncertainty_db": self.expanded_uncertainty_db}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UncertaintyBudget:
        """A stored budget read back (the inverse of as_dict)."""
        k = float(data.get("coverage_factor", 2.0))
        if data.get("declared_u_db") is not None:
            return cls((), k, float(data["declared_u_db"]))
        return cls(tuple(Contribution(str(row["name"]), float(row["value_db"]), str(row["distribution"]),
                                      float(row["sensitivity"]), str(row["basis"]), str(row.get("origin", "")))
                         for row in data["contributions"]), k)

    def format_table(self) -> str:
        """The budget as a fixed-width text table with u_c and U."""
        if self.declared_u_db is not None:
            return f"{DECLARED_TEXT}: U = {self.declared_u_db:.4f} dB (k = {self.coverage_factor:g})"
        lines = [f"{'contribution':<24} {'value dB':>9} {'distribution':<12} {'divisor':>7} {'u_i dB':>8} "
                 f"{'c_i':>6} {'c_i·u_i dB':>10}  basis"]
        lines += [f"{c.name:<24} {c.value_db:>9.4f} {c.distribution:<12} {c.divisor:>7.3f} "
                  f"{c.standard_uncertainty_db:>8.4f} {c.sensitivity:>6.3f} {c.contribution_db:>10.4f}  {c.basis}"
                  for c in self.contributions]
        lines.append(f"combined standard uncertainty u_c = {self.standard_uncertainty_db:.4f} dB")
        lines.append(f"expanded uncertainty U = k·u_c = {self.coverage_factor:g} × "
                     f"{self.standard_uncertainty_db:.4f} = {self.expanded_uncertainty_db:.4f} dB")
        return "\n".join(lines)


def _entries(section: Any, names: tuple[str, ...]) -> dict[str, ContributionEntry]:
    if section is None:
        return {}
    return {name: getattr(section, name) for name in names if getattr(section, name) is not None}


def _contribution(name: str, entry: ContributionEntry, recipe: Recipe, origin: str) -> Contribution:
    sensitivity = SENSITIVITIES[name][0](recipe)
    return Contribution(name, entry.value_db, entry.distribution, sensitivity, entry.basis, origin)


def budget_for(config: StationConfig, recipe: Recipe) -> UncertaintyBudget:
    """The budget of `recipe` measured on `config`'s station (ConfigError for a contradiction).

    With budget data in neither file, the recipe's typed U as a declared budget; with budget
    data, a typed U is refused (the budget gives U)."""
    station_entries = _entries(config.uncertainty, STATION_CONTRIBUTIONS)
    recipe_entries = _entries(recipe.uncertainty_budget, RECIPE_CONTRIBUTIONS)
    typed_u_db = typed_uncertainty_db(recipe.decision_rule)
    k = recipe.decision_rule.coverage_factor
    if not station_entries and not recipe_entries:
        if typed_u_db is None:
            raise ConfigError(recipe.source, "decision_rule.uncertainty_db",
                              f"no U: neither station {config.name} ({config.source_path}) has an [uncertainty] "
                              "table nor the recipe a [decision_rule.budget]",
                              "give the budget's contributions (docs/grading.md, Uncertainty budget), or type "
                              "the expanded uncertainty as uncertainty_db")
        return UncertaintyBudget((), k, typed_u_db)
    if "temperature" in station_entries and "temperature" in recipe_entries:
        raise ConfigError(recipe.source, "decision_rule.budget.temperature",
                          f"station {config.name} ({config.source_path}) already gives [uncertainty] temperature",
                          "remove it from the recipe: the station's temperature contribution is used")
    station_origin = f"station {config.name} ({config.source_path}) [uncertainty]"
    recipe_origin = f"recipe {recipe.name} ({recipe.source}) [decision_rule.budget]"
    budget = UncertaintyBudget(
        (*(_contribution(n, e, recipe, station_origin) for n, e in station_entries.items()),
         *(_contribution(n, e, recipe, recipe_origin) for n, e in recipe_entries.items())), k)
    if typed_u_db is not None:
        raise ConfigError(recipe.source, "decision_rule.uncertainty_db",
                          "U is typed, but station and recipe give an uncertainty budget",
                          f"remove it: the budget gives U = {budget.expanded_uncertainty_db:.4f} dB "
                          "('bench uncertainty' prints the table)")
    return budget


def typed_uncertainty_db(rule: DecisionRule) -> float | None:
    """The U the recipe file typed (None: none), also after a station gave it a budget."""
    if rule.budget is None:
        return rule.uncertainty_db
    return getattr(rule.budget, "declared_u_db", None)


def with_budget(config: StationConfig, recipe: Recipe) -> Recipe:
    """The recipe as graded on this station: its decision rule carries the budget's U and the budget."""
    budget = budget_for(config, recipe)
    u_db = budget.expanded_uncertainty_db
    if recipe.decision_rule.kind == "guarded" and u_db == 0:
        raise ConfigError(recipe.source, "decision_rule.budget", "guarded acceptance with U = 0 is simple acceptance",
                          'give the contributions of the bench, or use kind = "simple"')
    rule = dataclasses.replace(recipe.decision_rule, uncertainty_db=u_db, budget=budget)
    return dataclasses.replace(recipe, decision_rule=rule)


def rule_budget(rule: DecisionRule) -> dict[str, Any]:
    """What a record stores as `extra["uncertainty_budget"]` for a verdict graded with `rule`."""
    if rule.budget is not None:
        return rule.budget.as_dict()
    return UncertaintyBudget((), rule.coverage_factor, rule.expanded_u_db).as_dict()
