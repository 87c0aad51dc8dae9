"""`bench verify`, `bench repair`, `bench export` and `bench query`: the results store from the command line.

verify, export and query only read the store (SWMR), so they can run while a bench is writing;
repair takes the writer lock. Exit codes of verify: bench.store.VerifyExit.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bench.errors import BenchError
from bench.records import OUTCOMES
from bench.store import VerifyExit, load_results
from bench.store.export import cable_documents, write_csv, write_json
from bench.store.messages import repair_lines, verify_lines
from bench.store.repair import repair_store
from bench.store.watchdog import verify_without_hanging

EXIT_OK, EXIT_ERROR = VerifyExit.OK, VerifyExit.REFUSED


def _add_filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters (combined with AND; omit all to select every record)")
    group.add_argument("--serial", help="exact cable serial number")
    group.add_argument("--lot", help="exact lot name")
    group.add_argument("--since", metavar="UTC",
                       help="tests started at or after this UTC time, e.g. 2024-05-01 or 2024-05-01T06:00:00Z")
    group.add_argument("--until", metavar="UTC", help="tests started strictly before this UTC time")
    group.add_argument("--outcome", action="append", choices=OUTCOMES,
                       help="cable outcome; repeat the option to accept several")


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    return {"serial": args.serial, "lot": args.lot, "since_utc": args.since, "until_utc": args.until,
            "outcome": args.outcome}


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def run_verify(args: argparse.Namespace) -> int:
    report, refused = verify_without_hanging(args.file)
    if report is None:
        if args.json:
            print(json.dumps({"path": args.file, "ok": False, "status": refused.status.name,
                              "exit_code": int(refused.status), "error": refused.message}, indent=2))
        print(f"error: {refused.message}", file=sys.stderr)
        return refused.status
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print("\n".join(verify_lines(report)))
    return report.status


def run_repair(args: argparse.Namespace) -> int:
    try:
        report = repair_store(args.file)
    except BenchError as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print("\n".join(repair_lines(report)))
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    try:
        res = load_results(args.file, **_filters(args))
        if args.csv:
            n = write_csv(res, args.csv)
            print(f"wrote {n} rows to {args.csv}")
        else:
            n = write_json(res, args.json, _filters(args))
            print(f"wrote {n} cable records to {args.json}")
    except BenchError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot write the export: {exc}")
    return EXIT_OK


def _worst_margins(res: Any) -> dict[int, float]:
    worst: dict[int, float] = {}
    for index, margin in zip(res.fibers["record_index"].tolist(), res.fibers["margin_db"].tolist(), strict=True):
        worst[index] = min(margin, worst.get(index, margin))
    return worst


def run_query(args: argparse.Namespace) -> int:
    try:
        res = load_results(args.file, **_filters(args))
    except BenchError as exc:
        return _fail(str(exc))
    # load_results has logged which records it could not read (stderr unless logging is set up).
    if args.json:
        docs = list(cable_documents(res, with_power_matrix=False))
        print(json.dumps({"store": args.file, "n_cables": len(docs), "cables": docs,
                          "unreadable": [u.as_dict() for u in res.unreadable]}, indent=1, ensure_ascii=False))
        return EXIT_OK
    worst = _worst_margins(res)
    suspect = res.suspect
    # The full stamp (microseconds): two attempts within a second stay told apart.
    print(f"{'record':>7}  {'serial':<20} {'lot':<12} {'try':>3}  {'started (UTC)':<27}  {'outcome':<11}"
          f" {'fibers':>6}  {'worst margin dB':>15}  mark")
    for row in res.cables:
        margin = worst.get(int(row["record_index"]))
        mark = "SUSPECT" if int(row["record_index"]) in suspect else ""
        print(f"{row['record_index']:>7}  {row['serial']:<20} {row['lot']:<12} {row['attempt']:>3}  "
              f"{row['started_utc']:<27}  {row['outcome']:<11} {row['n_fibers']:>6}  "
              f"{'' if margin is None else f'{margin:+.3f}':>15}  {mark}".rstrip())
    counts: dict[str, int] = {}
    for outcome in res.cables["outcome"].tolist():
        counts[outcome] = counts.get(outcome, 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no records match"
    unreadable = f"; {len(res.unreadable)} more cannot be read (see the warning)" if res.unreadable else ""
    marked = (f"; {len(suspect)} SUSPECT (graded before a failed golden check: retest them)" if suspect else "")
    print(f"{len(res.cables)} cable record(s): {summary}{marked}{unreadable}")
    return EXIT_OK


def add_subcommands(subparsers: Any) -> None:
    """Add `verify`, `export` and `query` to the `bench` command's subparsers."""
    verify = subparsers.add_parser(
        "verify", help="check that no stored record changed since it was written",
        description="Recompute the sha256 of every cable and reference record in an HDF5 results store, "
                    "compare it with the hash stored when the record was written, and check the tables against "
                    "each other (query index, fiber and matrix rows, JSON documents). Reads chunk by chunk "
                    "where needed, so every readable record is checked and every unreadable range is named. "
                    "Exit status: 0 all records intact; 1 TAMPERED: at least one record was changed (listed); "
                    "2 the file could not be checked (no such file, not a results store); 3 DAMAGED: part of "
                    "the file cannot be read (ranges and records listed; see `bench repair`).")
    verify.add_argument("file", help="HDF5 results store (.h5)")
    verify.add_argument("--json", action="store_true", help="print the report as JSON (for line scripts)")
    verify.set_defaults(func=run_verify)

    repair = subparsers.add_parser(
        "repair", help="rebuild a damaged store from its readable records",
        description="Copy every readable committed record of a damaged store into a fresh file, verify it, and "
                    "put it in place of the original, which is kept as <store>.damaged-<utc>. Unreadable chunks "
                    "(raw bytes) and what the query index says of each lost record go to "
                    "<store>.quarantine-<utc>/. Record numbers of lost records are never given again; the "
                    "repair is recorded in the file. Takes the writer lock: stop the bench first. Run "
                    "`bench verify` before, to see what will be lost.")
    repair.add_argument("file", help="HDF5 results store (.h5)")
    repair.add_argument("--json", action="store_true", help="print what was done as JSON")
    repair.set_defaults(func=run_repair)

    export = subparsers.add_parser(
        "export", help="write stored results to CSV or JSON",
        description="Export cable records from an HDF5 results store. CSV: one row per fiber and wavelength, "
                    "with the cable's provenance repeated on each row. JSON: one object per cable with its "
                    "fibers, recipe snapshot, instruments and power matrix (NaN as null).")
    export.add_argument("file", help="HDF5 results store (.h5)")
    target = export.add_mutually_exclusive_group(required=True)
    target.add_argument("--csv", metavar="OUT", help="write CSV to this path")
    target.add_argument("--json", metavar="OUT", help="write JSON to this path")
    _add_filters(export)
    export.set_defaults(func=run_export)

    query = subparsers.add_parser(
        "query", help="list stored cable records matching filters",
        description="List cable records of an HDF5 results store (one line per test attempt, with the worst "
                    "fiber margin), or print them as JSON with --json. Safe while a bench is writing.")
    query.add_argument("file", help="HDF5 results store (.h5)")
    query.add_argument("--json", action="store_true", help="print matching records as JSON (without matrices)")
    _add_filters(query)
    query.set_defaults(func=run_query)
