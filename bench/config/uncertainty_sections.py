"""The uncertainty budget as configuration: the station's `[uncertainty]` and the recipe's
`[decision_rule.budget]` tables (their shape only; bench.grading.uncertainty combines them).

Every contribution is `{ value_db, distribution, basis }`: `distribution = "normal"` means
`value_db` is the standard uncertainty u (1 σ); `"rectangular"` means it is the half-width a
of a ± limit (a data-sheet figure), u = a/√3. `basis` says where the figure comes from (a data
sheet clause, a calibration certificate, a bench study id) and is required: a number nobody can
trace is not an uncertainty. The sensitivity of each contribution is fixed by its name
(docs/grading.md, "Uncertainty budget"), never typed.
"""

from __future__ import annotations

from typing import Literal

from bench.config.schema import Name, quantity, section

DISTRIBUTIONS = ("normal", "rectangular")


@section
class ContributionEntry:
    value_db: float = quantity(0, 5, 'u (normal, 1 σ) or the half-width a (rectangular) in dB',
                               exclusive_minimum=True)
    distribution: Literal["normal", "rectangular"]
    basis: Name  # data sheet clause, calibration certificate or bench study id


@section
class StationUncertaintySection:
    """A station's `[uncertainty]`: what its instruments and reference add to every IL reading."""

    source_stability: ContributionEntry | None = None  # drift between the reference and the measurement
    meter_linearity: ContributionEntry | None = None  # the meter reads P_ref and P_dut at different levels
    meter_noise: ContributionEntry | None = None  # per reading; an IL is two readings
    reference_repeatability: ContributionEntry | None = None  # re-taking the reference on the same cords
    temperature: ContributionEntry | None = None  # the bench's temperature swing during a reference's life


@section
class RecipeBudgetSection:
    """A recipe's `[decision_rule.budget]`: what the product's connections add."""

    connector_repeatability: ContributionEntry | None = None  # per mated connection
    temperature: ContributionEntry | None = None  # only where the station gives none
