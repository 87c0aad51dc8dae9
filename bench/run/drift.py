"""The drift watch: the golden check after every reference, at the station's cadence and at run end.

A drifting source or a fouled launch cord changes every reading after it; the golden
cable is how the bench notices. `DriftWatch` decides when the check runs (after each
reference, before a cable once `check_every_cables` cables or `check_every_min` minutes
have passed since the last check, before a new reference replaces one with unchecked
cables, and at the end of a run) and what a failed check means for what is already
stored: every cable graded since the last passing check is marked SUSPECT by an
append-only annotation (bench.store.annotations), listed in `suspect` for a retest, and
testing stops with `BenchDrifted`.

Every flow uses it: `bench.operator.line.LineBench` (Python API, `bench line`, `bench run`)
owns one; a script driving a bare `TestSession` can make its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.records import Outcome
from bench.run.golden import GOLDEN_KIND, verify_golden
from bench.run.reference_health import BenchDrifted
from bench.run.session import CableOutcome, TestSession
from bench.store.annotations import SUSPECT
from procedures.operator import Operator
from procedures.reference import GoldenCheck

GRADED = (Outcome.PASS, Outcome.CONDITIONAL, Outcome.FAIL)


@dataclass(frozen=True)
class SuspectCable:
    """A stored attempt graded on a bench that a later golden check found drifted."""

    serial: str
    attempt: int
    record_index: int
    outcome: str
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"serial": self.serial, "attempt": self.attempt, "record_index": self.record_index,
                "outcome": self.outcome, "reason": self.reason}


class DriftWatch:
    """When to check the golden cable, and SUSPECT marks for what a failed check puts in doubt."""

    def __init__(self, session: TestSession, operator: Operator | None, *, accept_baseline: bool = False) -> None:
        self.session = session
        self.operator = operator
        self.accept_baseline = accept_baseline  # the operator vouches for the first reference of this run
        self.pending: list[CableOutcome] = []  # graded since the last passing check
        self.suspect: list[SuspectCable] = []
        self.checks: list[GoldenCheck] = []

    @property
    def enabled(self) -> bool:
        return self.session.station.config.reference.golden is not None

    @property
    def retest_serials(self) -> list[str]:
        """Serials to test again, in the order they were first graded, each once."""
        return list(dict.fromkeys(cable.serial for cable in self.suspect))

    def check(self) -> GoldenCheck:
        """Run the golden check now; on drift mark what is pending SUSPECT and raise `BenchDrifted`."""
        try:
            result = verify_golden(self.session, self.operator, accept_baseline=self.accept_baseline)
        except BenchDrifted as drifted:
            self._mark_suspect(self.session.health.drift or str(drifted), drifted.check_record_index)
            raise
        self.accept_baseline = False  # one accepted baseline per run, right where the operator asked
        self.checks.append(result)
        self.pending.clear()
        return result

    def after_reference(self) -> GoldenCheck | None:
        return self.check() if self.enabled else None

    def before_reference(self) -> None:
        """A new reference would hide drift on the cables tested on the old one: check them first."""
        if self.enabled and self.pending and self.session.reference is not None:
            self.check()

    def before_cable(self) -> GoldenCheck | None:
        """The check, when the station's cadence says it is due; else nothing."""
        if self.enabled and self.session.reference is not None and self.session.health.check_due():
            return self.check()
        return None

    def cable_stored(self, outcome: CableOutcome) -> None:
        if self.enabled and outcome.record.kind != GOLDEN_KIND and outcome.outcome in GRADED:
            self.pending.append(outcome)

    def finish(self) -> GoldenCheck | None:
        """End of a run: the cables since the last check are not vouched for until the golden cable is."""
        if self.enabled and self.pending and self.session.reference is not None:
            return self.check()
        return None

    def _mark_suspect(self, finding: str, check_record_index: int) -> None:
        if not self.pending:
            return
        reason = (f"SUSPECT: graded before golden check record {check_record_index} found the bench drifted "
                  f"({finding}); retest on a new reference")
        self.session.store.annotate([cable.record_index for cable in self.pending], kind=SUSPECT, reason=reason,
                                    check_record_index=check_record_index)
        self.suspect += [SuspectCable(cable.record.serial, cable.record.attempt, cable.record_index,
                                      cable.outcome, reason) for cable in self.pending]
        self.pending.clear()
