"""`bench sync` and `bench fleet ...`: forward a station's store, query the fleet database."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.errors import ConfigError

SYNC_EPILOG = """\
exit status: 0 every record sent and accepted, 1 the server reported an incident (a changed record,
a gap, a broken hash chain: nothing was overwritten), 2 an error (configuration, server unreachable).
Password: PGPASSWORD or a PostgreSQL password file, never the station file. Guide: docs/fleet.md."""

# bench fleet <name> -> (view, help, filters offered as options)
_VIEW_COMMANDS = {
    "yield": ("yield_by_lot", "yield and first-pass yield per lot (and product)", ("lot", "product")),
    "yield-by-product": ("yield_by_product", "yield and first-pass yield per product", ("product",)),
    "yield-by-station": ("yield_by_station", "attempt and first-pass yield per station", ("station_name",)),
    "yield-by-day": ("yield_by_day", "attempt and first-pass yield per day", ("day",)),
    "yield-by-station-day": ("yield_by_station_day", "attempt and first-pass yield per station and day",
                             ("day", "station_name")),
    "failures": ("failure_causes_by_lot", "failure causes ranked, per lot", ("lot", "product")),
    "failures-all": ("failure_causes", "failure causes ranked over the whole fleet", ()),
    "positions": ("il_by_position", "IL statistics per ferrule position (per lot, station, wavelength)",
                  ("lot", "product", "station_name", "wavelength_nm", "fiber_position")),
    "retests": ("retests", "serials tested more than once", ("lot", "product", "serial")),
    "suspects": ("suspect_awaiting_retest", "records marked SUSPECT whose serial was not tested since",
                 ("lot", "product", "serial", "station_name")),
}
_OPTION_TYPES = {"wavelength_nm": float, "fiber_position": int}


def _station_and_settings(args: argparse.Namespace) -> tuple[Any, Any]:
    from bench.config.station import load_station
    from bench.fleet.settings import fleet_settings_of

    station = load_station(args.station)
    return station, fleet_settings_of(station)


def _store_of(args: argparse.Namespace, station: Any) -> Path:
    path = Path(args.store or station.store_path)
    if not path.is_file():
        raise ConfigError(args.store or station.source_path, "store" if args.store else "station.store_path",
                          f"no results store at {path}", "give the HDF5 file the station writes (--store)")
    return path


def _connect(args: argparse.Namespace, application_name: str, settings: Any = None) -> Any:
    """A connection with the station's [fleet] settings (read here unless given), as --user if given."""
    from bench.fleet.forwarder import connect

    if settings is None:
        _station, settings = _station_and_settings(args)
    if getattr(args, "user", None):
        from dataclasses import replace

        settings = replace(settings, user=args.user)
    return connect(settings, application_name)


def _sync(args: argparse.Namespace) -> int:
    from bench.fleet.forwarder import connect, sync_store

    station, settings = _station_and_settings(args)
    store = _store_of(args, station)
    with connect(settings) as conn:
        report = sync_store(conn, store, station.name, batch_cables=args.batch or settings.batch_cables,
                            resend_from=args.resend_from)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(f"{station.name}: {report.cables_new} new record(s), {report.duplicates} already held, "
              f"{report.references_new} new reference(s) in {report.batches} batch(es)")
        for incident in report.incidents:
            print(f"INCIDENT {incident['kind']}: {incident['detail']}", file=sys.stderr)
    return 0 if report.ok else 1


def _migrate(args: argparse.Namespace) -> int:
    from bench.fleet.migrate import migrate

    with _connect(args, "bench-fleet-migrate") as conn:
        applied = migrate(conn)
    print(f"applied migration(s) {', '.join(map(str, applied))}" if applied else "schema already current")
    return 0


def _check(args: argparse.Namespace) -> int:
    from bench.fleet.check import check_station

    station, settings = _station_and_settings(args)
    store = _store_of(args, station)
    with _connect(args, "bench-fleet-check", settings) as conn:
        report = check_station(conn, store, station.name)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(f"{station.name}: {report.n_store} record(s) in {store}, {report.n_server} on the server, "
              f"{len(report.not_yet_sent)} not yet sent: {'OK' if report.ok else 'MISMATCH'}")
        for item in report.store_tampered:
            print(f"store record {item['record_index']} ({item['serial']}) fails its hash: {item['why']}")
        for item in report.differing:
            print(f"record {item['record_index']} ({item['serial']}) differs on the server: "
                  f"{', '.join(item['fields'])}")
        for index in report.only_on_server:
            print(f"record {index} is on the server but not in the store")
    return 0 if report.ok else 1


