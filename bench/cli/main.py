"""The `bench` command line: demo, technician and line interfaces, store and grading tools."""

from __future__ import annotations

import argparse
import contextlib
import functools
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.errors import BenchError
from bench.exit_codes import ExitCode

EPILOG = """\
exit status (every command): 0 done (line/run: every cable PASS), 1 a measured cable FAIL or
CONDITIONAL (verify: a record fails its hash), 2 refused input (configuration, serial, arguments,
unusable store, unreachable instruments) or a cable ERROR, 3 the store is DAMAGED (verify),
4 internal error (a bug, traceback on stderr), 130 interrupted (Ctrl-C or SIGTERM).
Start with 'bench demo' (no hardware needed); the technician and line guide is docs/operator.md."""


def _demo(args: argparse.Namespace) -> int:
    from bench.config.recipe import load_recipe
    from bench.config.station import load_station
    from bench.sim_launch import run_demo

    station = load_station(args.station) if args.station else None
    recipe = None
    if args.recipe:
        recipe = load_recipe(args.recipe, station_wavelengths_nm=station.wavelengths_nm if station else None,
                             station_fiber_capacity=station.fiber_capacity if station else None)
    run_demo(cables=args.cables, seed=args.seed, station=station, recipe=recipe,
             store_path=Path(args.store) if args.store else None)
    return 0


def _run(args: argparse.Namespace) -> int:
    from bench.cli.fleet import run_with_sync
    from bench.operator.technician import run_technician
    from bench.sim_launch import SimOptions, open_bench

    return run_with_sync(args, lambda: run_technician(
        args, sys.stdin, sys.stdout, open_bench=functools.partial(open_bench, sim=SimOptions.from_args(args))))


def _line(args: argparse.Namespace) -> int:
    from bench.cli.fleet import run_with_sync
    from bench.cli.line import run_line_command

    return run_with_sync(args, lambda: run_line_command(args, sys.stdout, sys.stderr, sys.stdin))


