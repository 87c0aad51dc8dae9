"""`bench run`: the technician's loop at the bench, in a plain terminal.

Operator and lot first, then a reference if none is valid, then cable after
cable: scan or type the serial (a scanner types it and presses Enter), connect
the cable, watch the progress per wavelength and fiber, read a large PASS or
FAIL with the failing fibers named. At the serial prompt a single key and
Enter re-references (R), re-tests the last cable (T) or quits (Q). Ctrl-C
during a measurement aborts that cable only: it is stored as ABORTED and the
loop goes on; every earlier result is already in the store. When the
reference expires (age or cable count from the station config) the loop stops
and says what to do.

With a virtual station the simulated cable is made from the serial when the
technician presses Enter at "connect the cable" (see bench.sim_launch.VirtualFixture);
`--sim-fail SERIAL` makes that cable fail. The flow does not know which: it is handed a
function that opens the `LineBench` (the CLI passes `bench.sim_launch.open_bench`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, TextIO

from bench.errors import BenchError, ConfigError
from bench.exit_codes import exit_code_for
from bench.operator.interrupt import DeferredInterrupt
from bench.operator.line import LineBench, LineResult, load_station_and_recipe, open_line_bench
from bench.operator.next_step import next_steps
from bench.operator.terminal import STYLES, Terminal, shown
from bench.records import CableRecord, Outcome
from bench.run.labels import check_label, label_problem
from bench.run.session import ReferenceRequired
from procedures.operator import CONNECT, Prompt

BenchOpener = Callable[..., AbstractContextManager[LineBench]]

@dataclass
class Tally:
    """This session's cables (each serial once, by its latest attempt) and attempts."""

    latest: dict[str, str] = field(default_factory=dict)  # serial → outcome of its latest attempt
    attempts: int = 0
    fails: dict[str, int] = field(default_factory=dict)  # serial → FAIL attempts this session

    def add(self, serial: str, outcome: str) -> None:
        self.latest[serial] = outcome
        self.attempts += 1
        if outcome == Outcome.FAIL:
            self.fails[serial] = self.fails.get(serial, 0) + 1

    def text(self) -> str:
        counts: dict[str, int] = {}
        for outcome in self.latest.values():
            counts[outcome] = counts.get(outcome, 0) + 1
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        cables = len(self.latest)
        return (f"{cables} cable{'' if cables == 1 else 's'}, {self.attempts} attempt"
                f"{'' if self.attempts == 1 else 's'} this session" + (f"; latest: {detail}" if detail else ""))


class GoldenPrompt:
    """The technician connects the golden cable when the drift watch (bench.run.drift) asks for it."""

    def __init__(self, term: Terminal, bench: LineBench) -> None:
        self.term = term
        self.bench = bench

    def prompt(self, prompt: Prompt) -> None:
        if prompt.action != CONNECT:
            return
        answer = self.term.ask(f"Golden-cable check: connect {shown(prompt.serial)} to the fixture and press Enter: ")
        if answer is None:
            raise KeyboardInterrupt  # no golden check, no testing: the flow ends as on a quit
        self.bench.fixture.connect(prompt.serial)


