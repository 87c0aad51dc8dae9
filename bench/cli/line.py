"""`bench line`: the production line's command, serials in, one line (or one JSON object) per cable out.

The work is `bench.operator.line.LineBench`; this module reads the serials, reports, and maps the
outcomes to the exit code. A virtual station is opened through `bench.sim_launch.open_bench`.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.cli.stream import Output
from bench.errors import BenchError
from bench.exit_codes import ExitCode, exit_code_for
from bench.operator.interrupt import DeferredInterrupt
from bench.operator.line import LineBench, LineResult, ReferenceRequired
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
    """`bench line`: test the given serials unattended; no prompts. Returns the exit code (bench.exit_codes).

    With `--json` standard output is JSON Lines: one object per cable, written and flushed as soon
    as its record is committed, then one summary object (docs/operator.md lists the fields)."""
    run = LineRun(args, Output(stdout))
    try:
        serials = read_serials(args.serials, args.serials_file, stdin)
        with open_bench(args.station, args.recipe, operator=args.operator, lot=args.lot, store=args.store,
                        certificate_dir=args.certificates, sim=SimOptions.from_args(args),
                        serials=serials,
                        accept_golden_baseline=getattr(args, "accept_golden_baseline", False)) as bench:
            try:
                run.test_serials(bench, serials)
                if not run.summary["interrupted"] and not run.summary["stdout_closed"]:
                    bench.finish()  # the closing golden check, inside the summary
            finally:
                run.note_suspect(bench)
        code = ExitCode.INTERRUPTED if run.summary["interrupted"] else exit_code_for(run.outcomes)
    except BenchError as error:
        run.summary["error"] = str(error)
        print(f"error: {error}", file=stderr)
        code = ExitCode.REFUSED
    except KeyboardInterrupt:
        run.summary["interrupted"] = True
        print("interrupted", file=stderr)
        code = ExitCode.INTERRUPTED
    except Exception as error:  # noqa: BLE001 - a bug ends the run with its own code and the summary, never as a FAIL
        run.summary["error"] = f"internal error: {error!r}"
        print(f"internal error (a bug in bench, not a verdict on any cable; please report it):\n"
              f"{traceback.format_exc()}", file=stderr)
        code = ExitCode.INTERNAL
    run.finish(code)
    return code


class LineRun:
    """One `bench line` run's reporting: a line (or JSON object) per cable as it is stored, a summary."""

    def __init__(self, args: Any, out: Output) -> None:
        self.out = out
        self.json = bool(args.json)
        self.outcomes: list[str] = []
        self.summary: dict[str, Any] = {
            "type": "summary", "station": args.station, "recipe": args.recipe, "operator": args.operator,
            "lot": args.lot, "store": None, "references": [], "interrupted": False, "stdout_closed": False,
            "error": None, "suspect": [], "retest": []}

    def say(self, text: str) -> None:
        if not self.json:
            self.out.line(text)

    def cable(self, number: int, result: LineResult) -> None:
        self.outcomes.append(result.verdict)
        if self.json:
            self.out.json_line(result.as_dict())
            return
        failing = ", ".join(map(str, result.failing_fibers)) or "-"
        note = ("  (interrupted; the run stops here)" if result.verdict == Outcome.ABORTED
                else f"  certificate: {result.certificate}" if result.certificate else "")
        self.out.line(f"{number:>4}  {result.serial:<24} {result.verdict:<11} failing fibers: {failing}{note}")

    def test_serials(self, bench: LineBench, serials: Sequence[str]) -> None:
        """Every serial in order, a reference first and whenever it expires; stops at a Ctrl-C, a
        SIGTERM or a closed standard output (the cable under test is finished and stored first)."""
        self.summary.update(store=str(bench.store_path.resolve()), recipe_name=bench.recipe.name,
                            station_name=bench.config.name)
        self.say(f"station {bench.config.name} ({bench.config.backend}), recipe {bench.recipe.name}, "
                 f"{len(serials)} cable(s), results in {self.summary['store']}")
        # One guard for the whole lot: a Ctrl-C or SIGTERM between two cables (while a line is
        # written, say) also waits for a safe point instead of cutting the line short.
        with DeferredInterrupt() as guard:
            for number, serial in enumerate(serials, start=1):
                if guard.requested:
                    self.summary["interrupted"] = True
                    return
                self._reference_if_needed(bench, number, len(serials), guard)
                try:
                    result = bench.test(serial, progress=guard.wrap())
                except KeyboardInterrupt:
                    self._aborted(bench, number, serial, forced=guard.forced)
                    return
                self.cable(number, result)
                if self.out.closed:
                    self.summary["stdout_closed"] = True
                    return
            self.summary["interrupted"] = guard.requested

    def _aborted(self, bench: LineBench, number: int, serial: str, *, forced: bool) -> None:
        self.summary["interrupted"] = True
        bench.safe_state()
        if forced:
            bench.reconnect()
        stored = bench.results[-1] if bench.results and bench.results[-1].serial == serial else None
        if stored is not None and stored.verdict == Outcome.ABORTED:
            self.cable(number, stored)
        else:  # interrupted before the attempt was stored (while connecting): nothing in the store
            self.outcomes.append(Outcome.ABORTED)
            if self.json:
                self.out.json_line({"type": "cable", "serial": serial, "outcome": Outcome.ABORTED,
                                    "reason": "interrupted before the measurement started; nothing stored",
                                    "record_index": None})
            else:
                self.out.line(f"{number:>4}  {serial:<24} ABORTED  (interrupted; the run stops here)")

    def note_suspect(self, bench: LineBench) -> None:
        """SUSPECT marks of this run (bench.run.drift) into the summary, with the retest list: the
        cables were streamed before the golden check that puts them in doubt."""
        self.summary["suspect"] = [cable.as_dict() for cable in bench.drift.suspect]
        self.summary["retest"] = list(bench.drift.retest_serials)
        if self.summary["suspect"]:
            self.say(f"{len(self.summary['suspect'])} cable(s) graded on a drifted bench are marked SUSPECT; "
                     "retest: " + ", ".join(self.summary["retest"]))

    def _reference_if_needed(self, bench: LineBench, number: int, total: int, guard: DeferredInterrupt) -> None:
        """Take a reference when none is valid; mid-run only where the fixture needs no person for it."""
        problem = bench.reference_problem()
        if not problem:
            return
        if self.summary["references"] and not bench.unattended_reference:
            raise ReferenceRequired(
                f"{problem} after {number - 1} cable(s); connect the reference cords and run "
                f"bench line again for the remaining {total - number + 1} serial(s)")
        self.say(f"taking a reference ({problem})")
        record = bench.take_reference(progress=guard.wrap())
        self.summary["references"].append({"reference_id": record.reference_id, "taken_utc": record.taken_utc,
                                           "method": record.method, "before_cable": number})

    def finish(self, code: int) -> None:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[str(outcome)] = counts.get(str(outcome), 0) + 1
        self.summary.update(tested=len(self.outcomes), counts=counts, exit_code=int(code))
        if self.json:
            self.out.json_line(self.summary)
        elif self.outcomes:
            self.say(f"{len(self.outcomes)} tested: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                     + f"; exit code {int(code)}")
