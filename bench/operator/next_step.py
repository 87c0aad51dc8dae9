"""What the technician does after a cable that did not pass, in plain words.

The advice follows the record (which fibers, at which wavelengths, dark or lossy, polarity)
and the station's re-test policy (`[retest] policy`, bench.grading.retest):

* a loss over the limit is most often a dirty or damaged end face: clean and inspect both
  connectors of the cable and the test cords, then retest, unless the policy means a retest
  cannot change the verdict (`all_must_pass`), or the cable already failed twice: then it is
  set aside (quarantine) with its serial;
* loss that grows with wavelength on the same fibers points at a bend or stress in the cable
  (macrobend loss rises with wavelength; dirt is nearly flat), so check the cable's routing too;
* a dark fiber is a seating problem until a retest shows it again (then a broken fiber);
* a wrong polarity is a build fault no cleaning fixes: quarantine;
* ERROR and ABORTED are about the bench or the session, not the cable: fix what the record
  says and retest the same cable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bench.records import CableRecord, FiberResult, Outcome

QUARANTINE_AFTER_FAILS = 2  # a cable that failed this many attempts is set aside, whatever the policy

POLICY_WORDS = {
    "last": "the last attempt decides",
    "best": "the best attempt decides",
    "all_must_pass": "every attempt must pass",
}


def _positions(fibers: Sequence[FiberResult]) -> str:
    return ", ".join(str(p) for p in sorted({f.fiber_position for f in fibers}))


def _grows_with_wavelength(lossy: Sequence[FiberResult], everything: Sequence[FiberResult]) -> bool:
    """On every lossy fiber, IL at the longest wavelength exceeds IL at the shortest by 0.3 dB or more."""
    wavelengths = sorted({f.wavelength_nm for f in everything})
    if len(wavelengths) < 2:
        return False
    by_key = {(f.fiber_position, f.wavelength_nm): f.insertion_loss_db for f in everything}
    positions = {f.fiber_position for f in lossy}
    rises = [by_key.get((p, wavelengths[-1]), math.nan) - by_key.get((p, wavelengths[0]), math.nan)
             for p in positions]
    return bool(rises) and all(math.isfinite(r) and r >= 0.3 for r in rises)


def _operator_action(reason: str) -> str:
    """The 'Operator: ...' part of a record's reason (the bench's own advice), else the reason."""
    _, found, action = reason.partition("Operator:")
    return (action if found else reason).strip().rstrip(".")


def _after_loss(record: CableRecord, policy: str, failed_attempts: int) -> list[str]:
    not_passing = [f for f in record.fibers if f.verdict not in (Outcome.PASS, "")]
    dark = [f for f in not_passing if not math.isfinite(f.insertion_loss_db)]
    lossy = [f for f in not_passing if math.isfinite(f.insertion_loss_db)]
    steps: list[str] = []
    if dark:
        steps.append(f"No light through fiber(s) {_positions(dark)}: re-seat both ends (end A in the fixture, "
                     "end B at the receive side) and retest; dark again means a broken fiber: quarantine.")
    if failed_attempts >= QUARANTINE_AFTER_FAILS:
        return [*steps, f"Fiber(s) {_positions(not_passing)} not passing again: this cable has failed "
                f"{failed_attempts} attempts. Set it aside for quarantine with its serial; do not retest it again."]
    if lossy:
        steps.append(f"Fiber(s) {_positions(lossy)} over the limit: clean and inspect both end faces of the cable "
                     "(end A and end B) and the test cords' connectors.")
        if _grows_with_wavelength(lossy, record.fibers):
            steps.append("The loss grows with wavelength: also check the cable for a kink, a tight coil or a "
                         "crushed jacket.")
    if policy == "all_must_pass":
        steps.append(f"A retest cannot pass it (retest policy all_must_pass: {POLICY_WORDS[policy]}): set it aside "
                     "for quarantine with its serial.")
    else:
        steps.append(f"Then press T to retest it (retest policy {policy}: {POLICY_WORDS.get(policy, policy)}).")
    return steps


def next_steps(record: CableRecord, *, policy: str = "last", failed_attempts: int = 1) -> list[str]:
    """The next step after this attempt, one sentence per line ([] after a PASS).

    `failed_attempts`: how many of this serial's attempts (this one included) were FAIL."""
    outcome = record.outcome
    if outcome == Outcome.PASS:
        return []
    if outcome == Outcome.ABORTED:
        return ["Aborted: nothing was judged. Reconnect the cable and press T to test it again."]
    if outcome == Outcome.ERROR:
        return [f"Not the cable's fault: {_operator_action(record.reason)}.",
                "Then press T to test the same cable again; it is not failed for this."]
    polarity = record.polarity_found
    required = str((record.recipe_snapshot or {}).get("polarity", ""))
    if outcome == Outcome.FAIL and polarity and required and polarity != required:
        return [f"Polarity {polarity} found where the recipe requires {required}: a build fault that no cleaning "
                "fixes. Set the cable aside for quarantine with its serial."]
    steps = _after_loss(record, policy, failed_attempts)
    if outcome == Outcome.CONDITIONAL:
        steps.insert(0, "Within the measurement uncertainty of the limit (CONDITIONAL): the bench cannot say PASS.")
    return steps
