"""Which stored reference a new one is compared with: the latest one a golden check vouched for.

A reference the golden cable refused (a stored golden-check FAIL cites its reference_id) is no
yardstick: comparing the next, clean reference with it would refuse the clean one for differing,
and let a dirty one through for resembling it. So across sessions the yardstick is the latest
reference of the same station and cords on which a golden check PASSED; a station without a
golden cable has nothing to vouch for a reference, and takes its latest one of the same cords.
A reference a later cable disowned (a stored record with a `bad_reference` cause: a loss more
negative than the uncertainty allows) is no yardstick either, whatever the golden check said.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from bench.records import CauseCode, Outcome, ReferenceRecord
from bench.store.reader import load_references, load_results

GOLDEN_CHECK_KIND = "golden_check"  # the `kind` of a golden-check record (bench.run.golden)


def _same_cords(record: ReferenceRecord, cord_ids: Iterable[str]) -> bool:
    return sorted(record.cord_ids) == sorted(cord_ids)


def vouched_reference_ids(path: str | os.PathLike[str], station_name: str, golden_serial: str) -> set[str]:
    """reference_id of every reference on which a golden check of `golden_serial` at this station passed."""
    checks = load_results(path, serial=golden_serial, outcome=Outcome.PASS).cables
    passed = (checks["kind"] == GOLDEN_CHECK_KIND) & (checks["station_name"] == station_name)
    return {str(reference_id) for reference_id in checks["reference_id"][passed].tolist()}


def disowned_reference_ids(path: str | os.PathLike[str], station_name: str) -> set[str]:
    """reference_id of every reference a record of this station found bad (a `bad_reference` cause)."""
    errors = load_results(path, outcome=Outcome.ERROR)
    cables = errors.cables
    disowned = set()
    for i in range(len(cables)):
        if cables["station_name"][i] != station_name or str(cables["reference_id"][i]) in disowned:
            continue
        if any(cause.code == CauseCode.BAD_REFERENCE for cause in errors.causes(int(cables["record_index"][i]))):
            disowned.add(str(cables["reference_id"][i]))
    return disowned


def latest_trusted_reference(path: str | os.PathLike[str], station_name: str, cord_ids: Iterable[str], *,
                             golden_serial: str | None = None) -> ReferenceRecord | None:
    """The latest stored reference (by taken_utc; ties: the last stored) of this station and cords
    that a golden check of `golden_serial` passed on; with `golden_serial` None, the latest one of
    this station and cords. A reference a stored record disowned as bad is skipped. None when
    there is none."""
    cord_ids = tuple(cord_ids)
    candidates = [r for r in load_references(path) if r.station_name == station_name and _same_cords(r, cord_ids)]
    if golden_serial is not None:
        vouched = vouched_reference_ids(path, station_name, golden_serial) if candidates else set()
        candidates = [r for r in candidates if r.reference_id in vouched]
    if candidates:
        disowned = disowned_reference_ids(path, station_name)
        candidates = [r for r in candidates if r.reference_id not in disowned]
    if not candidates:
        return None
    latest = max(range(len(candidates)), key=lambda i: (candidates[i].taken_utc, i))
    return candidates[latest]
