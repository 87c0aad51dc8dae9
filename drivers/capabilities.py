"""Capability interfaces that procedures depend on.

Procedures talk to *a* power meter, *a* light source and *an* optical switch;
every concrete driver in this package satisfies one of these protocols. Keeping
the procedures vendor-neutral is what lets a lab mix models on one bench.
"""

from __future__ import annotations

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
