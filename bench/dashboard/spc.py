"""Statistical process control of insertion loss: individuals (I-MR) charts and run rules kept as data.

One cable gives one observation per product, wavelength and ferrule position, so the chart is an
individuals chart: the centre line and sigma come from a baseline period (the first observations of
the product), sigma estimated from the mean moving range (MR̄ / d2, d2 = 1.128 for ranges of two), the
limits at ±3 sigma. A rule (Western Electric, Nelson; `spc_rules.toml`) that fires on observations
still under the product's IL limit is the warning that a position is drifting before cables fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import Field

from bench.config.schema import Name, Text, count, quantity, section, validate
from bench.config.tomlio import read_toml
from bench.errors import ConfigError

RULES_PATH = Path(__file__).with_name("spc_rules.toml")
RULE_KINDS = ("zone", "trend", "alternating", "hugging", "avoiding")
D2_PAIRS = 1.128  # expected range of two normal observations, in sigmas
D4_PAIRS = 3.267  # upper control limit factor of the moving range chart
MIN_BASELINE = 5


@dataclass(frozen=True)
class Rule:
    name: str
    source: str
    description: str
    kind: str
    points: int
    count: int
    sigma: float


@dataclass(frozen=True)
class Violation:
    rule: str
    index: int  # the observation at which the rule fires (the last of its window)
    window: tuple[int, ...]  # the observations of the window that fired


@dataclass(frozen=True)
class IndividualsChart:
    values: np.ndarray
    baseline_points: int
    center: float
    sigma: float
    moving_range: np.ndarray  # [len(values) - 1]
    mr_center: float

    @property
    def ucl(self) -> float:
        return self.center + 3 * self.sigma

    @property
    def lcl(self) -> float:
        return self.center - 3 * self.sigma

    @property
    def mr_ucl(self) -> float:
        return D4_PAIRS * self.mr_center


def load_rules(path: str | Path = RULES_PATH) -> tuple[Rule, ...]:
    """The run rules of a TOML file (see `spc_rules.toml` for the fields); ConfigError on a bad rule."""
    source = str(path)
    tables = read_toml(path).get("rule")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(source, "rule", "no [[rule]] tables", "add at least one [[rule]] (see spc_rules.toml)")
    rules = tuple(_rule(table, source, f"rule[{number}]") for number, table in enumerate(tables))
    names = [rule.name for rule in rules]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate is not None:
        raise ConfigError(source, "rule.name", f"two rules are named {duplicate!r}", "give every rule its own name")
    return rules


@section
class RuleSection:
    """One `[[rule]]` table as written (bench.config.schema: strict types, unknown keys refused)."""

    name: Name
    kind: Name = Field(description=f"one of {', '.join(RULE_KINDS)}")
    points: int = count(1, 1000, "observations in the rule's window")
    count: int | None = count(1, 1000, "observations of the window that must match (default: all)", default=None)
    sigma: float = quantity(0, 6, "zone edge in standard deviations", default=0.0)
    source: Text = ""
    description: Text = ""


def _rule(table: object, source: str, prefix: str) -> Rule:
    entry: RuleSection = validate(RuleSection, table, source, prefix)
    kind, points, sigma = entry.kind, entry.points, entry.sigma
    if kind not in RULE_KINDS:
        raise ConfigError(source, f"{prefix}.kind", f"unknown kind {kind!r}", f"use one of {', '.join(RULE_KINDS)}")
    count = points if entry.count is None else entry.count
    rule = Rule(name=entry.name, source=entry.source, description=entry.description,
                kind=kind, points=points, count=count, sigma=sigma)
    minimum = {"trend": 3, "alternating": 4}.get(kind, 1)
    if points < minimum:
        raise ConfigError(source, f"{prefix}.points", f"must be ≥ {minimum} for a {kind} rule, got {points}",
                          f"set points to {minimum} or more")
    if not 1 <= count <= points:
        raise ConfigError(source, f"{prefix}.count", f"must be between 1 and points ({points}), got {count}",
                          "set count to at most points")
    if not 0 <= sigma <= 6 or not np.isfinite(sigma):
        raise ConfigError(source, f"{prefix}.sigma", f"must be between 0 and 6, got {sigma}",
                          "give the zone edge in standard deviations, e.g. 2")
    return rule


def individuals_chart(values: Sequence[float] | np.ndarray,
                      baseline: Sequence[float] | np.ndarray) -> IndividualsChart:
    """I-MR chart of `values` (time order), its limits from the `baseline` observations (time order).

    The baseline is usually the product's first observations; it may overlap `values`.
    """
    values = np.asarray(values, dtype=float)
    baseline = np.asarray(baseline, dtype=float)
    if len(baseline) < MIN_BASELINE:
        raise ValueError(f"a baseline needs at least {MIN_BASELINE} observations, got {len(baseline)}")
    if not (np.isfinite(values).all() and np.isfinite(baseline).all()):
        raise ValueError("observations must be finite (drop unlit fibers before charting)")
    mr_center = float(np.mean(np.abs(np.diff(baseline))))
    return IndividualsChart(values=values, baseline_points=len(baseline), center=float(np.mean(baseline)),
                            sigma=mr_center / D2_PAIRS, moving_range=np.abs(np.diff(values)), mr_center=mr_center)


def evaluate(rules: Sequence[Rule], chart: IndividualsChart) -> list[Violation]:
    """Every (rule, observation) at which a rule fires, ordered by observation then rule order."""
    if chart.sigma == 0:
        z = np.sign(chart.values - chart.center) * np.inf
        z[chart.values == chart.center] = 0.0
    else:
        z = (chart.values - chart.center) / chart.sigma
    found = []
    for order, rule in enumerate(rules):
        for index in range(rule.points - 1, len(z)):
            window = z[index - rule.points + 1 : index + 1]
            hit = _fires(rule, window)
            if hit is not None:
                first = index - rule.points + 1
                found.append((index, order, Violation(rule.name, index, tuple(first + k for k in hit))))
    return [violation for _, _, violation in sorted(found, key=lambda item: (item[0], item[1]))]


def _fires(rule: Rule, z: np.ndarray) -> list[int] | None:
    """Positions in the window that make the rule fire, or None."""
    if rule.kind == "zone":
        return _zone(z, rule.sigma, rule.count)
    if rule.kind == "trend":
        steps = np.diff(z)
        return list(range(len(z))) if (steps > 0).all() or (steps < 0).all() else None
    if rule.kind == "alternating":
        steps = np.sign(np.diff(z))
        alternate = (steps != 0).all() and (steps[1:] * steps[:-1] < 0).all()
        return list(range(len(z))) if alternate else None
    if rule.kind == "hugging":
        return list(range(len(z))) if (np.abs(z) < rule.sigma).all() else None
    return list(range(len(z))) if (np.abs(z) > rule.sigma).all() else None


def _zone(z: np.ndarray, sigma: float, count: int) -> list[int] | None:
    for side in (z > sigma, z < -sigma):
        if int(side.sum()) >= count:
            return np.flatnonzero(side).tolist()
    return None
