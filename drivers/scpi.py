"""A small SCPI base over a PyVISA message-based resource.

Every driver is a thin declarative layer over `ScpiInstrument`: it says which
models it accepts and which strings it sends. The base owns the things that
must be the same everywhere: timeouts mapped to typed errors, `*IDN?` parsing,
draining `SYST:ERR?` after configuration, and the SCPI over-range sentinel.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from drivers.capabilities import InstrumentIdentity
from drivers.errors import (
    InstrumentCommunicationError,
    InstrumentTimeout,
    ScpiError,
    WrongInstrumentError,
)

# SCPI-99 reports "not a number / over range" as 9.9E37; instruments differ in
# the last digits, so anything above this threshold is treated as over range.
OVER_RANGE_THRESHOLD = 1e37
# The 816x family reports out-of-range readings as values above 1e20.
OVER_RANGE_THRESHOLD_816X = 1e20

_ERROR_REPLY = re.compile(r"^\s*([+-]?\d+)\s*,\s*\"?(.*?)\"?\s*$")
_MAX_ERRORS_DRAINED = 32  # deeper than any queue we drive (N774x: 30)


def parse_identity(reply: str, address: str = "") -> InstrumentIdentity:
    """Split an `*IDN?` reply into maker, model, serial and firmware."""
    fields = [part.strip() for part in reply.strip().split(",")]
    fields += [""] * (4 - len(fields))
    manufacturer, model, serial_number = fields[0], fields[1], fields[2]
    firmware = ",".join(fields[3:]).strip(",")
    return InstrumentIdentity(manufacturer, model, serial_number, firmware, address)


def parse_error(reply: str) -> tuple[int, str]:
    """`+0,"No error"` → (0, "No error"); tolerant of missing quotes and spaces."""
    match = _ERROR_REPLY.match(reply)
    if match is None:
        raise ValueError(f"not a SCPI error reply: {reply!r}")
    return int(match.group(1)), match.group(2)


def is_over_range(value: float, threshold: float = OVER_RANGE_THRESHOLD) -> bool:
    return not np.isfinite(value) or abs(value) >= threshold


class ScpiInstrument:
    """Base for SCPI instruments reached through a PyVISA message-based resource."""

    #: Model names (as in `*IDN?`) this driver accepts; empty accepts any.
    models: tuple[str, ...] = ()
    #: Query that drains one entry of the error queue.
    error_query: str = "SYST:ERR?"
    #: Termination the instrument uses; socket instruments need it set explicitly.
    read_termination: str = "\n"
    write_termination: str = "\n"

    def __init__(self, resource: Any, *, name: str = "", timeout_s: float = 5.0,
                 check_identity: bool = True) -> None:
        self.resource = resource
        self.name = name or getattr(resource, "resource_name", type(self).__name__)
        self._configure_resource(timeout_s)
        self.identity = self._read_identity() if check_identity else InstrumentIdentity(
            "", "", "", "", self.name)
        if check_identity and self.models and self.identity.model not in self.models:
            raise WrongInstrumentError(
                self.name, "*IDN?",
                f"reports model {self.identity.model!r}, but this driver ({type(self).__name__}) drives "
                f"{', '.join(self.models)}; check the station config's model/address for this instrument")

    def _configure_resource(self, timeout_s: float) -> None:
        # Real sockets and serial ports need explicit terminations; fakes used in
        # protocol tests may not have these attributes, which is fine.
        for attribute, value in (("read_termination", self.read_termination),
                                 ("write_termination", self.write_termination),
                                 ("timeout", int(timeout_s * 1000))):
            try:
                setattr(self.resource, attribute, value)
            except AttributeError:
                pass

    # -- transport ---------------------------------------------------------
    def write(self, command: str) -> None:
        try:
            self.resource.write(command)
        except Exception as error:  # noqa: BLE001 - translated to a typed error
            raise self._translate(command, error) from error

    def query(self, command: str) -> str:
        try:
            return self.resource.query(command).strip()
        except Exception as error:  # noqa: BLE001
            raise self._translate(command, error) from error

    def query_binary_values(self, command: str, datatype: str = "f",
                            is_big_endian: bool = False) -> np.ndarray:
        try:
            values = self.resource.query_binary_values(
                command, datatype=datatype, is_big_endian=is_big_endian, container=np.array)
        except Exception as error:  # noqa: BLE001
            raise self._translate(command, error) from error
        return np.asarray(values, dtype=np.float64)

    def query_float(self, command: str) -> float:
        reply = self.query(command)
        try:
            return float(reply)
        except ValueError as error:
            raise InstrumentCommunicationError(
                self.name, command, f"expected a number, got {reply!r}") from error

    def _translate(self, command: str, error: Exception) -> Exception:
        text = f"{type(error).__name__}: {error}"
        if "timeout" in text.lower() or "VI_ERROR_TMO" in text:
            return InstrumentTimeout(self.name, command, f"no reply before the timeout ({text})")
        return InstrumentCommunicationError(self.name, command, text)

    # -- identity and error queue -------------------------------------------
    def _read_identity(self) -> InstrumentIdentity:
        reply = self.query("*IDN?")
        if reply.count(",") < 2:
            raise InstrumentCommunicationError(self.name, "*IDN?", f"malformed identity {reply!r}")
        return parse_identity(reply, self.name)

    def drain_errors(self) -> list[tuple[int, str]]:
        """Read the error queue until it reports no error; return what was in it."""
        errors: list[tuple[int, str]] = []
        for _ in range(_MAX_ERRORS_DRAINED):
            reply = self.query(self.error_query)
            try:
                code, message = parse_error(reply)
            except ValueError as error:
                raise InstrumentCommunicationError(self.name, self.error_query, str(error)) from error
            if code == 0:
                return errors
            errors.append((code, message))
        return errors

    def check_errors(self, command: str) -> None:
        """Raise a ScpiError naming `command` if the queue holds anything."""
        errors = self.drain_errors()
        if errors:
            code, message = errors[0]
            raise ScpiError(self.name, command, code, message)

    def send_configuration(self, commands: Iterable[str]) -> None:
        """Send configuration commands, checking the error queue after each step."""
        for command in commands:
            self.write(command)
            self.check_errors(command)

    def identities(self) -> list[InstrumentIdentity]:
        return [self.identity]

    def close(self) -> None:
        try:
            self.resource.close()
        except Exception:  # noqa: BLE001 - closing a dead link must not mask the real error
            pass
