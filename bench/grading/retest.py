"""Re-tests: every attempt of a serial is kept in the store; the final verdict follows a policy.

Policies (station config `[retest] policy`):

* ``last``: the verdict of the last attempt that reached a verdict (PASS,
  CONDITIONAL or FAIL); ERROR and ABORTED attempts are not verdicts about the
  cable and are skipped.
* ``best``: the best verdict of any attempt that reached one.
* ``all_must_pass``: PASS only if every attempt that reached a verdict passed;
  otherwise the worst of them.

With no attempt that reached a verdict the final verdict is the last
attempt's ERROR/ABORTED ("NOT TESTED" when there are no attempts at all).
Only insertion-loss attempts count (kind = "insertion_loss"); study and
golden-cable records of the same serial are left out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from bench.config.station import RETEST_POLICIES
from bench.records import Outcome
from bench.store import LoadedResults, load_results

_RANK = {Outcome.PASS: 0, Outcome.CONDITIONAL: 1, Outcome.FAIL: 2}
VERDICT_OUTCOMES = tuple(_RANK)


@dataclass(frozen=True)
class FinalVerdict:
    serial: str
    policy: str
    verdict: str  # PASS | CONDITIONAL | FAIL | ERROR | ABORTED | NOT TESTED
    decided_by_attempt: int | None  # the attempt whose verdict governs (None: no attempt)
    attempts: tuple[tuple[int, str], ...]  # (attempt, outcome) in attempt order
    reason: str


def final_verdict(results: LoadedResults | str | os.PathLike[str], serial: str, policy: str = "last",
                  *, kind: str = "insertion_loss") -> FinalVerdict:
    """The final verdict of `serial` from all its stored attempts under `policy`."""
    if policy not in RETEST_POLICIES:
        raise ValueError(f"unknown re-test policy {policy!r}; use one of {RETEST_POLICIES}")
    if not isinstance(results, LoadedResults):
        results = load_results(results, serial=serial)
    rows = results.cables
    rows = rows[(rows["serial"] == serial) & (rows["kind"] == kind)]
    rows = rows[np.argsort(rows["attempt"], kind="stable")]
    attempts = tuple((int(a), str(o)) for a, o in zip(rows["attempt"], rows["outcome"], strict=True))
    if not attempts:
        return FinalVerdict(serial, policy, "NOT TESTED", None, (), f"no {kind} attempt stored for {serial}")
    decided = [(a, o) for a, o in attempts if o in _RANK]
    summary = ", ".join(f"#{a} {o}" for a, o in attempts)
    if not decided:
        attempt, outcome = attempts[-1]
        return FinalVerdict(serial, policy, outcome, attempt, attempts,
                            f"no attempt reached a verdict ({summary})")
    if policy == "last":
        attempt, outcome = decided[-1]
        why = f"last attempt with a verdict is #{attempt}"
    elif policy == "best":
        attempt, outcome = min(decided, key=lambda item: (_RANK[item[1]], -item[0]))
        why = f"best attempt is #{attempt}"
    else:
        attempt, outcome = max(decided, key=lambda item: (_RANK[item[1]], item[0]))
        why = "every attempt passed" if outcome == Outcome.PASS else f"attempt #{attempt} did not pass"
    return FinalVerdict(serial, policy, outcome, attempt, attempts, f"{policy}: {why} ({summary})")
