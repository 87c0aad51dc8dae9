"""Is the current reference still good? Golden-cable drift state and bad-reference suspicion.

`TestSession.reference_problem()` asks `ReferenceHealth.problem()` after its
own age and count checks, so a line script sees one reason why it may not
test. The golden check that feeds this state (`bench.run.golden.verify_golden`)
sits a floor above the session, because it measures through one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np

from bench.clock import Clock, utc_now
from bench.config.station import GoldenCableSettings, ReferenceSettings
from bench.errors import BenchError
from bench.grading.cable import CableVerdict
from bench.records import ReferenceRecord


class BenchDrifted(BenchError):
    """The golden cable no longer reads what it should: the bench drifted. Re-reference before testing.

    `check_record_index` is the stored golden-check record that found it (-1 if none)."""

    def __init__(self, message: str, check_record_index: int = -1) -> None:
        super().__init__(message)
        self.check_record_index = check_record_index


class ReferenceHealth:
    """Golden-check and bad-reference state of one session's current reference.

    The uncertified golden cable's accepted baseline (`baseline_il_db`, [wavelength, fiber] at
    `baseline_wavelengths_nm`) outlives a reference: it is what a new reference is checked against."""

    def __init__(self, golden: GoldenCableSettings | None, clock: Clock = utc_now) -> None:
        self.golden = golden
        self.clock = clock
        self.baseline_il_db: np.ndarray | None = None
        self.baseline_wavelengths_nm: tuple[float, ...] = ()
        self.new_reference()

    def new_reference(self) -> None:
        self.checked = False  # a golden check passed on this reference
        self.drift: str | None = None  # why the last golden check failed
        self.tests_since_check = 0
        self.last_check_utc: dt.datetime | None = None
        self.last_check_record_index = -1
        self.bad_reference: str | None = None

    def check_due(self) -> str | None:
        """Why a golden check is due before the next cable (cadence of the station), or None."""
        golden = self.golden
        if golden is None or not self.checked:
            return None
        if golden.check_every_cables and self.tests_since_check >= golden.check_every_cables:
            return (f"{self.tests_since_check} cables since the last golden-cable check "
                    f"(every {golden.check_every_cables})")
        if golden.check_every_min and self.last_check_utc is not None:
            minutes = (self.clock() - self.last_check_utc).total_seconds() / 60
            if minutes >= golden.check_every_min:
                return f"{minutes:.0f} min since the last golden-cable check (every {golden.check_every_min:g} min)"
        return None

    def problem(self) -> str | None:
        if self.bad_reference:
            return self.bad_reference
        if self.drift:
            return f"the bench drifted ({self.drift}); re-reference"
        if self.golden is None:
            return None
        if not self.checked:
            return f"the golden cable {self.golden.serial} has not been checked on this reference"
        return self.check_due()

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
                                  f"{-verdict.rule.expanded_u_db:.3f} dB); set the reference again and retest")


def _cords(settings: ReferenceSettings) -> str:
    return ", ".join(settings.cord_ids) or "the reference cords"


def _position_outside_window(power_dbm: np.ndarray, wavelengths_nm: Sequence[float],
                             settings: ReferenceSettings) -> str | None:
    low_db, high_db = settings.cord_loss_window_db
    for w, wavelength in enumerate(wavelengths_nm):
        expected = settings.expected_power_dbm.get(float(wavelength))
        if expected is None:
            continue
        loss = expected - power_dbm[w]
        outside = np.flatnonzero((loss < low_db) | (loss > high_db))
        if outside.size:
            i = int(outside[np.argmax(np.abs(loss[outside] - (low_db + high_db) / 2))])
            return (f"launch position {i + 1} read {power_dbm[w, i]:.2f} dBm at {wavelength:g} nm: a reference-path "
                    f"loss of {loss[i]:.2f} dB, outside {low_db:g}-{high_db:g} dB from the source's "
                    f"{expected:g} dBm; " + ("clean or replace the reference cord at that position"
                                             if loss[i] > high_db else "check the source power setting"))
    return None


def _spread(power_dbm: np.ndarray, wavelengths_nm: Sequence[float], settings: ReferenceSettings) -> str | None:
    for w, wavelength in enumerate(wavelengths_nm):
        spread = float(power_dbm[w].max() - power_dbm[w].min())
        if spread > settings.max_spread_db:
            i = int(np.argmin(power_dbm[w]))
            return (f"the launch positions differ by {spread:.2f} dB at {wavelength:g} nm (limit "
                    f"{settings.max_spread_db:g} dB); position {i + 1} is the weakest: clean or replace the "
                    f"reference cord at launch position {i + 1} ({_cords(settings)})")
    return None


def _step(power_dbm: np.ndarray, wavelengths_nm: Sequence[float], launch_positions: Sequence[int],
          previous: ReferenceRecord, settings: ReferenceSettings) -> str | None:
    """One position moved against the others since the previous reference of the same cords.

    A move common to all positions is the source (warm-up, a new power setting); one position
    moving alone is its cord or adapter."""
    if tuple(previous.cord_ids) != tuple(settings.cord_ids) or tuple(previous.launch_positions) != tuple(
            launch_positions):
        return None
    before_nm = [float(w) for w in previous.wavelengths_nm]
    for w, wavelength in enumerate(wavelengths_nm):
        if float(wavelength) not in before_nm:
            continue
        step = power_dbm[w] - np.asarray(previous.reference_power_dbm)[before_nm.index(float(wavelength))]
        alone = step - np.median(step)
        i = int(np.argmax(np.abs(alone)))
        if abs(alone[i]) > settings.max_step_db:
            return (f"launch position {i + 1} reads {alone[i]:+.3f} dB against the other positions "
                    f"at {wavelength:g} nm since the previous reference of the same cords (limit "
                    f"±{settings.max_step_db:g} dB): clean or replace the reference cord at launch position "
                    f"{i + 1} ({_cords(settings)}), then re-reference")
    return None


def implausible_reference(power_dbm: np.ndarray, wavelengths_nm: Sequence[float], launch_positions: Sequence[int],
                          settings: ReferenceSettings, previous: ReferenceRecord | None) -> str | None:
    """Why a new reference [wavelength, launch position] in dBm is not believable, or None.

    Checked before any cable is tested on it: against the source's expected power and the
    reference path's loss window, the spread across positions, and the previous reference of
    the same cords (the check that sees a dirty cord too small for the golden tolerance)."""
    return (_position_outside_window(power_dbm, wavelengths_nm, settings)
            or _spread(power_dbm, wavelengths_nm, settings)
            or (_step(power_dbm, wavelengths_nm, launch_positions, previous, settings) if previous else None))
