"""Typed instrument errors: each names the instrument, the command and what went wrong."""

from __future__ import annotations


class InstrumentError(Exception):
    """Base for every failure that comes from (or on the way to) an instrument."""

    def __init__(self, instrument: str, command: str, detail: str) -> None:
        self.instrument = instrument
        self.command = command
        self.detail = detail
        super().__init__(f"{instrument}: {command!r}: {detail}")


class ScpiError(InstrumentError):
    """The instrument's error queue reported an error after a command."""

    def __init__(self, instrument: str, command: str, code: int, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(instrument, command, f"SCPI error {code}, {message!r}")


class InstrumentTimeout(InstrumentError):
    """No reply within the configured timeout."""


class InstrumentCommunicationError(InstrumentError):
    """The transport failed (connection reset, garbage or truncated reply)."""


class WrongInstrumentError(InstrumentError):
    """`*IDN?` names a model this driver does not drive."""


class OverRangeError(InstrumentError):
    """A single-value reading was over range (SCPI 9.9E37)."""
