"""Capability interfaces that procedures depend on.

Procedures talk to *a* power meter, *a* light source and *an* optical switch;
every concrete driver in this package satisfies one of these protocols. Keeping
the procedures vendor-neutral is what lets a lab mix models on one bench.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class InstrumentIdentity:
    """What `*IDN?` (or the model's equivalent) says about an instrument."""

    manufacturer: str
    model: str
    serial_number: str
    firmware: str
    address: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "manufacturer": self.manufacturer,
            "model": self.model,
            "serial_number": self.serial_number,
            "firmware": self.firmware,
            "address": self.address,
        }


@dataclass(frozen=True)
class PowerReadings:
    """One simultaneous reading of several receive channels.

    `power_w` holds optical power in watts; entries the instrument flagged as
    over range are NaN in `power_w` and True in `over_range`, so that an
    overload can never be mistaken for a number.
    """

    power_w: np.ndarray
    over_range: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        if self.over_range.shape != self.power_w.shape:
            object.__setattr__(self, "over_range", np.zeros(self.power_w.shape, dtype=bool))

    @property
    def power_dbm(self) -> np.ndarray:
        return watts_to_dbm(self.power_w)


def watts_to_dbm(power_w: np.ndarray | float) -> np.ndarray:
    """10·log10(P / 1 mW); P ≤ 0 W is below the floor and becomes NaN, never a number."""
    power = np.asarray(power_w, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        power_dbm = 10.0 * np.log10(power / 1e-3)
    return np.where(power > 0, power_dbm, np.nan)


@runtime_checkable
class PowerMeter(Protocol):
    """A meter (or group of meters) reading all its receive channels at once."""

    @property
    def channel_count(self) -> int: ...

    def identities(self) -> list[InstrumentIdentity]: ...

    def configure(self, wavelength_nm: float, averaging_time_s: float) -> None: ...

    def read_all(self) -> PowerReadings: ...


@runtime_checkable
class LightSource(Protocol):
    """A laser or LED source with selectable wavelength."""

    @property
    def wavelengths_nm(self) -> tuple[float, ...]: ...

    def identities(self) -> list[InstrumentIdentity]: ...

    def set_wavelength(self, wavelength_nm: float) -> None: ...

    def set_output(self, enabled: bool) -> None: ...


@runtime_checkable
class OpticalSwitch(Protocol):
    """A 1×N switch routing the source to one launch position."""

    @property
    def port_count(self) -> int: ...

    def identities(self) -> list[InstrumentIdentity]: ...

    def select(self, launch_position: int) -> None: ...


# -- capabilities beyond read/configure/select: what the procedures may use where a driver has it.
# Checked with `isinstance` (runtime-checkable protocols): a procedure never probes a driver
# for a method by name, and never reads a driver's private state.


@runtime_checkable
class TriggeredMeter(Protocol):
    """A meter that starts a reading (`trigger`) and returns it (`fetch`) in two steps, so
    that work in between overlaps the integration."""

    @property
    def channel_count(self) -> int: ...

    def identities(self) -> list[InstrumentIdentity]: ...

    def configure(self, wavelength_nm: float, averaging_time_s: float) -> None: ...

    def trigger(self) -> None: ...

    def fetch(self) -> PowerReadings: ...


@runtime_checkable
class SplitFetchMeter(Protocol):
    """A meter whose fetch query can be sent now (`begin_fetch`, True if it was) and its reply
    read later (`end_fetch`): several meters' replies then travel at the same time.
    `trigger_next` asks a meter that `queues_triggers` to send the next trigger behind the query."""

    def begin_fetch(self, *, trigger_next: bool = False) -> bool: ...

    def end_fetch(self) -> PowerReadings: ...


@runtime_checkable
class PipelinedMeter(Protocol):
    """A (group of) meter(s) whose fetch is sent (`request`) and read (`collect`) apart;
    `reply_owed` is True between the two. `request(trigger_next=True)` on meters that
    `queues_triggers` also starts the next reading behind the fetch (see `QueuedTriggers`)."""

    def request(self, *, trigger_next: bool = False) -> None: ...

    def collect(self) -> PowerReadings: ...

    @property
    def reply_owed(self) -> bool: ...


@runtime_checkable
class QueuedTriggers(Protocol):
    """A meter that takes a trigger while a fetch reply is still owed (`queues_triggers`), and
    says whether the trigger it was given is still armed (a reconnect loses it). Such a meter's
    `request(trigger_next=True)` sends the next trigger in the same message as the fetch query:
    sent on its own behind an unanswered query, TCP's Nagle algorithm would hold it until the
    reply arrived."""

    @property
    def queues_triggers(self) -> bool: ...

    @property
    def trigger_armed(self) -> bool: ...


@runtime_checkable
class SelectiveMeter(Protocol):
    """A meter group that can leave out the meters carrying none of the channels in use."""

    def read_only(self, channels: Iterable[int] | None) -> None: ...


@runtime_checkable
class SplitMove(Protocol):
    """A switch whose move is sent now (`begin_select`) and confirmed later (`end_select`)."""

    def begin_select(self, launch_position: int) -> None: ...

    def end_select(self) -> None: ...

    @property
    def move_under_way(self) -> int | None: ...


@runtime_checkable
class HasErrorQueue(Protocol):
    """An instrument with an error queue: drained after a cable, or asked ahead of reading
    (`request_errors` True if it sent the query; `collect_errors` reads the reply)."""

    name: str

    @property
    def has_error_queue(self) -> bool: ...

    def drain_errors(self) -> list[tuple[int, str]]: ...

    def request_errors(self) -> bool: ...

    def collect_errors(self) -> list[tuple[int, str]]: ...


@runtime_checkable
class Linked(Protocol):
    """An instrument (or group) that says which VISA resources it talks through; empty when
    unknown. Instruments sharing one are commanded one after the other."""

    @property
    def links(self) -> frozenset[str]: ...


@runtime_checkable
class OutputStateSource(Protocol):
    """A source that reports whether its output is on."""

    def output_enabled(self) -> bool: ...
