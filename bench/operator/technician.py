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
technician presses Enter at "connect the cable" (see bench.operator.line.VirtualFixture);
`--sim-fail SERIAL` makes that cable fail.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Any, TextIO

from bench.errors import BenchError, ConfigError
from bench.operator.line import (
    DeferredInterrupt,
    LineBench,
    LineResult,
    check_label,
    load_station_and_recipe,
    open_line_bench,
)
from bench.run.session import ReferenceRequired

RESET = "\033[0m"
STYLES = {
    "PASS": "\033[1;97;42m",
    "FAIL": "\033[1;97;41m",
    "CONDITIONAL": "\033[1;30;43m",
    "ERROR": "\033[1;97;45m",
    "ABORTED": "\033[1;97;100m",
    "REFERENCE": "\033[1;30;43m",
    "bold": "\033[1m",
    "dim": "\033[2m",
    "red": "\033[1;31m",
    "green": "\033[1;32m",
    "yellow": "\033[1;33m",
}

# A 5-row block font for the verdict words.
GLYPHS = {
    "A": [" ### ", "#   #", "#####", "#   #", "#   #"],
    "B": ["#### ", "#   #", "#### ", "#   #", "#### "],
    "C": [" ####", "#    ", "#    ", "#    ", " ####"],
    "D": ["#### ", "#   #", "#   #", "#   #", "#### "],
    "E": ["#####", "#    ", "#### ", "#    ", "#####"],
    "F": ["#####", "#    ", "#### ", "#    ", "#    "],
    "I": ["###", " # ", " # ", " # ", "###"],
    "L": ["#    ", "#    ", "#    ", "#    ", "#####"],
    "N": ["#   #", "##  #", "# # #", "#  ##", "#   #"],
    "O": [" ### ", "#   #", "#   #", "#   #", " ### "],
    "P": ["#### ", "#   #", "#### ", "#    ", "#    "],
    "R": ["#### ", "#   #", "#### ", "#  # ", "#   #"],
    "S": [" ####", "#    ", " ### ", "    #", "#### "],
    "T": ["#####", "  #  ", "  #  ", "  #  ", "  #  "],
    " ": ["  ", "  ", "  ", "  ", "  "],
}


def big_text(word: str, *, width: int, block: str = "█") -> list[str]:
    """The word in the block font: pixels doubled when the terminal is wide enough."""
    for scale in (2, 1):
        rows = []
        for row in range(5):
            parts = [GLYPHS.get(ch, GLYPHS[" "])[row].replace("#", block * scale).replace(" ", " " * scale)
                     for ch in word.upper()]
            rows.append((" " * scale).join(parts))
        if max(len(r) for r in rows) + 4 <= width or scale == 1:
            return rows
    return rows


