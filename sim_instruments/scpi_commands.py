"""The simulator's own SCPI command matcher: headers declared as a programming guide writes them.

A dialect declares `":SENSe[n]:POWer:WAVelength"` (mnemonics with their short form in capitals,
`[n]` a numeric suffix defaulting to 1, `[:NODE]` an optional node, a trailing `?` for a query)
and the matcher accepts what IEEE 488.2 / SCPI-1999 (program headers) let a
controller send: the long or the short form of each mnemonic, in any case, with or without
the leading colon, the optional nodes present or absent, and the suffix given or omitted.
Intermediate spellings (`WAVEL`) are not SCPI and are refused.

One program message may carry several commands separated by `;` (SCPI-1999, program messages);
the matcher treats each as rooted at the top of the tree (a simplification: the relative
header path rule is not modelled, see docs/instrument-behaviour.md).

Parsing costs a regular-expression match per distinct header; a production loop repeats a
handful of headers, so each header's result is cached (parameters are not part of the key).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Call", "CommandSet", "ScpiError", "split_program_message"]


class ScpiError(Exception):
    """A command failed the way SCPI says: `code` and `message` go to the error queue."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code},{message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Call:
    """One parsed command: the numeric suffixes of its header (defaults filled in) and its parameters."""

    header: str
    suffixes: tuple[int, ...]
    parameters: tuple[str, ...]
    query: bool

    def suffix(self, index: int = 0) -> int:
        """Numeric suffix `index` of the header; 1 where the header has no such node."""
        return self.suffixes[index] if index < len(self.suffixes) else 1

    def parameter(self, index: int = 0) -> str:
        """Parameter `index`; a missing one is SCPI error -109."""
        if index >= len(self.parameters):
            raise ScpiError(-109, "Missing parameter")
        return self.parameters[index]


Handler = Callable[[Call], "str | bytes | None"]

_TOKEN = re.compile(r"\[:([^\[\]]+(?:\[[a-z]\])?)\]|\[([a-z])\]|:|([A-Za-z*][A-Za-z0-9*]*)|(\?)")


def _mnemonic_regex(mnemonic: str) -> str:
    if mnemonic.startswith("*"):  # common commands have one form
        return re.escape(mnemonic.upper())
    short = "".join(character for character in mnemonic if character.isupper() or character.isdigit())
    long = mnemonic.upper()
    return f"(?:{long}|{short})" if short != long else long


def compile_header(pattern: str) -> tuple[re.Pattern[str], int, tuple[int, ...]]:
    """The regular expression of a declared header, how many suffix groups it has, and the
    default of each (1: the guides' "missing [n] means 1"). The expression matches a header
    written from the root (`:SENS1:POW:WAV`); `CommandSet.find` roots a header sent without
    its leading colon, so a leading optional node (`[:SOURce[n]]`) needs no special case."""
    if pattern.startswith("*"):  # common commands have one form and no tree
        return re.compile(re.escape(pattern.upper()) + "$", re.IGNORECASE), 0, ()
    parts: list[str] = []
    suffix_count = 0
    position = 0
    text = pattern
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"cannot read header pattern {pattern!r} at {text[position:]!r}")
        position = match.end()
        optional, suffix, mnemonic, query = match.groups()
        if optional is not None:
            inner = re.match(r"([A-Za-z]+)(?:\[([a-z])\])?$", optional)
            if inner is None:
                raise ValueError(f"cannot read optional node {optional!r} in {pattern!r}")
            node = _mnemonic_regex(inner.group(1))
            if inner.group(2):
                node += rf"(?P<s{suffix_count}>\d+)?"
                suffix_count += 1
            parts.append(f"(?::{node})?")
        elif suffix is not None:
            parts.append(rf"(?P<s{suffix_count}>\d+)?")
            suffix_count += 1
        elif mnemonic is not None:
            parts.append(":" + _mnemonic_regex(mnemonic))
        elif query is not None:
            parts.append(r"\?")
    return re.compile("".join(parts) + "$", re.IGNORECASE), suffix_count, (1,) * suffix_count