class TechnicianFlow:
    """The interactive loop over an opened LineBench."""

    def __init__(self, bench: LineBench, term: Terminal) -> None:
        self.bench = bench
        self.term = term
        self.last_serial: str | None = None
        self.tally = Tally()
        bench.drift.operator = GoldenPrompt(term, bench)

    # -- reference -------------------------------------------------------------
    def reference(self, why: str, *, expired: bool) -> bool:
        """Ask for the reference cords and take a reference; False if the technician quits."""
        term, bench = self.term, self.bench
        if expired:
            term.banner("REFERENCE", "REFERENCE", "the reference has expired")
        term.say(term.style(f"Reference needed: {why}.", "yellow"))
        cords = ", ".join(bench.config.reference.cord_ids) or "the station's reference cords"
        while True:
            answer = term.ask(f"Remove any cable, connect {cords} ({bench.config.reference.method} reference) "
                              "and press Enter (Q to quit): ")
            if answer is None or answer.strip().lower() == "q":
                return False
            if answer.strip() == "":
                break
            term.say("Press Enter when the reference cords are connected, or Q and Enter to quit.")
        with DeferredInterrupt(on_request=lambda: None) as guard:
            def progress(w: int, launch: int, n_w: int, n_launch: int) -> None:
                term.progress(f"  Referencing  {bench.recipe.wavelengths_nm[w]:g} nm  position "
                              f"{launch + 1:>2}/{n_launch}")
                guard.check()
            try:
                record = bench.take_reference(progress=progress)
            except KeyboardInterrupt:
                bench.safe_state()
                if guard.forced:
                    bench.reconnect()
                term.say(term.style("Reference aborted; no reference was stored.", "yellow"))
                return self.reference("the reference was aborted", expired=False)
        term.say(term.style(f"Reference stored ({record.method}, {len(record.launch_positions)} positions at "
                            f"{', '.join(f'{w:g}' for w in record.wavelengths_nm)} nm).", "green"))
        return True

    def ensure_reference(self, *, expired: bool) -> bool:
        problem = self.bench.reference_problem()
        return True if problem is None else self.reference(problem, expired=expired)

    # -- one cable -------------------------------------------------------------
    def say_connections(self) -> None:
        """For a harness, which connector goes into which fixture port (bench.config.harness)."""
        plan = getattr(self.bench.session, "harness_plan", None)
        for instruction in plan.instructions() if plan is not None else ():
            self.term.say(instruction[0].upper() + instruction[1:] + ".")

    def test(self, serial: str) -> bool:
        """Connect prompt, measurement, verdict. False if the technician quit at a prompt."""
        term, bench = self.term, self.bench
        if not self.ensure_reference(expired=True):
            return False
        self.new_screen()
        self.say_connections()
        try:
            answer = term.ask(f"Connect cable {term.style(shown(serial), 'bold')} to the fixture and press Enter "
                              "(C and Enter cancels): ")
        except KeyboardInterrupt:
            answer = "cancel"
        if answer is None:
            return False
        if answer.strip():
            term.say("Cancelled; nothing was recorded.")
            return True
        self.last_serial = serial

        def progress(w: int, launch: int, n_w: int, n_launch: int) -> None:
            done = w * n_launch + launch + 1
            total = n_w * n_launch
            bar_width = 20
            filled = bar_width * done // total
            term.progress(f"  Testing {shown(serial)}  {bench.recipe.wavelengths_nm[w]:g} nm  fiber "
                          f"{launch + 1:>2}/{n_launch}  [{'#' * filled}{'.' * (bar_width - filled)}] "
                          f"{100 * done // total:>3}%   Ctrl-C aborts this cable")

        def on_interrupt() -> None:
            term.progress("  Stopping after the current reading ...")

        with DeferredInterrupt(on_request=on_interrupt) as guard:
            try:
                result = bench.test(serial, progress=guard.wrap(progress))
            except KeyboardInterrupt:
                bench.safe_state()
                if guard.forced:
                    bench.reconnect()
                self.tally.add(serial, Outcome.ABORTED)
                term.banner(Outcome.ABORTED, Outcome.ABORTED,
                            f"{shown(serial)} aborted (Ctrl-C) and recorded as ABORTED")
                term.say(term.style("NEXT: ", "bold") + "Earlier results are kept. Reconnect the cable and press T "
                         "to test it again.")
                term.say(term.style(self.tally.text(), "dim"))
                return True
            except ReferenceRequired as error:
                term.say(term.style(str(error), "yellow"))
                return self.test(serial) if self.ensure_reference(expired=True) else False
        self.show(result)
        return True

    def show(self, result: LineResult) -> None:
        term = self.term
        record = result.outcome.record
        verdict = record.outcome
        self.tally.add(record.serial, verdict)
        failing = result.failing_fibers
        subtitle = shown(record.serial) + (f"   failing fibers: {', '.join(map(str, failing))}" if failing else "")
        term.banner(verdict, verdict if verdict in STYLES else Outcome.ERROR, subtitle)
        if verdict == Outcome.PASS and record.fibers:
            self._pass_summary(record)
        else:
            self._not_passing(record)
        self._next_steps(record)
        if result.certificate:
            term.say(f"  certificate: {result.certificate}")
        term.say(term.style(self.tally.text(), "dim"))

    def _pass_summary(self, record: CableRecord) -> None:
        worst = min(record.fibers, key=lambda f: f.margin_db)
        highest = max(record.fibers, key=lambda f: f.insertion_loss_db)
        self.term.say(f"  max IL {highest.insertion_loss_db:.3f} dB (fiber {highest.fiber_position}, "
                      f"{highest.wavelength_nm:g} nm), worst margin {worst.margin_db:+.3f} dB, "
                      f"polarity {record.polarity_found}")

    def _not_passing(self, record: CableRecord) -> None:
        term = self.term
        by_fiber: dict[int, list[str]] = {}
        limits: set[str] = set()
        for f in record.fibers:
            if f.verdict != Outcome.PASS:
                il = "no light" if f.insertion_loss_db != f.insertion_loss_db else f"{f.insertion_loss_db:.3f} dB"
                margin = "" if f.margin_db != f.margin_db else f" ({f.margin_db:+.3f})"
                by_fiber.setdefault(f.fiber_position, []).append(f"{f.wavelength_nm:g} nm {il}{margin}")
                limits.add(f"{f.limit_db:.3f} dB")
        if by_fiber:
            term.say(f"  failing fibers: IL (margin) against the limit {' / '.join(sorted(limits))}")
        for position, cells in sorted(by_fiber.items()):
            term.say(term.style(f"  fiber {position:>2}  ", "red") + "   ".join(cells))
        if record.polarity_found:
            term.say(f"  polarity found {record.polarity_found}")
        reason = record.reason
        if not by_fiber or "polarity" in reason or record.outcome == Outcome.ERROR:
            for line in textwrap.wrap(shown(reason), term.width - 4):
                term.say(f"  {line}")

    def _next_steps(self, record: CableRecord) -> None:
        """After anything but a PASS: what to do now, in plain words (bench.operator.next_step)."""
        steps = next_steps(record, policy=self.bench.config.retest_policy,
                           failed_attempts=self.tally.fails.get(record.serial, 0))
        for number, step in enumerate(steps):
            for index, line in enumerate(textwrap.wrap(shown(step), self.term.width - 8) or [""]):
                lead = "NEXT: " if number == 0 and index == 0 else "      "
                self.term.say(self.term.style(lead, "yellow") + line)

    def new_screen(self) -> None:
        """Each cable on a clean screen, headed by who tests what and the session's tally."""
        session = self.bench.session
        self.term.new_screen(f"{self.bench.config.name} · operator {shown(session.operator)} · lot "
                             f"{shown(session.lot)} · {self.tally.text()}")

    # -- the loop --------------------------------------------------------------
    def run(self) -> int:
        if not self.ensure_reference(expired=False):
            return self.finish()
        while True:
            problem = self.bench.reference_problem()
            if problem and not self.reference(problem, expired=True):
                return self.finish()
            quit_now, serial = self._next_serial()
            if quit_now or (serial is not None and not self.test(serial)):
                return self.finish()

    def _next_serial(self) -> tuple[bool, str | None]:
        """(quit, serial): the serial to test next, or None to ask again (a command ran or the scan was refused)."""
        term, bench = self.term, self.bench
        term.say()
        term.say(term.style("Scan or type the serial number", "bold") + "   "
                 + term.style("[R] re-reference  [T] retest" + (f" {shown(self.last_serial)}"
                              if self.last_serial else "") + "  [Q] quit", "dim"))
        answer = term.ask("serial> ")
        if answer is None:
            return True, None
        key = answer.strip()
        command = key.lower()
        if command == "q":
            return True, None
        if command == "r":
            return not self.reference("re-reference requested", expired=False), None
        if command == "t":
            if self.last_serial is None:
                term.say("Nothing to retest yet: scan a serial number.")
            return False, self.last_serial
        if not key:
            return False, None
        try:
            return False, bench.check_serial(key)
        except ConfigError as error:
            term.say(term.style("Serial refused: ", "red") + shown(f"{error.problem}. {error.fix}."))
        except BenchError as error:
            term.say(term.style("Serial refused: ", "red") + shown(str(error)))
        return False, None

    def finish(self) -> int:
        """Exit code of the session (bench.exit_codes) from each serial's last measured attempt."""
        self.term.say(f"Session closed. {self.tally.text()}. Results: {self.bench.store_path.resolve()}")
        last = {r.serial: r.verdict for r in self.bench.results if r.verdict != Outcome.ABORTED}
        return exit_code_for(last.values())


