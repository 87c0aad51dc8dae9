"""Is the current reference still good? Golden-cable drift state and bad-reference suspicion.

`TestSession.reference_problem()` asks `ReferenceHealth.problem()` after its
own age and count checks, so a line script sees one reason why it may not
test. The golden check that feeds this state (`bench.run.golden.verify_golden`)
sits a floor above the session, because it measures through one.
"""

from __future__ import annotations

import numpy as np

from bench.config.station import GoldenCableSettings
from bench.errors import BenchError
from bench.grading.cable import CableVerdict


class BenchDrifted(BenchError):
    """The golden cable no longer reads what it should: the bench drifted. Re-reference before testing."""


class ReferenceHealth:
    """Golden-check and bad-reference state of one session's current reference."""

    def __init__(self, golden: GoldenCableSettings | None) -> None:
        self.golden = golden
        self.new_reference()

    def new_reference(self) -> None:
        self.checked = False  # a golden check passed on this reference
        self.drift: str | None = None  # why the last golden check failed
        self.baseline_il_db: np.ndarray | None = None
        self.tests_since_check = 0
        self.bad_reference: str | None = None

    def problem(self) -> str | None:
        if self.bad_reference:
            return self.bad_reference
        if self.drift:
            return f"the bench drifted ({self.drift}); re-reference"
        if self.golden is None:
            return None
        if not self.checked:
            return f"the golden cable {self.golden.serial} has not been checked on this reference"
        every = self.golden.check_every_tests
        if every and self.tests_since_check >= every:
            return f"{self.tests_since_check} cables since the last golden-cable check (every {every})"
        return None

    def cable_tested(self, verdict: CableVerdict, readings_trustworthy: bool = True) -> None:
        """Count the cable; a loss below -U on any fiber means the reference was set wrong.

        Readings the measurement itself declared untrustworthy (never settled, over range)
        count as a test but do not judge the reference: an unstable meter can read any
        loss, a negative one included, and the cable is an ERROR for that already."""
        self.tests_since_check += 1
        if not readings_trustworthy:
            return
        bad = [f for f in verdict.fibers if verdict.rule.is_bad_reference(f.insertion_loss_db)]
        if bad:
            worst = min(bad, key=lambda f: f.insertion_loss_db)
            self.bad_reference = (f"bad reference: fiber {worst.fiber_position} at {worst.wavelength_nm:g} nm read "
                                  f"{worst.insertion_loss_db:.3f} dB (below -U = "
                                  f"{-verdict.rule.uncertainty_db:.3f} dB); set the reference again and retest")