def _certificate(args: argparse.Namespace) -> int:
    from bench.config.station import load_station
    from bench.report.certificate import certificate_from_store
    from bench.report.certificate_pdf import write_certificate
    from bench.report.issuer import issuer_from_station

    issuer = issuer_from_station(load_station(args.station)) if args.station else None
    data = certificate_from_store(args.file, args.serial, attempt=args.attempt, issuer=issuer)
    path = (write_certificate(data, path=args.out) if args.out
            else write_certificate(data, directory=args.dir))
    print(f"{data.outcome} certificate of {data.serial} (attempt {data.attempt}): {path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from bench.report.files import safe_file_stem
    from bench.report.lot_report import load_lot_report_data, write_lot_report

    data = load_lot_report_data(args.file, args.lot, fiber_type=args.fiber_type)
    fmt = args.format
    if args.out:
        out = Path(args.out)
    else:
        out = Path(f"lot-{safe_file_stem(args.lot)}.{fmt or 'pdf'}")
    path = write_lot_report(data, out, fmt=fmt)
    yield_text = "-" if data.stats.yield_fraction is None else f"{100 * data.stats.yield_fraction:.1f} %"
    print(f"lot {data.lot}: {data.stats.n_cables} cables, yield {yield_text}; report: {path}")
    return 0


def _add_bench_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--station", required=True, help="station TOML (instruments, fixture wiring, reference "
                        "policy), e.g. bench/examples/station_demo.toml")
    parser.add_argument("--recipe", required=True, help="product recipe TOML (fiber count, polarity, "
                        "wavelengths, limits), e.g. bench/examples/recipe_demo.toml")
    parser.add_argument("--store", help="HDF5 results file to append to (default: the station's store_path)")
    parser.add_argument("--certificates", metavar="DIR",
                        help="write a PDF certificate per measured cable into DIR (names from the serial, made "
                             "file-name safe; existing files are never overwritten)")
    parser.add_argument("--accept-golden-baseline", action="store_true",
                        help="the station's golden cable is uncertified: accept its reading after this run's "
                             "first reference as the baseline later checks compare with (only on a reference "
                             "you trust; certified values in the station file need no baseline)")
    parser.add_argument("--sync", action="store_true", help="forward results to the fleet database (the "
                        "station's [fleet] table) while testing; testing goes on if it is unreachable")
    sim = parser.add_argument_group("virtual station only (backend = \"virtual\")")
    sim.add_argument("--sim-fail", action="append", metavar="SERIAL",
                     help="the simulated cable with this serial has one or two fibers far above the limit "
                          "(repeat for several)")
    sim.add_argument("--sim-laser-off", action="append", metavar="SERIAL",
                     help="the simulated source's laser goes off while this cable is measured (as an interlock "
                          "would): the bench reports an ERROR, not a FAIL (repeat for several)")
    sim.add_argument("--sim-seed", type=int, default=0, help="simulator seed (default 0): same serial and seed "
                     "give the same simulated cable")
    sim.add_argument("--sim-latency", type=float, default=0.0, metavar="SECONDS",
                     help="extra seconds per simulated meter reading, to make a cable take as long as on a "
                          "real bench (default 0)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench",
        description="Insertion-loss testing of MPO/MTP cables: drive the instruments, grade every fiber, "
                    "keep every result in HDF5. Start with 'bench demo' (no hardware needed).",
        epilog=EPILOG)
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

    run = subparsers.add_parser(
        "run", help="technician flow: scan, connect, test, PASS/FAIL, next cable (interactive)",
        description="The technician's loop in a terminal. Asks for the operator and the lot, takes a reference "
                    "if none is valid, then for each cable: scan or type the serial (checked against the "
                    "recipe's pattern), connect the cable and press Enter, watch the progress, read the large "
                    "PASS/FAIL with the failing fibers named. At the serial prompt: R re-reference, T retest "
                    "the last cable, Q quit (then Enter). Ctrl-C during a measurement aborts that cable only "
                    "(stored as ABORTED). Needs a terminal; for scripts use 'bench line'.",
        epilog="guide: docs/operator.md")
    _add_bench_options(run)
    run.add_argument("--operator", help="operator name (default: asked)")
    run.add_argument("--lot", help="lot (default: asked)")
    run.add_argument("--no-colour", "--no-color", action="store_true", help="plain text, no ANSI colours "
                     "(also when NO_COLOR is set)")
    run.set_defaults(func=_run)

    line = subparsers.add_parser(
        "line", help="production line: test serials unattended, --json (JSON Lines) for scripts, exit codes",
        description="Test the given cables without any prompt: take a reference (the fixture must hold the "
                    "reference cords only), then test each serial in order, storing every attempt. On a "
                    "virtual station the simulated cable for each serial is connected automatically; on a "
                    "real station a cable handler must load each one: drive it from Python "
                    "(bench.operator.line.open_line_bench with a Fixture, see examples/line_script.py). Exit status: "
                    "0 every cable PASS, 1 a cable FAIL/CONDITIONAL, 2 refused input or a cable ERROR, "
                    "4 internal error, 130 interrupted (Ctrl-C or SIGTERM stores the current cable as "
                    "ABORTED and stops).",
        epilog="example: bench line --station st.toml --recipe rc.toml --operator line3 --lot L42 --json "
               "MTP12-000001 MTP12-000002")
    _add_bench_options(line)
    line.add_argument("--operator", required=True, help="operator or line name recorded with every result")
    line.add_argument("--lot", required=True, help="lot recorded with every result")
    line.add_argument("--serials-file", metavar="FILE", help="read serials from FILE, one per line ('-': "
                      "standard input; '#' starts a comment)")
    line.add_argument("--json", action="store_true", help="JSON Lines: one object per cable, flushed when its "
                      "record is stored (outcome, per-fiber IL, record index and hash, ...), then a summary; "
                      "fields in docs/operator.md")
    line.add_argument("serials", nargs="*", metavar="SERIAL", help="serial numbers, tested in this order")
    line.set_defaults(func=_line)

    certificate = subparsers.add_parser(
        "certificate", help="write the PDF test certificate of a stored cable",
        description="Write the certificate of a cable from a results file: product, serial, date, station, "
                    "operator, reference method, per-fiber IL per wavelength with limits and margins, polarity, "
                    "verdict and a bar chart. Uses the latest attempt that has per-fiber results, or --attempt.")
    certificate.add_argument("file", help="HDF5 results file (.h5)")
    certificate.add_argument("serial", help="cable serial number")
    certificate.add_argument("--attempt", type=int, help="attempt number (default: the latest measured one)")
    certificate.add_argument("--station", metavar="STATION.toml",
                             help="station file whose [certificate] table names the issuer and approver")
    target = certificate.add_mutually_exclusive_group()
    target.add_argument("--out", help="PDF path to write (refused if it exists)")
    target.add_argument("--dir", default="certificates", help="folder for <serial>_attempt<n>.pdf "
                        "(default: certificates)")
    certificate.set_defaults(func=_certificate)

    report = subparsers.add_parser(
        "report", help="write a lot report (PDF or HTML): yield, histograms, box plots, lot statistics",
        description="Write the report of a lot from a results file: yield and first-pass yield, outcome counts, "
                    "IL histograms per wavelength with the limit, box plots per fiber position, the lot "
                    "statistics (mean, sigma, percentiles, Cpk) and the IEC 61753-1 grade, cables not passing.")
    report.add_argument("file", help="HDF5 results file (.h5)")
    report.add_argument("--lot", required=True, help="lot to report")
    report.add_argument("--out", help="output path, .pdf or .html (default: lot-<lot>.pdf; refused if it exists)")
    report.add_argument("--format", choices=("pdf", "html"), help="output format (default: from --out, else pdf)")
    report.add_argument("--fiber-type", choices=("SM", "MM"),
                        help="grade table (default: the fiber type of the lot's stored recipe)")
    report.set_defaults(func=_report)

    from bench.cli import fleet as cli_fleet
    from bench.cli import grading as cli_grading
    from bench.cli import store as cli_store
    from bench.cli import uncertainty as cli_uncertainty
    from bench.dashboard import command as cli_dashboard
    cli_store.add_subcommands(subparsers)
    cli_grading.add_subcommands(subparsers)
    cli_uncertainty.add_subcommands(subparsers)
    cli_fleet.add_subcommands(subparsers)
    cli_dashboard.add_subcommands(subparsers)
    return parser


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a line controller stopping the run) is handled exactly like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda _signum, _frame: signal.raise_signal(signal.SIGINT))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with terminate_as_interrupt():
        try:
            return int(args.func(args))
        except BenchError as error:
            print(f"error: {error}", file=sys.stderr)
            return ExitCode.REFUSED
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            return ExitCode.INTERRUPTED
        except BrokenPipeError:
            return closed_stdout()
        except Exception:  # noqa: BLE001 - a bug must never read as a cable verdict (exit 1)
            print(f"internal error (a bug in bench, not a verdict on any cable; please report it):\n"
                  f"{traceback.format_exc()}", file=sys.stderr)
            return ExitCode.INTERNAL


def closed_stdout() -> int:
    """The reader of standard output went away (`bench query ... | head`): stop quietly, exit 0."""
    from bench.cli.stream import silence

    silence(sys.stdout)
    return ExitCode.PASS