def split_parameters(text: str) -> tuple[str, ...]:
    """Comma-separated parameters, commas inside quotes kept."""
    text = text.strip()
    if not text:
        return ()
    parameters, current, quote = [], [], ""
    for character in text:
        if quote:
            current.append(character)
            if character == quote:
                quote = ""
        elif character in "\"'":
            quote = character
            current.append(character)
        elif character == ",":
            parameters.append("".join(current).strip())
            current = []
        else:
            current.append(character)
    parameters.append("".join(current).strip())
    return tuple(parameters)


def split_program_message(text: str) -> list[str]:
    """The commands of one program message (`;`-separated, quotes respected)."""
    commands, current, quote = [], [], ""
    for character in text:
        if quote:
            if character == quote:
                quote = ""
        elif character in "\"'":
            quote = character
        elif character == ";":
            commands.append("".join(current).strip())
            current = []
            continue
        current.append(character)
    commands.append("".join(current).strip())
    return [command for command in commands if command]


class CommandSet:
    """Declared headers → handlers. `find()` resolves a command's header once, then from a cache."""

    def __init__(self) -> None:
        self._table: list[tuple[re.Pattern[str], int, tuple[int, ...], Handler]] = []
        self._cache: dict[str, tuple[Handler, tuple[int, ...]] | None] = {}
        self._calls: dict[str, tuple[Handler, Call]] = {}

    def add(self, header: str, handler: Handler) -> None:
        """Declare `header` (as the guide writes it, `?` for a query form)."""
        regex, count, defaults = compile_header(header)
        self._table.append((regex, count, defaults, handler))
        self._cache.clear()
        self._calls.clear()

    def _resolve(self, header: str) -> tuple[Handler, tuple[int, ...]] | None:
        for regex, count, defaults, handler in self._table:
            match = regex.match(header)
            if match:
                suffixes = tuple(int(match.group(f"s{i}")) if match.group(f"s{i}") else defaults[i]
                                 for i in range(count))
                return handler, suffixes
        return None

    def find(self, command: str) -> tuple[Handler, Call] | None:
        """The handler of `command` and the parsed call, or None (SCPI: -113 Undefined header).

        A production loop repeats a handful of exact command strings: their parsed calls are
        kept (bounded), so a repeated command costs one dictionary lookup."""
        try:
            return self._calls[command]
        except KeyError:
            pass
        header, _, rest = command.strip().partition(" ")
        if "\t" in header:
            header, _, more = header.partition("\t")
            rest = more + " " + rest
        key = header.upper()
        try:
            found = self._cache[key]
        except KeyError:
            found = self._resolve(key if key.startswith((":", "*")) else ":" + key)
            if len(self._cache) < 4096:  # headers carry suffixes; bounded all the same
                self._cache[key] = found
        if found is None:
            return None
        handler, suffixes = found
        result = handler, Call(header, suffixes, split_parameters(rest), header.endswith("?"))
        if len(self._calls) < 4096:  # commands carry free values
            self._calls[command] = result
        return result


# -- parameter parsing shared by the dialects (SCPI-1999, decimal numeric program data) ----------------
_NUMBER = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)$")


def number_with_unit(text: str, scales: dict[str, float], default_scale: float = 1.0) -> float:
    """A decimal numeric parameter with an optional unit suffix, in the base unit.

    Without a suffix SCPI means the base unit (`default_scale`); an unknown suffix is -131
    "Invalid suffix", text that is not a number is -104 "Data type error"."""
    match = _NUMBER.match(text.strip())
    if match is None:
        raise ScpiError(-104, "Data type error")
    value, unit = float(match.group(1)), match.group(2).upper()
    if not unit:
        return value * default_scale
    if unit not in scales:
        raise ScpiError(-131, "Invalid suffix")
    return value * scales[unit]


def boolean(text: str) -> bool:
    """SCPI boolean program data: 0|1|OFF|ON (SCPI-1999)."""
    value = text.strip().upper()
    if value in ("1", "ON"):
        return True
    if value in ("0", "OFF"):
        return False
    try:
        return round(float(value)) != 0
    except ValueError:
        raise ScpiError(-104, "Data type error") from None


def choice(text: str, options: tuple[str, ...]) -> str:
    """Character program data: one of `options` (declared Long-form with capitals), returned as declared."""
    value = text.strip().upper()
    for option in options:
        short = "".join(character for character in option if not character.islower())
        if value in (option.upper(), short.upper()):
            return option
    raise ScpiError(-224, "Illegal parameter value")
