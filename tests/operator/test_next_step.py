"""The next step after a cable that did not pass, from the record and the station's re-test policy."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from bench.operator.next_step import next_steps
from bench.records import CableRecord, FiberResult


def fiber(position: int, wavelength_nm: float, il_db: float, verdict: str) -> FiberResult:
    return FiberResult(position, wavelength_nm, position, position, -3.0, -3.0 - il_db, il_db, 0.75,
                       0.75 - il_db, verdict)


def record(outcome: str, fibers: tuple[FiberResult, ...] = (), *, reason: str = "", polarity: str = "B"
           ) -> CableRecord:
    return CableRecord("MTP12-1", "L", 1, "R", {"polarity": "B"}, "st", "op", "0", "", "", outcome, reason,
                       "simple", 0.1, 2.0, "ref", polarity, (), (1310.0, 1550.0), np.zeros((2, 0, 0)), fibers)


LOSSY = (fiber(3, 1310.0, 0.9, "FAIL"), fiber(3, 1550.0, 0.95, "FAIL"), fiber(4, 1310.0, 0.3, "PASS"),
         fiber(4, 1550.0, 0.3, "PASS"))


def test_a_loss_over_the_limit_is_cleaned_and_retested_unless_the_policy_forbids() -> None:
    steps = " ".join(next_steps(record("FAIL", LOSSY), policy="last"))
    assert "Fiber(s) 3 over the limit: clean and inspect both end faces" in steps
    assert "press T to retest it (retest policy last" in steps and "kink" not in steps
    strict = " ".join(next_steps(record("FAIL", LOSSY), policy="all_must_pass"))
    assert "A retest cannot pass it" in strict and "quarantine" in strict and "press T" not in strict
    twice = " ".join(next_steps(record("FAIL", LOSSY), policy="best", failed_attempts=2))
    assert "failed 2 attempts" in twice and "quarantine" in twice and "clean" not in twice


def test_loss_rising_with_wavelength_points_at_a_bend_and_a_dark_fiber_at_seating() -> None:
    bend = (fiber(5, 1310.0, 0.5, "PASS"), fiber(5, 1550.0, 1.2, "FAIL"))
    assert any("kink" in step for step in next_steps(record("FAIL", bend)))
    dark = (fiber(7, 1310.0, math.nan, "FAIL"), fiber(7, 1550.0, math.nan, "FAIL"))
    steps = " ".join(next_steps(record("FAIL", dark)))
    assert "No light through fiber(s) 7: re-seat both ends" in steps and "over the limit" not in steps


def test_polarity_error_and_pass() -> None:
    wrong = next_steps(record("FAIL", LOSSY, polarity="A"))
    assert len(wrong) == 1 and "Polarity A found where the recipe requires B" in wrong[0]
    error = next_steps(record("ERROR", reason="bench fault: no light. Operator: check the source, then retest"))
    assert error[0] == "Not the cable's fault: check the source, then retest."
    assert next_steps(replace(record("PASS", LOSSY))) == []
    assert "CONDITIONAL" in next_steps(record("CONDITIONAL", LOSSY))[0]
