"""Fault injection for the virtual bench: instruments that misbehave the way real ones do.

A `Fault` says *what* goes wrong (`kind`), *when* (a `phase`, i.e. a class of
commands, or an explicit command `match` regex), and *how often* (`times`
strikes, after skipping `after` matching commands; `times=None` is forever).
A `FaultInjector` holds the faults of one simulated instrument and sits in its
server's hook (`answer` over TCP, `serve_line` on a pseudo-terminal), so the toolkit sees the
fault exactly as it would on the wire. Attach faults with
`VirtualBench.inject(instrument_name, fault)`.

Kinds (see docs/reliability.md for what the toolkit does about each):

* wire faults — `timeout` (the reply never comes), `reset` (TCP connection
  reset by the peer), `garbage` (a reply of junk bytes), `truncated` (half the
  reply arrives, no terminator, then the link drops: over TCP a message is
  only cut short by the connection ending; on a serial line the rest never
  comes), `scpi_error` (the command works but an error lands in
  the instrument's queue);
* reading faults — `overrange` / `underrange` (one channel reads the SCPI
  ±9.9E37 sentinel), `unsettled` (every reading moves by `amount_db`/2..`amount_db`);
* physical faults, applied to the shared physical model — `laser_off` (the
  source's output goes off), `unstable_source` (the source power moves by
  `amount_db`/2..`amount_db` between readings), `switch_stuck` (the switch acknowledges a move
  and stays where it is: the wrong port is lit);
* `idn_change` — the instrument is swapped for another unit (`new_idn`); the
  link drops, as it would when a cable is moved to another box.

Reply-type faults (timeout, garbage, truncated) strike a reply: when the
matching command is a write (a wavelength change, a switch move), the fault is
armed and strikes the next query (the `SYST:ERR?` that follows the write).
Reading faults (over/underrange, unsettled) strike matching queries only.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Command classes by phase. They cover every dialect of sim_instruments.dialects.
PHASE_PATTERNS: dict[str, str] = {
    # a wavelength change: source and meters
    "configure": r"(?:SENS\d*:POW:WAV |:?SOUR\d*(?::CHAN\d+)?:WAV |SENS:CORR:WAV |:?SENS\d+:CHAN\d+:POW:WAV )",
    # a switch move
    "switch": r"(?::?ROUT\d*(?::CHAN\d+)? A,|I1 \d|M1 \d)",
    # a reading: trigger or fetch on any meter dialect (INITn:CONTinuous is a setting, not a reading)
    "reading": r"(?:INIT(?!\S*:CONT)|FETC|READ|MEAS)",
    # any command at all
    "any": r".",
}
# "reference" is a time, not a command class: the fault strikes readings taken
# while only the reference cords are connected (no DUT loaded).
PHASES = ("reference", "configure", "switch", "reading")

WIRE_FAULTS = ("timeout", "reset", "garbage", "truncated", "scpi_error")
READING_FAULTS = ("overrange", "underrange", "unsettled")
PHYSICAL_FAULTS = ("laser_off", "unstable_source", "switch_stuck")
KINDS = (*WIRE_FAULTS, *READING_FAULTS, *PHYSICAL_FAULTS, "idn_change")
_REPLY_FAULTS = {"timeout", "garbage", "truncated", "overrange", "underrange", "unsettled"}

OVER_RANGE = "+9.900000E+37"
UNDER_RANGE = "-9.900000E+37"


class _Drop:
    """Sentinel reply: close the connection with a TCP reset instead of answering."""

    def __repr__(self) -> str:
        return "DROP"


DROP = _Drop()


@dataclass(frozen=True)
class Partial:
    """Sentinel reply: send these bytes without a terminator, then drop the link (a reply cut short)."""

    data: bytes


@dataclass
class Fault:
    kind: str
    phase: str = "any"  # one of PHASES or "any"; ignored when `match` is given
    match: str | None = None  # regex searched in the command text
    times: int | None = 1  # strikes; None: every time
    after: int = 0  # let this many matching commands through first
    amount_db: float = 0.5  # unsettled / unstable_source: jitter amplitude
    channel: int = 1  # overrange / underrange: 1-based value in the reply
    scpi_error: tuple[int, str] = (-222, "Data out of range")
    new_idn: str = "Keysight Technologies,N7744A,MY99999999,V9.9.9"
    strikes: int = field(default=0, init=False)
    seen: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.match is None and self.phase not in (*PHASES, "any"):
            raise ValueError(f"unknown phase {self.phase!r}; one of {', '.join(PHASES)} or 'any'")
        pattern = self.match if self.match is not None else PHASE_PATTERNS.get(self.phase, PHASE_PATTERNS["reading"])
        if self.match is None and self.kind == "unstable_source" and self.phase in ("reading", "reference"):
            pattern = r"(?:INIT(?!\S*:CONT)|READ|MEAS)"  # the light changes between readings, not trigger and fetch
        self._pattern = re.compile(pattern, re.IGNORECASE)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.strikes >= self.times

    def matches(self, command: str, reference_mode: bool) -> bool:
        if self.exhausted:
            return False
        if self.match is None and self.phase == "reference" and not reference_mode:
            return False
        if not self._pattern.search(command):
            return False
        self.seen += 1
        return self.seen > self.after


class FaultInjector:
    """The faults of one simulated instrument, consulted for every command it receives."""

    def __init__(self, instrument: Any, model: Any = None, *, seed: int = 0) -> None:
        self.instrument = instrument
        self.model = model if model is not None else getattr(instrument, "model", None)
        self.faults: list[Fault] = []
        self._armed: list[Fault] = []
        self._lock = threading.Lock()
        self._rng = np.random.default_rng(seed)
        self.log: list[tuple[str, str]] = []  # (fault kind, command) per strike
        self._swing = 1.0  # sign of the next wander: a value that never settles keeps moving

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            wandering = any(fault.kind == "unstable_source" for fault in self.faults)
            self.faults.clear()
            self._armed.clear()
        if wandering and self.model is not None:
            with self.model.lock:
                self.model.source.drift_db = 0.0

    @property
    def active(self) -> bool:
        return any(not fault.exhausted for fault in self.faults) or bool(self._armed)

    def _strike(self, fault: Fault, command: str) -> None:
        fault.strikes += 1
        self.log.append((fault.kind, command))

    def serve(self, command: str, handle: Callable[[str], Any]) -> Any:
        """Answer `command` through `handle` (the instrument), with the faults applied."""
        # A program message with a query in it (`FETC…?;:INIT…`) is answered like a query.
        is_query = any(part.rstrip().endswith("?") for part in command.split(";"))
        reference_mode = self.model is not None and getattr(self.model, "dut", 1) is None
        with self._lock:
            hit = next((f for f in self.faults
                        if (is_query or f.kind not in READING_FAULTS) and f.matches(command, reference_mode)), None)
            if hit is not None and hit.kind in _REPLY_FAULTS and not is_query:
                if hit not in self._armed:
                    self._strike(hit, command)
                    self._armed.append(hit)  # strikes the next reply
                hit = None
            elif hit is not None:
                self._strike(hit, command)
            elif is_query and self._armed:
                hit = self._armed.pop(0)
        if hit is None:
            return handle(command)
        kind = hit.kind
        if kind == "reset":
            return DROP
        if kind == "idn_change":
            self.instrument.idn = hit.new_idn
            return DROP
        if kind == "timeout":
            return None  # the reply never comes
        if kind == "switch_stuck":
            return None  # acknowledged (no error), but the mirror does not move
        if kind == "laser_off" and self.model is not None:
            with self.model.lock:
                self.model.source.output_on = False
            return handle(command)
        if kind == "unstable_source" and self.model is not None:
            with self.model.lock:
                self.model.source.drift_db = self._wander(hit.amount_db)
            return handle(command)
        reply = handle(command)
        if kind == "scpi_error":
            self.instrument.push_error(*hit.scpi_error)
            return reply
        if reply is None:
            return reply
        text = reply.decode("latin-1") if isinstance(reply, bytes) else str(reply)
        if kind == "garbage":
            return bytes(self._rng.integers(0x80, 0x100, 12, dtype=np.uint8)) + b"#?!"
        if kind == "truncated":
            return Partial(text[: max(1, len(text) // 2)].encode("latin-1"))
        quote = '"' if len(text) > 1 and text.startswith('"') and text.endswith('"') else ""
        values = text[1:-1].split(",") if quote else text.split(",")  # a quoted CSV stays quoted
        if kind in ("overrange", "underrange"):
            index = min(max(hit.channel, 1), len(values)) - 1
            values[index] = OVER_RANGE if kind == "overrange" else UNDER_RANGE
            return quote + ",".join(values) + quote
        if kind == "unsettled":
            offset_db = self._wander(hit.amount_db)
            return quote + ",".join(_offset(value, offset_db) for value in values) + quote
        return reply

    def _wander(self, amount_db: float) -> float:
        """An offset of amount/2..amount dB, alternating in sign: consecutive readings differ by at least
        `amount_db`, as a drifting, warming-up or hunting value does (random noise would now and then
        give two agreeing readings, which a two-reading settle rule takes for settled)."""
        self._swing = -self._swing
        return self._swing * float(self._rng.uniform(amount_db / 2, amount_db))


def _offset(value: str, offset_db: float) -> str:
    try:
        number = float(value)
    except ValueError:
        return value
    if not 0 < abs(number) < 1e37:
        return value
    return f"{number * 10 ** (offset_db / 10):+.6E}"
