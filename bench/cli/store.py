"""`bench verify`, `bench export` and `bench query`: the results store from the command line.

All three only read the store (SWMR), so they can run while a bench is writing.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bench.errors import BenchError
from bench.store import export_csv, export_json, load_results, verify_store
from bench.store.export import cable_documents

EXIT_OK, EXIT_TAMPERED, EXIT_ERROR = 0, 1, 2


def _add_filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters (combined with AND; omit all to select every record)")
    group.add_argument("--serial", help="exact cable serial number")
    group.add_argument("--lot", help="exact lot name")
    group.add_argument("--since", metavar="UTC",
                       help="tests started at or after this UTC time, e.g. 2024-05-01 or 2024-05-01T06:00:00Z")
    group.add_argument("--until", metavar="UTC", help="tests started strictly before this UTC time")
    group.add_argument("--outcome", action="append", choices=("PASS", "CONDITIONAL", "FAIL", "ERROR", "ABORTED"),
                       help="cable outcome; repeat the option to accept several")


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    return {"serial": args.serial, "lot": args.lot, "since_utc": args.since, "until_utc": args.until,
            "outcome": args.outcome}


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def run_verify(args: argparse.Namespace) -> int:
    try:
        report = verify_store(args.file)
    except BenchError as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(f"{report.path}: {report.n_records} cable records, {report.n_references} references checked")
        for index, serial, why in report.bad:
            print(f"  TAMPERED cable record {index} (serial {serial}): {why}")
        for index, reference_id, why in report.bad_references:
            print(f"  TAMPERED reference record {index} ({reference_id}): {why}")
        print("OK: every record matches its hash" if report.ok
              else f"FAILED: {len(report.bad) + len(report.bad_references)} record(s) changed after writing")
    return EXIT_OK if report.ok else EXIT_TAMPERED


def run_export(args: argparse.Namespace) -> int:
    try:
        if args.csv:
            n = export_csv(args.file, args.csv, **_filters(args))
            print(f"wrote {n} fiber rows to {args.csv}")
        else:
            n = export_json(args.file, args.json, **_filters(args))
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
    if args.json:
        docs = list(cable_documents(res, with_power_matrix=False))
        print(json.dumps({"store": args.file, "n_cables": len(docs), "cables": docs}, indent=1, ensure_ascii=False))
        return EXIT_OK
    worst = _worst_margins(res)
    print(f"{'record':>7}  {'serial':<20} {'lot':<12} {'try':>3}  {'started (UTC)':<20}  {'outcome':<11}"
          f" {'fibers':>6}  {'worst margin dB':>15}")
    for row in res.cables:
        margin = worst.get(int(row["record_index"]))
        print(f"{row['record_index']:>7}  {row['serial']:<20} {row['lot']:<12} {row['attempt']:>3}  "
              f"{row['started_utc'][:20]:<20}  {row['outcome']:<11} {row['n_fibers']:>6}  "
              f"{'' if margin is None else f'{margin:+.3f}':>15}")
    counts: dict[str, int] = {}
    for outcome in res.cables["outcome"].tolist():
        counts[outcome] = counts.get(outcome, 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no records match"
    print(f"{len(res.cables)} cable record(s): {summary}")
    return EXIT_OK


def add_subcommands(subparsers: Any) -> None:
    """Add `verify`, `export` and `query` to the `bench` command's subparsers."""
    verify = subparsers.add_parser(
        "verify", help="check that no stored record changed since it was written",
        description="Recompute the sha256 of every cable and reference record in an HDF5 results store and "
                    "compare it with the hash stored when the record was written. Exit status: 0 all records "
                    "intact, 1 at least one record was changed (listed), 2 the file could not be checked.")
    verify.add_argument("file", help="HDF5 results store (.h5)")
    verify.add_argument("--json", action="store_true", help="print the report as JSON (for line scripts)")
    verify.set_defaults(func=run_verify)

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
