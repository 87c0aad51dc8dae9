"""The `bench` command line: demo, technician and line interfaces, store and grading tools."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.errors import BenchError


def _demo(args: argparse.Namespace) -> int:
    from bench.config import load_station
    from bench.demo import run_demo
    from bench.recipe import load_recipe

    station = load_station(args.station) if args.station else None
    recipe = None
    if args.recipe:
        recipe = load_recipe(args.recipe, station_wavelengths_nm=station.wavelengths_nm if station else None,
                             station_fiber_capacity=station.fiber_capacity if station else None)
    run_demo(cables=args.cables, seed=args.seed, station=station, recipe=recipe,
             store_path=Path(args.store) if args.store else None)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench",
        description="Insertion-loss testing of MPO/MTP cables: drive the instruments, grade every fiber, "
                    "keep every result in HDF5. Start with 'bench demo' (no hardware needed).")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True

    demo = subparsers.add_parser(
        "demo", help="test a simulated lot of 20 MTP trunks end to end on the virtual bench",
        description="Start the virtual bench (simulated source, switch and meters on 127.0.0.1), take a "
                    "reference, test a lot of simulated cables (some seeded to fail), print a PASS/FAIL "
                    "table and the path of the HDF5 file written.")
    demo.add_argument("--station", help="station TOML (default: the shipped demo station)")
    demo.add_argument("--recipe", help="recipe TOML (default: the shipped 12-fiber Type-B trunk)")
    demo.add_argument("--cables", type=int, default=20, help="number of simulated cables (default 20)")
    demo.add_argument("--seed", type=int, default=2026, help="simulator seed (default 2026)")
    demo.add_argument("--store", help="HDF5 file to append to (default: a new results/demo-<time>.h5)")
    demo.set_defaults(func=_demo)

    from bench import cli_grading, cli_store
    cli_store.add_subcommands(subparsers)
    cli_grading.add_subcommands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
