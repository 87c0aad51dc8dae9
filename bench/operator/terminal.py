"""The technician's terminal: plain text, ANSI colours on a colour TTY, a block font for the verdict."""

from __future__ import annotations

import os
import shutil
from typing import TextIO

from bench.records import Outcome

RESET = "\033[0m"
CLEAR_SCREEN = "\033[H\033[2J"  # cursor home, erase the screen (the scrollback keeps earlier cables)
STYLES = {
    Outcome.PASS: "\033[1;97;42m",
    Outcome.FAIL: "\033[1;97;41m",
    Outcome.CONDITIONAL: "\033[1;30;43m",
    Outcome.ERROR: "\033[1;97;45m",
    Outcome.ABORTED: "\033[1;97;100m",
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

    def new_screen(self, header: str) -> None:
        """Start a clean screen (a TTY is cleared and homed; other output gets a rule) with a header line."""
        self.clear_progress()
        if self.tty:
            self.stdout.write(CLEAR_SCREEN)
        else:
            self.stdout.write("-" * min(self.width, 72) + "\n")
        self.stdout.write(self.style(header[:self.width - 1], "dim") + "\n")
        self.stdout.flush()

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
