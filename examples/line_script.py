"""Test N cables unattended, the way a production-line script does.

    python examples/line_script.py --cables 10 --fail 3 --store results/line.h5 --certificates certificates

It uses the documented API only: `bench.sim_launch.open_bench` opens the
station (through `bench.operator.line.open_line_bench` on a real one), the
results store and a `TestSession`, and returns a `LineBench` whose
`test(serial)` connects the cable (through the fixture), measures, grades,
stores and writes the certificate. Nothing prompts.

With the shipped demo station (backend = "virtual") the simulated instruments
run in this process and each serial gets a simulated cable; `--fail K` seeds
the K-th cable (1-based) to fail. On a real station, call `open_line_bench`
with a `fixture=` object with `connect(serial)` / `disconnect()` methods that
drive your cable handler, and make sure the fixture holds the reference cords
when a reference is taken.

Exit status: 0 every cable PASS, 1 any cable not PASS, 2 an error (a cable
ERROR, a bad configuration, instruments unreachable).
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path

from bench.errors import BenchError
from bench.operator.line import EXIT_ERROR, exit_code_for
from bench.sim_launch import SimOptions, open_bench


def shipped(name: str) -> str:
    return str(resources.files("bench").joinpath("examples", name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--station", default=shipped("station_demo.toml"), help="station TOML (default: demo)")
    parser.add_argument("--recipe", default=shipped("recipe_demo.toml"), help="recipe TOML (default: demo)")
    parser.add_argument("--cables", type=int, default=10, help="number of cables (default 10)")
    parser.add_argument("--first", type=int, default=1, help="number of the first serial (default 1)")
    parser.add_argument("--fail", type=int, action="append", default=[], metavar="K",
                        help="virtual station: the K-th cable (1-based) is seeded to fail; repeatable")
    parser.add_argument("--store", default="results/line.h5", help="HDF5 results file (default results/line.h5)")
    parser.add_argument("--certificates", help="folder for one PDF certificate per cable")
    parser.add_argument("--lot", default="LINE-LOT-1")
    parser.add_argument("--operator", default="line-script")
    parser.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    args = parser.parse_args(argv)

    serials = [f"MTP12-{args.first + i:06d}" for i in range(args.cables)]
    seeded = [serials[k - 1] for k in args.fail if 1 <= k <= len(serials)]
    results = []
    try:
        with open_bench(args.station, args.recipe, operator=args.operator, lot=args.lot, store=args.store,
                        certificate_dir=args.certificates, sim=SimOptions(fail_serials=tuple(seeded))) as bench:
            for serial in serials:
                problem = bench.reference_problem()
                if problem:  # first cable, or the reference expired (age or count)
                    bench.take_reference()
                result = bench.test(serial)
                results.append(result)
                if not args.json:
                    print(f"{serial}  {result.verdict:<11} failing fibers: "
                          f"{', '.join(map(str, result.failing_fibers)) or '-'}", flush=True)
            store_path = bench.store_path
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    code = exit_code_for(r.verdict for r in results)
    if args.json:
        print(json.dumps({"store": str(store_path), "exit_code": code,
                          "cables": [r.as_dict() for r in results]}, indent=1))
    else:
        passed = sum(r.verdict == "PASS" for r in results)
        print(f"{passed}/{len(results)} PASS; results in {Path(store_path).resolve()}; exit code {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
