"""What the store's commands tell the operator: verify and repair reports, unreadable-record warnings.

Kept beside the store (not in the CLI module) so every front end says the same thing.
"""

from __future__ import annotations

from bench.store.damage import describe_record as _record
from bench.store.repair import RepairReport
from bench.store.verify import VerifyExit, VerifyReport


def verify_lines(report: VerifyReport) -> list[str]:
    """The human report of `bench verify`: every finding, then one verdict line."""
    lines = [f"{report.path}: {report.n_records} cable records ({report.n_readable} readable), "
             f"{report.n_references} references checked"]
    for index, serial, why in report.bad:
        lines.append(f"  TAMPERED cable record {index} (serial {serial}): {why}")
    for index, reference_id, why in report.bad_references:
        lines.append(f"  TAMPERED reference record {index} ({reference_id}): {why}")
    lines += [f"  TAMPERED annotations: {why}" for why in report.bad_annotations]
    for k, damaged in enumerate(report.damaged):
        held = report.damaged_records.get(k, [])
        lines.append(f"  DAMAGED {damaged.describe()}" + (f"; holds {', '.join(held)}" if held else ""))
    for u in report.unreadable:
        lines.append(f"  UNREADABLE {_record(u)}: {u.why}")
    for index, serial, why in report.unverifiable:
        lines.append(f"  note: cable record {index} ({serial}) reads, but {why}")
    if report.lost_in_repairs:
        lines.append(f"  note: record numbers lost in an earlier repair (never reused): "
                     f"{_compact(report.lost_in_repairs)}")
    lines += [f"  note: {n}" for n in report.notes]
    status = report.status
    if status == VerifyExit.OK and report.unverifiable:
        lines.append(f"OK: every record reads; {len(report.unverifiable)} record(s) right after lost ones cannot be "
                     "re-checked (listed), every other record matches its hash")
    elif status == VerifyExit.OK:
        lines.append("OK: every record matches its hash")
    elif status == VerifyExit.TAMPERED:
        lines.append(f"TAMPERED: {len(report.bad) + len(report.bad_references)} record(s) changed after writing"
                     + (f", {len(report.bad_annotations)} annotation problem(s)" if report.bad_annotations else "")
                     + (f"; also {len(report.unreadable)} unreadable" if report.unreadable else ""))
    else:
        checked = report.n_readable - len(report.unverifiable)
        unchecked = f" ({len(report.unverifiable)} more read but cannot be re-checked)" if report.unverifiable else ""
        lines.append(f"DAMAGED: {len(report.unreadable)} record(s) cannot be read; {checked} others match their "
                     f"hashes{unchecked}. Keep a copy of the file, then `bench repair {report.path}` keeps every "
                     "readable record (record numbers are never reused)")
    return lines


def _compact(indexes: list[int]) -> str:
    runs: list[list[int]] = []
    for i in indexes:
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def repair_lines(report: RepairReport) -> list[str]:
    lines = [f"{report.path}: repaired: {report.summary()}",
             f"  the original file is kept as {report.original_kept_as}"]
    if report.quarantine_dir:
        lines.append(f"  unreadable parts (raw bytes) and what the query index says of each lost record: "
                     f"{report.quarantine_dir}/manifest.json")
    for u in report.lost:
        lines.append(f"  LOST {_record(u)}: {u.why}")
    if report.lost_index_estimated:
        lines.append(f"  note: record numbers {_compact(report.lost_index_estimated)} were estimated (no table "
                     "still names them); all numbers up to the next one are reserved")
    lines.append(f"  the repair is recorded in the file (repair_log); the next cable gets record number "
                 f"{report.next_record_index}")
    return lines
