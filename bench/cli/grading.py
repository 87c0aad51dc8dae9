"""`bench lot-stats`: statistics, yield, Cpk and IEC 61753-1 grade of a lot in a results file."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bench.errors import BenchError


def add_subcommands(subparsers: Any) -> None:
    """Register the grading subcommands on the main CLI's subparsers."""
    parser = subparsers.add_parser(
        "lot-stats",
        help="print per-fiber statistics, yield, Cpk and the IEC 61753-1 grade of a lot",
        description=(
            "Read every cable of a lot from a results file and print, per fiber position and wavelength, "
            "the mean, sigma, max and percentiles of insertion loss, the yield, Cpk against the limit and "
            "the IEC 61753-1 grade the lot qualifies for. Each cable counts once (its latest attempt)."
        ),
    )
    parser.add_argument("file", help="HDF5 results file")
    parser.add_argument("--lot", required=True, help="lot to summarise")
    parser.add_argument("--json", action="store_true", help="print JSON for line scripts instead of a table")
    parser.add_argument(
        "--fiber-type",
        choices=("SM", "MM"),
        default=None,
        help="grade table to use (default: the fiber type in the lot's stored recipe, else SM; there is no MM table)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=1,
        help="mated connections in each IL reading, for grading per connection "
        "(default 1: the whole loss is charged to one connection, which never over-grades a lot)",
    )
    parser.set_defaults(func=run_lot_stats)


def _load_results(path: str, lot: str) -> Any:
    # Imported here so that `bench --help` works without h5py and the store.
    from bench.store import load_results

    return load_results(path, lot=lot)


def _stored_fiber_types(results: Any) -> set[str]:
    """Fiber types named by the recipe snapshots stored with the lot (one read per recipe name)."""
    if not hasattr(results, "recipe_snapshot"):
        return set()
    first_record_of_recipe: dict[str, int] = {}
    for record_index, recipe_name in zip(results.cables["record_index"], results.cables["recipe_name"], strict=True):
        first_record_of_recipe.setdefault(str(recipe_name), int(record_index))
    fiber_types = set()
    for record_index in first_record_of_recipe.values():
        fiber_type = results.recipe_snapshot(record_index).get("fiber_type")
        if fiber_type:
            fiber_types.add(str(fiber_type))
    return fiber_types


def run_lot_stats(args: argparse.Namespace) -> int:
    from bench.grading.lot_stats import lot_statistics

    if args.connections < 1:
        print("error: --connections must be at least 1", file=sys.stderr)
        return 2
    try:
        results = _load_results(args.file, args.lot)
    except FileNotFoundError:
        print(f"error: {args.file}: no such results file", file=sys.stderr)
        return 2
    except (BenchError, OSError) as error:
        print(f"error: {args.file}: {error}", file=sys.stderr)
        return 2
    if results.cables.size == 0:
        print(f"error: {args.file}: no records for lot '{args.lot}' (check the lot name)", file=sys.stderr)
        return 2
    fiber_types = {args.fiber_type} if args.fiber_type else _stored_fiber_types(results)
    if len(fiber_types) > 1:
        print(
            f"error: lot '{args.lot}' mixes fiber types {sorted(fiber_types)}; "
            "grade it with --fiber-type SM or --fiber-type MM",
            file=sys.stderr,
        )
        return 2
    fiber_type = fiber_types.pop() if fiber_types else "SM"
    stats = lot_statistics(
        results.fibers, results.cables, lot=args.lot, fiber_type=fiber_type, connections=args.connections,
        suspect=results.suspect,
    )
    if args.json:
        print(json.dumps(stats.to_dict(), indent=2, allow_nan=False))
    else:
        print(stats.format_table())
    return 0
