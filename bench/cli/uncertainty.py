"""`bench uncertainty`: the GUM table and U of a station + recipe, or a stored study's pooled σ."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_subcommands(subparsers: Any) -> None:
    """Register `bench uncertainty` on the main CLI's subparsers."""
    parser = subparsers.add_parser(
        "uncertainty", help="print the uncertainty budget (GUM table) and U of a station and recipe",
        description="With --station and --recipe: the uncertainty budget of one IL reading on that station "
                    "(the station's [uncertainty] and the recipe's [decision_rule.budget]), each contribution's "
                    "u_i and sensitivity, u_c and U = k·u_c, as the session grades with it. With --store and "
                    "--study: the pooled σ of a stored repeatability study and the TOML line to paste into the "
                    "budget.",
        epilog="docs/grading.md, section 'Uncertainty budget'")
    parser.add_argument("--station", help="station TOML")
    parser.add_argument("--recipe", help="recipe TOML")
    parser.add_argument("--store", help="HDF5 results file holding a repeatability study")
    parser.add_argument("--study", help="study_id of a stored repeatability study (with --store)")
    parser.add_argument("--as", dest="as_name", choices=("connector_repeatability", "reference_repeatability"),
                        default="connector_repeatability",
                        help="which contribution the study gives (default connector_repeatability: per mated "
                             "connection, the pooled σ divided by √connections of the study's recipe)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run_uncertainty)


def run_uncertainty(args: argparse.Namespace) -> int:
    from bench.errors import ConfigError

    if args.store or args.study:
        if not (args.store and args.study) or args.station or args.recipe:
            raise ConfigError("bench uncertainty", "--study", "--store and --study go together, without "
                              "--station/--recipe", "give --store FILE --study ID, or --station S --recipe R")
        return _study(args)
    if not (args.station and args.recipe):
        raise ConfigError("bench uncertainty", "--station", "a station and a recipe are needed",
                          "give --station S --recipe R, or --store FILE --study ID")
    return _budget(args)


def _budget(args: argparse.Namespace) -> int:
    from bench.operator.line import load_station_and_recipe

    config, recipe = load_station_and_recipe(args.station, args.recipe)
    rule = recipe.decision_rule
    budget = rule.budget
    assert budget is not None  # load_station_and_recipe gives every rule its budget
    if args.json:
        json.dump({"station": config.source_path, "recipe": recipe.source, "decision_rule": rule.kind,
                   "uncertainty_db": rule.uncertainty_db, "budget": budget.as_dict()}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"station {config.name} ({config.source_path}), recipe {recipe.name} ({recipe.source})")
    print(budget.format_table())
    print(f"decision rule: {rule.describe()}")
    return 0


def _study(args: argparse.Namespace) -> int:
    from bench.grading.uncertainty_study import pooled_repeatability

    pooled = pooled_repeatability(args.store, args.study)
    line = pooled.toml_line(args.as_name)
    if args.json:
        json.dump({"study_id": pooled.study_id, "serial": pooled.serial, "matings": pooled.matings,
                   "readings": pooled.readings, "pooled_sigma_db": pooled.pooled_sigma_db,
                   "connections": pooled.connections, "contribution": args.as_name,
                   "value_db": pooled.value_db(args.as_name), "toml": line}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"repeatability study {pooled.study_id} of {pooled.serial}: {pooled.matings} matings, "
          f"{pooled.n_sigmas} fiber×wavelength σ")
    print(f"pooled σ (RMS over fibers and wavelengths) = {pooled.pooled_sigma_db:.4f} dB")
    table = "the recipe's [decision_rule.budget]" if args.as_name == "connector_repeatability" else \
        "the station's [uncertainty]"
    print(f"paste into {table}:")
    print(line)
    return 0
