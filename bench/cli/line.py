"""`bench line`: the production line's command, serials in, one line (or one JSON document) per cable out.

The work is `bench.operator.line.LineBench`; this module reads the serials, reports, and maps the
outcomes to the exit code. A virtual station is opened through `bench.sim_launch.open_bench`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.operator.interrupt import DeferredInterrupt
from bench.operator.line import EXIT_ERROR, EXIT_INTERRUPTED, LineBench, ReferenceRequired, exit_code_for
from bench.records import Outcome
from bench.sim_launch import SimOptions, open_bench


def read_serials(serials: Sequence[str], serials_file: str | None, stdin: Any) -> list[str]:
    """Serials from the command line and/or a file ('-' is standard input), one per line; '#' comments."""
    found = list(serials)
    if serials_file:
        if serials_file == "-":
            text = stdin.read()
        else:
            try:
                text = Path(serials_file).read_text(encoding="utf-8")
            except OSError as error:
                raise BenchError(f"cannot read the serials file {serials_file} ({error.strerror}); "
                                 "check the path") from None
        found += [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not found:
        raise BenchError("no serial numbers given; list them after the options or give --serials-file FILE")
    return found


def run_line_command(args: Any, stdout: Any, stderr: Any, stdin: Any) -> int:
    """`bench line`: test the given serials unattended; no prompts. Returns the exit code."""
    report: dict[str, Any] = {"station": args.station, "recipe": args.recipe, "operator": args.operator,
                              "lot": args.lot, "store": None, "references": [], "cables": [],
                              "suspect": [], "retest": [], "interrupted": False, "error": None}
    human = not args.json

    def say(text: str) -> None:
        if human:
            stdout.write(text + "\n")
            stdout.flush()

    try:
        serials = read_serials(args.serials, args.serials_file, stdin)
        with open_bench(args.station, args.recipe, operator=args.operator, lot=args.lot, store=args.store,
                        certificate_dir=args.certificates, sim=SimOptions.from_args(args),
                        accept_golden_baseline=getattr(args, "accept_golden_baseline", False)) as bench:
            try:
                _test_serials(bench, serials, report, say)
                if not report["interrupted"]:
                    bench.finish()  # the closing golden check, inside the report
            finally:
                _note_suspect(bench, report, say)
        code = EXIT_INTERRUPTED if report["interrupted"] else exit_code_for(c["outcome"] for c in report["cables"])
    except BenchError as error:
        report["error"] = str(error)
        print(f"error: {error}", file=stderr)
        code = EXIT_ERROR
    except KeyboardInterrupt:
        report["interrupted"] = True
        print("interrupted", file=stderr)
        code = EXIT_INTERRUPTED
    _print_summary(report, code, args.json, stdout, say)
    return code


def _test_serials(bench: LineBench, serials: Sequence[str], report: dict[str, Any],
                  say: Callable[[str], None]) -> None:
    """Every serial in order, a reference first and whenever it expires; stops at a Ctrl-C."""
    report["store"] = str(bench.store_path.resolve())
    report["recipe_name"] = bench.recipe.name
    report["station_name"] = bench.config.name
    for serial in serials:
        bench.check_serial(serial)  # refuse a bad list before measuring anything
    say(f"station {bench.config.name} ({bench.config.backend}), recipe {bench.recipe.name}, "
        f"{len(serials)} cable(s), results in {report['store']}")
    for number, serial in enumerate(serials, start=1):
        _reference_if_needed(bench, report, number, len(serials), say)
        with DeferredInterrupt() as guard:
            try:
                result = bench.test(serial, progress=guard.wrap())
            except KeyboardInterrupt:
                report["interrupted"] = True
                report["cables"].append({"serial": serial, "outcome": Outcome.ABORTED,
                                         "reason": "interrupted (Ctrl-C); the run stopped"})
                bench.safe_state()
                if guard.forced:
                    bench.reconnect()
                say(f"{number:>4}  {serial:<24} ABORTED  (interrupted; the run stops here)")
                return
        report["cables"].append(result.as_dict())
        failing = ", ".join(map(str, result.failing_fibers)) or "-"
        say(f"{number:>4}  {serial:<24} {result.verdict:<11} failing fibers: {failing}"
            + (f"  certificate: {result.certificate}" if result.certificate else ""))
        if guard.requested:
            report["interrupted"] = True
            return


def _note_suspect(bench: LineBench, report: dict[str, Any], say: Callable[[str], None]) -> None:
    """SUSPECT marks of this run (bench.run.drift) into the report, with the retest list."""
    suspect = {cable.record_index: cable.reason for cable in bench.drift.suspect}
    for cable in report["cables"]:
        cable["suspect"] = suspect.get(cable.get("record_index", -1))
    report["suspect"] = [cable.as_dict() for cable in bench.drift.suspect]
    report["retest"] = bench.drift.retest_serials
    if suspect:
        say(f"{len(suspect)} cable(s) graded on a drifted bench are marked SUSPECT; retest: "
            + ", ".join(report["retest"]))


def _reference_if_needed(bench: LineBench, report: dict[str, Any], number: int, total: int,
                         say: Callable[[str], None]) -> None:
    """Take a reference when none is valid; mid-run only where the fixture needs no person for it."""
    problem = bench.reference_problem()
    if not problem:
        return
    if report["references"] and not bench.unattended_reference:
        raise ReferenceRequired(
            f"{problem} after {number - 1} cable(s); connect the reference cords and run "
            f"bench line again for the remaining {total - number + 1} serial(s)")
    say(f"taking a reference ({problem})")
    with DeferredInterrupt() as guard:
        record = bench.take_reference(progress=guard.wrap())
    report["references"].append({"reference_id": record.reference_id, "taken_utc": record.taken_utc,
                                 "method": record.method, "before_cable": number})


def _print_summary(report: dict[str, Any], code: int, as_json: bool, stdout: Any, say: Callable[[str], None]) -> None:
    counts: dict[str, int] = {}
    for cable in report["cables"]:
        counts[cable["outcome"]] = counts.get(cable["outcome"], 0) + 1
    report["summary"] = {"tested": len(report["cables"]), **counts}
    report["exit_code"] = code
    if as_json:
        stdout.write(json.dumps(report, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    elif report["cables"]:
        say(f"{len(report['cables'])} tested: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            + f"; exit code {code}")
    stdout.flush()