def shown(text: str) -> str:
    """Text safe to print: control characters (from a bad scan) become '?'."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


class Terminal:
    """Plain-terminal output (ANSI colours when it is a colour TTY) and line input."""

    def __init__(self, stdin: TextIO, stdout: TextIO, *, colour: bool | None = None) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.tty = stdout.isatty()
        if colour is None:
            colour = self.tty and "NO_COLOR" not in os.environ and os.environ.get("TERM", "") != "dumb"
        self.colour = colour
        encoding = (getattr(stdout, "encoding", None) or "").lower().replace("-", "")
        self.block = "█" if encoding in ("utf8", "utf_8") else "#"
        self._progress_shown = False

    @property
    def width(self) -> int:
        return max(40, min(shutil.get_terminal_size((80, 24)).columns, 120))

    def style(self, text: str, style: str) -> str:
        return f"{STYLES[style]}{text}{RESET}" if self.colour else text

    def say(self, text: str = "") -> None:
        self.clear_progress()
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def ask(self, prompt: str) -> str | None:
        """One line from the keyboard or a scanner; None at end of input (Ctrl-D)."""
        self.clear_progress()
        self.stdout.write(prompt)
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            self.stdout.write("\n")
            return None
        return line.rstrip("\r\n")

    def progress(self, text: str) -> None:
        if self.tty:
            self.stdout.write("\r\033[K" + text)
            self.stdout.flush()
            self._progress_shown = True

    def clear_progress(self) -> None:
        if self._progress_shown:
            self.stdout.write("\r\033[K")
            self._progress_shown = False

    def banner(self, word: str, style: str, subtitle: str = "") -> None:
        width = self.width
        rows = big_text(word, width=width, block=self.block)
        inner = max(max(len(r) for r in rows) + 4, min(width, 72))
        lines = ["", *rows, ""] + ([subtitle] if subtitle else [])
        self.say()
        for row in lines:
            padded = row.center(inner) if row not in rows else ("  " + row).ljust(inner)
            if self.colour:
                self.stdout.write(self.style(padded, style) + "\n")
            else:
                self.stdout.write("|" + padded + "|\n")
        self.stdout.flush()


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1

    def text(self) -> str:
        total = sum(self.counts.values())
        detail = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        return f"{total} cable(s) this session" + (f": {detail}" if detail else "")


class TechnicianFlow:
    """The interactive loop over an opened LineBench."""

    def __init__(self, bench: LineBench, term: Terminal) -> None:
        self.bench = bench
        self.term = term
        self.last_serial: str | None = None
        self.tally = Tally()

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
    def test(self, serial: str) -> bool:
        """Connect prompt, measurement, verdict. False if the technician quit at a prompt."""
        term, bench = self.term, self.bench
        if not self.ensure_reference(expired=True):
            return False
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
                self.tally.add("ABORTED")
                term.banner("ABORTED", "ABORTED", f"{shown(serial)} aborted (Ctrl-C) and recorded as ABORTED")
                term.say("Earlier results are kept. Reconnect the cable and press T to test it again.")
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
        self.tally.add(verdict)
        failing = result.failing_fibers
        subtitle = shown(record.serial) + (f"   failing fibers: {', '.join(map(str, failing))}" if failing else "")
        term.banner(verdict, verdict if verdict in STYLES else "ERROR", subtitle)
        fibers = [f for f in record.fibers]
        if verdict == "PASS" and fibers:
            worst = min(fibers, key=lambda f: f.margin_db)
            highest = max(fibers, key=lambda f: f.insertion_loss_db)
            term.say(f"  max IL {highest.insertion_loss_db:.3f} dB (fiber {highest.fiber_position}, "
                     f"{highest.wavelength_nm:g} nm), worst margin {worst.margin_db:+.3f} dB, "
                     f"polarity {record.polarity_found}")
        else:
            by_fiber: dict[int, list[str]] = {}
            limits: set[str] = set()
            for f in fibers:
                if f.verdict != "PASS":
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
            if not by_fiber or "polarity" in reason or verdict == "ERROR":
                term.say(f"  {shown(reason)}")
        if result.certificate:
            term.say(f"  certificate: {result.certificate}")
        term.say(term.style(self.tally.text(), "dim"))

    # -- the loop --------------------------------------------------------------
    def run(self) -> int:
        term, bench = self.term, self.bench
        if not self.ensure_reference(expired=False):
            return self.finish()
        while True:
            problem = bench.reference_problem()
            if problem and not self.reference(problem, expired=True):
                return self.finish()
            term.say()
            term.say(term.style("Scan or type the serial number", "bold") + "   "
                     + term.style("[R] re-reference  [T] retest" + (f" {shown(self.last_serial)}"
                                  if self.last_serial else "") + "  [Q] quit", "dim"))
            answer = term.ask("serial> ")
            if answer is None:
                return self.finish()
            key = answer.strip()
            if key.lower() == "q":
                return self.finish()
            if key.lower() == "r":
                if not self.reference("re-reference requested", expired=False):
                    return self.finish()
                continue
            if key.lower() == "t":
                if self.last_serial is None:
                    term.say("Nothing to retest yet: scan a serial number.")
                    continue
                serial = self.last_serial
            elif not key:
                continue
            else:
                try:
                    serial = bench.check_serial(key)
                except ConfigError as error:
                    term.say(term.style("Serial refused: ", "red") + shown(f"{error.problem}. {error.fix}."))
                    continue
                except BenchError as error:
                    term.say(term.style("Serial refused: ", "red") + shown(str(error)))
                    continue
            if not self.test(serial):
                return self.finish()

    def finish(self) -> int:
        self.term.say(f"Session closed. {self.tally.text()}. Results: {self.bench.store_path.resolve()}")
        return 0


def _ask_label(term: Terminal, what: str, given: str | None) -> str | None:
    if given is not None:
        return check_label(what, given)
    while True:
        answer = term.ask(f"{what.capitalize()}: ")
        if answer is None:
            return None
        try:
            return check_label(what, answer)
        except BenchError as error:
            term.say(shown(str(error)))


def run_technician(args: Any, stdin: TextIO, stdout: TextIO) -> int:
    """`bench run`: returns 0 when the technician quits, 2 on a configuration or instrument error."""
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
    with open_line_bench(config, recipe, operator=operator, lot=lot, store=args.store,
                         certificate_dir=args.certificates, sim_fail=args.sim_fail or (),
                         sim_seed=args.sim_seed, sim_latency_s=args.sim_latency) as bench:
        term.say(f"Operator {shown(operator)}, lot {shown(lot)}. Results go to {bench.store_path.resolve()}")
        flow = TechnicianFlow(bench, term)
        try:
            return flow.run()
        except KeyboardInterrupt:
            term.say("")
            term.say("Quit (Ctrl-C at a prompt).")
            return flow.finish()