def _print_rows(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("(no rows)")
        return
    names = list(rows[0])
    cells = [[("" if r[n] is None else f"{r[n]:.4g}" if isinstance(r[n], float) else str(r[n])) for n in names]
             for r in rows]
    widths = [max(len(n), *(len(c[k]) for c in cells)) for k, n in enumerate(names)]
    print("  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)))


def _view(args: argparse.Namespace) -> int:
    from bench.fleet.queries import view_rows

    view, _help, filters = _VIEW_COMMANDS[args.fleet_command]
    with _connect(args, "bench-fleet") as conn:
        rows = view_rows(conn, view, limit=args.limit, **{f: getattr(args, f) for f in filters})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_rows(rows)
    return 0


def _results(args: argparse.Namespace) -> int:
    from bench.fleet.queries import fleet_results

    with _connect(args, "bench-fleet") as conn:
        res = fleet_results(conn, serial=args.serial, lot=args.lot, since_utc=args.since, until_utc=args.until,
                            outcome=args.outcome, station_name=args.station_name)
    cables = [{n: row[n].item() for n in res.cables.dtype.names} for row in res.cables]
    if args.json:
        print(json.dumps({"cables": cables, "n_fibers": len(res.fibers)}, indent=2))
    else:
        _print_rows([{k: c[k] for k in ("station_name", "record_index", "serial", "lot", "attempt", "outcome",
                                        "started_utc")} for c in cables])
    return 0


def _add_station(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--station", required=True, help="station TOML with a [fleet] table (host, port, dbname, "
                        "user, sslmode); the password comes from PGPASSWORD or a pgpass file")


def add_subcommands(subparsers: Any) -> None:
    sync = subparsers.add_parser(
        "sync", help="send the station's records not yet on the fleet database (PostgreSQL)",
        description="Send every committed cable record and reference of the station's HDF5 store that the fleet "
                    "database has not acknowledged, in batches (one transaction each). Safe to repeat and to "
                    "kill: a repeat is counted as already held, a killed batch is sent again next time.",
        epilog=SYNC_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_station(sync)
    sync.add_argument("--store", help="HDF5 results file (default: the station's store_path)")
    sync.add_argument("--batch", type=int, help="records per transaction (default: [fleet] batch_cables, 200)")
    sync.add_argument("--resend-from", type=int, metavar="N", help="send again from record N: the server "
                      "compares each hash with the one it holds and reports any difference")
    sync.add_argument("--json", action="store_true", help="print the sync report as JSON")
    sync.set_defaults(func=_sync)

    fleet = subparsers.add_parser("fleet", help="query the fleet database: yield, failures, IL per position, ...",
                                  description="Questions about every station at once, answered by the fleet "
                                              "database's views (docs/fleet.md).")
    commands = fleet.add_subparsers(dest="fleet_command", metavar="QUESTION")
    commands.required = True
    for name, (view, help_text, filters) in _VIEW_COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=f"{help_text} (view fleet.{view}).")
        _add_station(sub)
        for f in filters:
            sub.add_argument(f"--{f.replace('_', '-')}", dest=f, type=_OPTION_TYPES.get(f, str))
        sub.add_argument("--limit", type=int, help="at most this many rows")
        sub.add_argument("--json", action="store_true", help="print the rows as JSON")
        sub.set_defaults(func=_view)
    results = commands.add_parser("results", help="attempts across stations (load_results() columns)")
    _add_station(results)
    for option in ("serial", "lot", "since", "until", "outcome", "station-name"):
        results.add_argument(f"--{option}", dest=option.replace("-", "_"))
    results.add_argument("--json", action="store_true", help="print the attempts as JSON")
    results.set_defaults(func=_results)
    check = commands.add_parser("check", help="compare the server's rows with the station's store, verify both",
                                description="Verify the station's store (record hashes) and compare every "
                                            "server row of the station with it. Exit 0 identical, 1 a difference.")
    _add_station(check)
    check.add_argument("--store", help="HDF5 results file (default: the station's store_path)")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=_check)
    migrate = commands.add_parser("migrate", help="create or upgrade the fleet schema (run once, as its owner)")
    _add_station(migrate)
    migrate.add_argument("--user", help="role to connect as (the schema owner; default: [fleet] user)")
    migrate.set_defaults(func=_migrate)


def run_with_sync(args: argparse.Namespace, body: Any) -> int:
    """Run `body()` (a test session) with the forwarder beside it when `--sync` was given.

    The [fleet] table is validated first, before any instrument is touched; the server being
    down never stops the session (the forwarder retries each round and once more at the end).
    """
    if not getattr(args, "sync", False):
        return int(body())
    from bench.fleet.forwarder import BackgroundForwarder

    station, settings = _station_and_settings(args)
    forwarder = BackgroundForwarder(settings, Path(args.store or station.store_path), station.name)
    forwarder.start()
    try:
        return int(body())
    finally:
        report = forwarder.stop()
        if report is None:
            print(f"bench sync: the fleet database was not reached ({forwarder.last_error}); the results are "
                  "safe in the store: run 'bench sync' later", file=sys.stderr)
        else:
            print(f"bench sync: {report.cables_new} record(s) sent in the last round, "
                  f"{len(report.incidents)} incident(s)", file=sys.stderr)
