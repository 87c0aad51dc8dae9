"""`bench dashboard`: serve the read-only dashboard of a results file (or the fleet database) over HTTP."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.errors import BenchError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050


def add_subcommands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dashboard", help="serve the read-only web dashboard (yield, lots, stations, serials, SPC) on 127.0.0.1",
        description="Serve the quality engineer's dashboard of one station's HDF5 results file, or of the "
                    "fleet database (--fleet): the plant today (live), lots, stations, serials and SPC charts of "
                    "IL per ferrule position. Read-only; binds 127.0.0.1 unless --host is given. "
                    "docs/dashboard.md.")
    parser.add_argument("file", nargs="?", help="HDF5 results file (.h5) to show")
    parser.add_argument("--fleet", metavar="CONNINFO",
                        help="show the fleet database instead, e.g. 'host=db.plant dbname=mpo_fleet "
                             "user=dashboard' (libpq keywords; the password from PGPASSWORD or ~/.pgpass; "
                             "log in as a role granted only fleet_reader)")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}: this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--refresh-s", type=int, default=10, metavar="SECONDS",
                        help="how often the plant-today page refreshes itself (default 10)")
    parser.set_defaults(func=run_dashboard)


def source_from_args(args: argparse.Namespace) -> Any:
    """The data source the arguments name, checked before the server starts."""
    from bench.dashboard.hdf5_source import Hdf5Source
    from bench.store import load_results

    if (args.file is None) == (args.fleet is None):
        raise BenchError("give either a results file or --fleet CONNINFO (one of them)")
    if args.fleet is not None:
        from bench.dashboard.fleet_source import FleetSource

        return FleetSource(args.fleet, description="fleet database")
    path = Path(args.file)
    if not path.is_file():
        raise BenchError(f"{path}: no such results file; give the .h5 file the bench wrote")
    load_results(path, serial="")  # refuses a file that is not a store before the server starts
    return Hdf5Source(path)


def run_dashboard(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from bench.dashboard.app import create_app
    except ImportError as missing:
        raise BenchError(f"bench dashboard needs the optional extra 'dashboard' ({missing.name} is not installed): "
                         "pip install 'mpo-bench[dashboard]'") from None

    if not 1 <= args.port <= 65535:
        raise BenchError(f"--port must be from 1 to 65535, got {args.port}")
    if not 1 <= args.refresh_s <= 3600:
        raise BenchError(f"--refresh-s must be from 1 to 3600 seconds, got {args.refresh_s}")
    source = source_from_args(args)
    app = create_app(source, refresh_s=args.refresh_s)
    print(f"dashboard of {source.description}: http://{args.host}:{args.port}/  (Ctrl-C stops it)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