def _ask_label(term: Terminal, what: str, given: str | None) -> str | None:
    if given is not None:
        return check_label(what, given)
    while True:
        answer = term.ask(f"{what.capitalize()}: ")
        if answer is None:
            return None
        try:
            return check_label(what, answer)
        except ConfigError as error:
            term.say(shown(label_problem(error)))


def run_technician(args: Any, stdin: TextIO, stdout: TextIO, *, open_bench: BenchOpener = open_line_bench) -> int:
    """`bench run`: the session's exit code (bench.exit_codes: 0 every serial's last attempt PASS, 1 a FAIL), 2 on
    a configuration or instrument error.

    `open_bench` opens the station (keywords of `open_line_bench`); the CLI passes the one that
    also starts a virtual station."""
    if not stdin.isatty():
        raise BenchError("bench run is the interactive technician flow and needs a terminal; "
                         "for scripts use bench line (same options, serials as arguments)")
    term = Terminal(stdin, stdout, colour=False if args.no_colour else None)
    config, recipe = load_station_and_recipe(args.station, args.recipe)
    term.say(term.style(f"MPO/MTP insertion-loss bench — station {config.name} ({config.backend})", "bold"))
    term.say(f"Recipe {recipe.name}: {recipe.product}")
    limits = ", ".join(f"{w:g} nm ≤ {recipe.max_il_db(w):.3f} dB" for w in recipe.wavelengths_nm)
    term.say(f"{recipe.fiber_count} fibers, polarity {recipe.polarity}; IL limit per fiber {limits}; "
             f"{recipe.decision_rule.describe()}")
    try:
        operator = _ask_label(term, "operator", args.operator)
        lot = _ask_label(term, "lot", args.lot) if operator else None
    except KeyboardInterrupt:
        term.say("\nQuit before testing.")
        return 0
    if operator is None or lot is None:
        term.say("Quit before testing.")
        return 0
    with open_bench(config, recipe, operator=operator, lot=lot, store=args.store,
                    certificate_dir=args.certificates,
                    accept_golden_baseline=getattr(args, "accept_golden_baseline", False)) as bench:
        term.say(f"Operator {shown(operator)}, lot {shown(lot)}. Results go to {bench.store_path.resolve()}")
        flow = TechnicianFlow(bench, term)
        try:
            return flow.run()
        except KeyboardInterrupt:
            term.say("")
            term.say("Quit (Ctrl-C at a prompt).")
            return flow.finish()
